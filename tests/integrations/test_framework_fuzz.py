"""Any body or header an attacker or a broken template can send maps to records or to a typed
rejection, never to another exception (which the endpoint would turn into a 500)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from integrations.base import MalformedPayload, WebhookRejected
from integrations.freshdesk import webhooks as freshdesk
from integrations.types import WebhookEvent
from integrations.zendesk import webhooks as zendesk

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
# Objects shaped like the real bodies, with any value in any field.
shaped = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            [
                "zen:event-type:ticket.created",
                "zen:event-type:ticket.comment_added",
                "zen:event-type:ticket.status_changed",
                "zen:event-type:user.created",
            ]
        )
        | json_values,
        "hub_event": st.sampled_from(["ticket.created", "contact.updated"]) | json_values,
        "subject": st.sampled_from(["zen:ticket:48213", "zen:ticket:"]) | json_values,
        "time": st.sampled_from(["2025-03-10T07:42:11Z", "not a time"]) | json_values,
        "ticket": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "detail": st.fixed_dictionaries({}, optional={"id": json_values}) | json_values,
        "event": st.fixed_dictionaries(
            {}, optional={"comment": json_values, "current": json_values}
        )
        | json_values,
        "freshdesk_webhook": st.fixed_dictionaries({}, optional={"ticket_id": json_values})
        | json_values,
    },
)
bodies = (
    st.binary(max_size=200)
    | json_values.map(lambda value: json.dumps(value).encode())
    | shaped.map(lambda value: json.dumps(value).encode())
)
PARSERS = (zendesk.parse_body, freshdesk.parse_body)


@settings(max_examples=150, deadline=None)
@given(body=bodies)
def test_parsers_return_event_or_malformed(body: bytes) -> None:
    for parse in PARSERS:
        try:
            event = parse(body)
        except MalformedPayload:
            continue
        assert isinstance(event, WebhookEvent)
        assert event.ignored or event.records


header_values = st.text(max_size=60)


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(max_size=100),
    signature=header_values,
    timestamp=header_values,
    authorization=header_values,
    token=header_values,
)
def test_checks_reject_with_reason(
    body: bytes, signature: str, timestamp: str, authorization: str, token: str
) -> None:
    headers = CaseInsensitiveDict(
        {
            "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            "Authorization": authorization,
            "X-Hub-Webhook-Token": token,
        }
    )
    now = datetime(2025, 3, 10, 7, 42, 13, tzinfo=UTC)
    checks = [
        lambda: zendesk.verify_signature(
            body, headers, secret="s", now=now, tolerance=timedelta(minutes=5)
        ),
        lambda: freshdesk.verify_credentials(headers, username="u", password="p", token="t"),
    ]
    for check in checks:
        try:
            check()
        except WebhookRejected as rejection:
            assert rejection.status == 401
            assert rejection.reason
