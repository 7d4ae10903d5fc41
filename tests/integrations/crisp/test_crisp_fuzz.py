"""Any Crisp hook body, however mangled, either maps to records or is rejected as malformed."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.base import MalformedPayload
from integrations.crisp import mapping as crisp_mapping
from integrations.crisp import webhooks as crisp_webhooks
from tests.integrations.crisp.helpers import raw as crisp_raw
from tests.integrations.intercom.test_intercom_fuzz import mutated

CRISP_BODIES = [
    "webhook_message_send_new_conversation.json",
    "webhook_message_received_operator_reply.json",
    "webhook_session_set_email.json",
    "webhook_session_set_state_resolved.json",
    "webhook_session_removed.json",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_crisp_mapping_never_crashes(data: st.DataObject) -> None:
    body = mutated(data, crisp_raw(data.draw(st.sampled_from(CRISP_BODIES))))
    with contextlib.suppress(MalformedPayload):
        crisp_mapping.hook_event(crisp_webhooks.load_body(body))
