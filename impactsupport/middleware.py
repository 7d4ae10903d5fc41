"""Request-scoped middleware: request ids for logs, and the help centre's own host."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdFilter(logging.Filter):
    """Adds the current request id (or "-") to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    """Takes X-Request-ID from a trusted proxy or makes one, and echoes it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class HelpCentreHostMiddleware:
    """Serves the help centre at the root of its own host (HELP_CENTRE_HOST)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.host = settings.HELP_CENTRE_HOST.lower()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.host and request.get_host().split(":")[0].lower() == self.host:
            request.urlconf = settings.HELP_CENTRE_URLCONF  # type: ignore[attr-defined]
        return self.get_response(request)
