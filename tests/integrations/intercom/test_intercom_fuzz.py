"""Any Intercom body, however mangled, either maps to records or is rejected as malformed.

The mutation helpers are shared with the Crisp fuzz test.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.base import MalformedPayload
from integrations.intercom import mapping as intercom_mapping
from integrations.intercom import webhooks as intercom_webhooks
from tests.integrations.intercom.helpers import raw as intercom_raw

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
INTERCOM_BODIES = [
    "webhook_conversation_user_created.json",
    "webhook_conversation_user_replied.json",
    "webhook_conversation_admin_replied.json",
    "webhook_conversation_admin_closed.json",
]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def replaced(document: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy = list(document) if isinstance(document, list) else dict(document)
    copy[head] = replaced(document[head], rest, new)
    return copy


def mutated(data: st.DataObject, body: bytes) -> bytes:
    document = json.loads(body)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(document)))
        document = replaced(document, path, data.draw(JSON_VALUES))
    return json.dumps(document).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_intercom_mapping_never_crashes(data: st.DataObject) -> None:
    body = mutated(data, intercom_raw(data.draw(st.sampled_from(INTERCOM_BODIES))))
    with contextlib.suppress(MalformedPayload):
        intercom_mapping.notification_event(intercom_webhooks.load_envelope(body))
