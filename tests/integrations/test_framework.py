"""The integration framework: records, registry, the webhook endpoint's checks, polling
bookkeeping, the commands and the demo."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations import registry, webhooks
from integrations.category_hints import category_hints, tag_categories
from integrations.inbound import process_item
from integrations.models import Connection, ExternalTicket, InboundItem
from integrations.sync import sync_connection
from integrations.types import (
    AttachmentRecord,
    CommentRecord,
    ContactRecord,
    Person,
    StatusRecord,
    TicketRecord,
    TicketRef,
    record_from_dict,
    record_to_dict,
)
from integrations.webhooks import RepeatLimiter
from tests.integrations.zendesk import helpers as zendesk
from tickets.models import Category, Status, Ticket

AT = datetime(2025, 3, 10, 7, 42, 11, tzinfo=UTC)


# ---------------------------------------------------------------- records


def test_records_survive_json_round_trip() -> None:
    comment = CommentRecord(
        ticket_id="7",
        external_id="70",
        author=Person("3", "Thandi", "thandi@example.org", "customer"),
        created_at=AT,
        body_text="Hello",
        attachments=(AttachmentRecord("a.pdf", "application/pdf", 4, "https://x/a", b"%PDF"),),
    )
    records = [
        TicketRecord(
            external_id="7",
            subject="Refund",
            requester=comment.author,
            created_at=AT,
            updated_at=AT + timedelta(hours=1),
            status=Status.OPEN,
            tags=("payments",),
            category_hints=("category:payment_issues",),
            assignee=Person("9", "Pieter", "p@example.org", "agent"),
            comments=(comment,),
        ),
        comment,
        StatusRecord("7", Status.SOLVED, AT),
        ContactRecord("7", Person("3", email="thandi@example.org")),
        TicketRef("7", reason="nudge"),
    ]

    for record in records:
        stored = json.loads(json.dumps(record_to_dict(record)))
        assert record_from_dict(stored) == record


def test_unknown_record_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown record type"):
        record_from_dict({"type": "invoice"})


# ---------------------------------------------------------------- registry and hints


def test_registry_builds_listed_adapters(db: None) -> None:
    connection = Connection(name="z", provider="zendesk")

    adapter = registry.adapter_for(connection)

    assert adapter.provider == "zendesk"
    assert adapter.connection is connection
    assert {"zendesk", "freshdesk"} <= set(registry.available_providers())


def test_registry_rejects_unknown_provider() -> None:
    with pytest.raises(registry.UnknownProvider):
        registry.adapter_class("helpscout")


def test_registry_rejects_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.ADAPTERS, "nowhere", "integrations.nowhere.adapter.NowhereAdapter")

    with pytest.raises(registry.UnknownProvider, match="not available"):
        registry.adapter_class("nowhere")


def test_tag_hints_mapped_first() -> None:
    hints = category_hints(
        tags=["vip", "Payments"], fields=[("cf_charity", "Thusong"), ("empty", None)]
    )

    assert hints == (
        "category:payment_issues",
        "tag:vip",
        "tag:Payments",
        "field:cf_charity=Thusong",
    )


def test_tag_table_overrides_and_skips_invalid(caplog) -> None:
    table = tag_categories({"tag_categories": {"vip_refund": "payment_issues", "x": "nonsense"}})

    assert table["vip_refund"] == Category.PAYMENT
    assert "x" not in table
    assert "nonsense" in caplog.text


# ---------------------------------------------------------------- the webhook endpoint


@pytest.fixture
def desk(db: None, httpserver: HTTPServer) -> Connection:
    return Connection.objects.create(
        name="desk",
        provider="zendesk",
        config={"base_url": httpserver.url_for("/").rstrip("/")},
        credentials={"email": "a@b.org", "api_token": "t", "signing_secret": zendesk.SECRET},
    )


def post(client: Client, path: str, delivery) -> object:
    return client.post(
        path,
        data=delivery.body,
        content_type="application/json",
        headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
    )


def test_unknown_token_answers_404(client: Client, desk: Connection) -> None:
    delivery = zendesk.signed(zendesk.raw("webhook_trigger_ticket_created.json"))

    response = post(client, "/hooks/zendesk/not-a-token", delivery)

    assert response.status_code == 404


def test_token_of_other_provider_answers_404(client: Client, desk: Connection) -> None:
    delivery = zendesk.signed(zendesk.raw("webhook_trigger_ticket_created.json"))

    response = post(client, f"/hooks/freshdesk/{desk.webhook_token}", delivery)

    assert response.status_code == 404


def test_disabled_connection_answers_404(client: Client, desk: Connection) -> None:
    desk.enabled = False
    desk.save()
    delivery = zendesk.signed(zendesk.raw("webhook_trigger_ticket_created.json"))

    response = post(client, desk.webhook_path, delivery)

    assert response.status_code == 404
    assert not InboundItem.objects.exists()


def test_size_checked_before_signature(client: Client, desk: Connection, settings) -> None:
    settings.WEBHOOK_MAX_BYTES = 100
    forged = zendesk.signed(b'{"ticket": {"id": 1}, "pad": "' + b"x" * 200 + b'"}', secret="wrong")

    response = post(client, desk.webhook_path, forged)

    assert response.status_code == 413
    assert not InboundItem.objects.exists()


def test_body_at_limit_is_accepted(client: Client, desk: Connection, settings) -> None:
    body = zendesk.raw("webhook_trigger_ticket_created.json")
    settings.WEBHOOK_MAX_BYTES = len(body)

    response = post(client, desk.webhook_path, zendesk.signed(body))

    assert response.status_code == 202


def test_get_answers_405_and_head_200(client: Client, desk: Connection) -> None:
    assert client.get(desk.webhook_path).status_code == 405
    assert client.head(desk.webhook_path).status_code == 200
    assert client.head("/hooks/zendesk/unknown").status_code == 404


def test_malformed_signed_body_answers_400(client: Client, desk: Connection) -> None:
    response = post(client, desk.webhook_path, zendesk.signed(b'{"say": "hello"}'))

    assert response.status_code == 400
    assert response.json() == {"error": "malformed_body"}
    assert not InboundItem.objects.exists()


def test_rejections_log_once_per_minute(
    client: Client, desk: Connection, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "rejections", RepeatLimiter(interval=60))
    caplog.set_level(logging.WARNING, logger="integrations.webhooks")
    forged = zendesk.signed(zendesk.raw("webhook_trigger_ticket_created.json"), secret="wrong")

    for _ in range(3):
        assert post(client, desk.webhook_path, forged).status_code == 401

    lines = [r.getMessage() for r in caplog.records if "webhook rejected" in r.getMessage()]
    assert len(lines) == 1
    assert "connection=desk" in lines[0]
    assert "reason=bad_signature" in lines[0]
    desk.refresh_from_db()
    assert desk.webhook_rejection == "401 bad_signature"
    assert desk.webhook_rejected_at is not None


def test_repeat_limiter_counts_suppressed() -> None:
    now = [0.0]
    limiter = RepeatLimiter(interval=60, clock=lambda: now[0])

    assert limiter.admit(("a",)) == 0
    assert limiter.admit(("a",)) is None
    assert limiter.admit(("b",)) == 0
    now[0] = 61
    assert limiter.admit(("a",)) == 1


def test_provider_outage_retries_delivery_later(
    client: Client, desk: Connection, httpserver: HTTPServer, django_capture_on_commit_callbacks
) -> None:
    httpserver.expect_request("/api/v2/tickets/48213.json").respond_with_response(
        Response("down", status=503, headers={"Retry-After": "600"})
    )
    delivery = zendesk.signed(zendesk.raw("webhook_trigger_ticket_created.json"))
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, desk.webhook_path, delivery).status_code == 202
    item = InboundItem.objects.get()
    assert item.state == InboundItem.State.FAILED
    assert item.next_attempt_at is not None
    httpserver.clear_all_handlers()
    zendesk.serve_scenario(httpserver, "created")

    process_item(item.pk)

    item.refresh_from_db()
    assert item.state == InboundItem.State.DONE
    assert Ticket.objects.get(external_id="48213").messages.count() == 1


def test_corrupt_record_fails_for_good(desk: Connection) -> None:
    item = InboundItem.objects.create(
        kind="record", provider="zendesk", connection=desk, idempotency_key="r1", payload=b"{oops"
    )

    process_item(item.pk)

    item.refresh_from_db()
    assert item.state == InboundItem.State.FAILED
    assert item.next_attempt_at is None


# ---------------------------------------------------------------- polling bookkeeping


def test_poll_skips_connection_holding_lease(desk: Connection, httpserver: HTTPServer) -> None:
    desk.sync_lease_until = timezone.now() + timedelta(minutes=5)
    desk.save()

    report = sync_connection(desk)

    assert report.busy
    assert httpserver.log == []


def test_expired_lease_is_taken_over(desk: Connection, httpserver: HTTPServer) -> None:
    desk.sync_lease_until = timezone.now() - timedelta(minutes=1)
    desk.save()
    httpserver.expect_request(zendesk.CHANGES_PATH).respond_with_json(
        {"tickets": [], "after_cursor": "c1", "end_of_stream": True}
    )

    report = sync_connection(desk)

    assert not report.busy
    assert report.done
    desk.refresh_from_db()
    assert desk.sync_lease_until is None
    assert desk.cursor == {"after_cursor": "c1"}


def test_missing_credentials_recorded_as_error(db: None) -> None:
    connection = Connection.objects.create(
        name="bare", provider="zendesk", config={"subdomain": "x"}
    )

    report = sync_connection(connection)

    assert "'email'" in report.error
    connection.refresh_from_db()
    assert "'email'" in connection.last_error
    assert connection.last_error_at is not None


# ---------------------------------------------------------------- commands


def test_sync_provider_prints_progress(desk: Connection, httpserver: HTTPServer) -> None:
    zendesk.serve_export(httpserver)
    out = io.StringIO()

    call_command("sync_provider", "desk", "--since", "2025-03-10", stdout=out)

    text = out.getvalue()
    assert "Polling desk (zendesk) from 2025-03-10T00:00:00+02:00" in text
    assert "page 1:" in text
    assert "page 2:" in text
    assert "up to date" in text
    assert Ticket.objects.filter(source="zendesk").count() == 3


def test_sync_provider_accepts_provider_name(desk: Connection, httpserver: HTTPServer) -> None:
    httpserver.expect_request(zendesk.CHANGES_PATH).respond_with_json(
        {"tickets": [], "after_cursor": "c", "end_of_stream": True}
    )
    out = io.StringIO()

    call_command("sync_provider", "zendesk", stdout=out)

    assert "from the saved cursor" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nothing"], "No connection or provider is named 'nothing'"),
        (["desk", "--since", "last tuesday"], "--since 'last tuesday' is invalid"),
    ],
)
def test_sync_provider_errors(desk: Connection, arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("sync_provider", *arguments, stdout=io.StringIO())


def test_sync_provider_refuses_disabled(desk: Connection) -> None:
    desk.enabled = False
    desk.save()

    with pytest.raises(CommandError, match="disabled"):
        call_command("sync_provider", "desk", stdout=io.StringIO())


def test_sync_provider_reports_provider_error(desk: Connection, httpserver: HTTPServer) -> None:
    httpserver.expect_request(zendesk.CHANGES_PATH).respond_with_response(
        Response("no", status=403)
    )

    with pytest.raises(CommandError, match="403"):
        call_command("sync_provider", "desk", stdout=io.StringIO())


def test_demo_desks_loads_offline_once(db: None) -> None:
    out = io.StringIO()

    call_command("demo_desks", stdout=out)
    call_command("demo_desks", stdout=out)

    zendesk_ids = set(Ticket.objects.filter(source="zendesk").values_list("external_id", flat=True))
    freshdesk_ids = set(
        Ticket.objects.filter(source="freshdesk").values_list("external_id", flat=True)
    )
    assert zendesk_ids == {"48207", "48213", "48219"}
    assert freshdesk_ids == {"3068", "3071", "3075"}
    assert "already loaded" in out.getvalue()
    assert not Connection.objects.filter(name__startswith="demo-", enabled=True).exists()
    newest = Ticket.objects.order_by("-last_message_at").first()
    assert timezone.now() - newest.last_message_at < timedelta(hours=2)
    assert ExternalTicket.objects.get(external_id="48190").deleted
    assert Ticket.objects.get(external_id="48213").messages.filter(is_public=False).count() == 1


def test_admin_shows_webhook_url_not_secrets(
    admin_client: Client, desk: Connection, settings
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    response = admin_client.get(f"/admin/integrations/connection/{desk.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert desk.webhook_path in page
    assert zendesk.SECRET not in page
    assert "signing_secret" in page
