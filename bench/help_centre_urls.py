"""The hub's URLs plus /bench/minimal, the smallest Django view, as the baseline."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from impactsupport.urls import urlpatterns as hub_urlpatterns


def minimal(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/minimal", minimal), *hub_urlpatterns]
