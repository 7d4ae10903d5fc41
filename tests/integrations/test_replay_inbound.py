from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.inbound import store_item
from integrations.models import InboundItem

pytestmark = pytest.mark.django_db

MAIL = (
    b"From: Zanele <zanele@example.org>\r\nSubject: Receipt\r\n"
    b"Message-ID: <r1@example.org>\r\n\r\nHi\r\n"
)


def test_replay_processes_failed_item() -> None:
    item, _ = store_item(kind="mail", idempotency_key="replay:1", payload=MAIL, enqueue=False)
    InboundItem.objects.filter(pk=item.pk).update(state=InboundItem.State.FAILED)
    output = io.StringIO()

    call_command("replay_inbound", stdout=output)

    item.refresh_from_db()
    assert item.state == InboundItem.State.DONE
    assert "1 done" in output.getvalue()


def test_replay_unknown_id_is_error() -> None:
    with pytest.raises(CommandError, match="not found: 999999"):
        call_command("replay_inbound", "--id", "999999")


def test_replay_fails_when_item_fails_again() -> None:
    item, _ = store_item(kind="mail", idempotency_key="replay:2", payload=b"", enqueue=False)
    InboundItem.objects.filter(pk=item.pk).update(state=InboundItem.State.FAILED)

    with pytest.raises(CommandError, match="1 item"):
        call_command("replay_inbound", stdout=io.StringIO())


def test_admin_cannot_delete_stored_items(admin_client) -> None:  # type: ignore[no-untyped-def]
    item, _ = store_item(kind="mail", idempotency_key="replay:3", payload=MAIL, enqueue=False)

    response = admin_client.get(f"/admin/integrations/inbounditem/{item.pk}/delete/")

    assert response.status_code == 403


def test_connection_config_must_be_object() -> None:
    from integrations.admin import ConnectionForm

    form = ConnectionForm(
        data={"name": "desk", "provider": "zendesk", "enabled": "on", "config": "[]"}
    )

    assert not form.is_valid()
    assert "JSON object" in str(form.errors["config"])
