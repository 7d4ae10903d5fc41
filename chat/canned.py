"""Canned responses: placeholder checks, rendering with a ticket's data, usage counting.

Bodies use str.format syntax with named fields only, e.g. "Hi {first_name}". A placeholder
that is not in PLACEHOLDERS is a validation error for the editor, so a customer never gets a
blank or a raw brace.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from chat.models import CannedResponse
from tickets.models import Category, Ticket

PLACEHOLDERS: dict[str, str] = {
    "first_name": "Customer's first name, or 'there' when it is unknown",
    "customer_name": "Customer's full name, or 'there' when it is unknown",
    "customer_email": "Customer's e-mail address",
    "ticket_reference": "Ticket reference, e.g. IL-1042",
    "ticket_subject": "Ticket subject",
    "category": "Ticket category, e.g. Payment Issues",
    "agent_name": "Full name of the agent sending the response",
    "agent_first_name": "First name of the agent sending the response",
    "support_email": "The help@ address",
}

# Values used for the preview in admin when no ticket is chosen.
SAMPLE_VALUES: dict[str, str] = {
    "first_name": "Thandiwe",
    "customer_name": "Thandiwe Mokoena",
    "customer_email": "thandiwe.mokoena@example.com",
    "ticket_reference": "IL-1042",
    "ticket_subject": "Debit order ran twice",
    "category": Category.PAYMENT.label,
    "agent_name": "Pieter van der Merwe",
    "agent_first_name": "Pieter",
    "support_email": "help@impactlink.org",
}

_FALLBACK_NAME = "there"


def placeholder_errors(body: str) -> list[str]:
    """Return what is wrong with the body's placeholders, one message per problem."""
    try:
        parts = list(string.Formatter().parse(body))
    except ValueError as exc:
        return [f"The braces do not match ({exc}); write {{{{ and }}}} for a literal brace."]

    errors: list[str] = []
    for _, field, format_spec, conversion in parts:
        if field is None:
            continue
        if field == "" or field.isdigit():
            errors.append("Placeholders need a name, e.g. {first_name}; {} is not allowed.")
        elif field not in PLACEHOLDERS:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            errors.append(f"Unknown placeholder {{{field}}}. Known placeholders: {known}.")
        if conversion or format_spec:
            written = (
                field
                + (f"!{conversion}" if conversion else "")
                + (f":{format_spec}" if format_spec else "")
            )
            errors.append(
                f"Placeholder {{{written}}} has a conversion or format; write {{{field}}} only."
            )
    return errors


def validate_body(body: str) -> None:
    errors = placeholder_errors(body)
    if errors:
        raise ValidationError(errors)


def render_body(body: str, values: dict[str, str]) -> str:
    """Fill the placeholders; raise ValidationError for a body that fails the checks."""
    validate_body(body)
    return body.format_map(values)


def placeholder_values(*, ticket: Ticket, agent: AbstractBaseUser | None) -> dict[str, str]:
    """Return the placeholder values for one ticket and the agent who sends the response."""
    contact = ticket.contact
    customer_name = (contact.name if contact else "").strip()
    agent_full = ""
    agent_first = ""
    if agent is not None:
        agent_full = (agent.get_full_name() or agent.get_username()).strip()  # type: ignore[attr-defined]
        agent_first = (getattr(agent, "first_name", "") or agent_full.split(" ")[0]).strip()
    return {
        "first_name": customer_name.split(" ")[0] if customer_name else _FALLBACK_NAME,
        "customer_name": customer_name or _FALLBACK_NAME,
        "customer_email": contact.email if contact else "",
        "ticket_reference": ticket.reference,
        "ticket_subject": ticket.subject,
        "category": ticket.get_category_display(),
        "agent_name": agent_full or "the ImpactLink support team",
        "agent_first_name": agent_first or "ImpactLink support",
        "support_email": settings.SUPPORT_ADDRESS,
    }


@dataclass(frozen=True)
class RenderedResponse:
    response_id: int
    shortcut: str
    text: str


def use_canned_response(
    *, response: CannedResponse, ticket: Ticket, agent: AbstractBaseUser | None
) -> RenderedResponse:
    """Render a canned response for a ticket and count the use."""
    text = render_body(response.body, placeholder_values(ticket=ticket, agent=agent))
    CannedResponse.objects.filter(pk=response.pk).update(
        usage_count=F("usage_count") + 1, last_used_at=timezone.now()
    )
    return RenderedResponse(response.pk, response.shortcut, text)


def responses_for(*, category: str):  # type: ignore[no-untyped-def]
    """Canned responses for a ticket of `category`: that category's first, then general ones."""
    from django.db.models import Case, IntegerField, Value, When

    return (
        CannedResponse.objects.filter(category__in=[category, ""])
        .annotate(
            rank=Case(
                When(category=category, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("rank", "-usage_count", "shortcut")
    )
