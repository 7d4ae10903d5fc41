"""System checks: a broken off-hours message must stop the deploy, not reach a visitor."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_off_hours_message(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from chat.canned import placeholder_errors

    return [
        Error(
            f"CHAT_OFF_HOURS_MESSAGE is invalid: {problem}",
            hint="Fix the placeholders in the CHAT_OFF_HOURS_MESSAGE environment variable.",
            id="chat.E001",
        )
        for problem in placeholder_errors(settings.CHAT_OFF_HOURS_MESSAGE)
    ]
