"""The SLA scheduler: alerts once per ticket, kind and level; escalations; backfill; retries.

Times are SAST; 30 Nov to 4 Dec 2026 is a Monday-to-Friday week without public holidays. A
ticket opened Tuesday 1 Dec 10:00 is BH: warning 11:30, due 12:00, L2 13:00, L3 16:00 and
L4 Wednesday 11:00 (480 business minutes after the breach).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.urls import reverse
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.tickets.sla_helpers import add_message, fresh_calendar, open_ticket, sast
from tickets import services
from tickets.models import (
    EscalationLevelConfig,
    SlaNotification,
    Ticket,
    TicketEvent,
)
from tickets.notifications import MAX_ATTEMPTS
from tickets.sla_scheduler import run_sla_scheduler
from tickets.sla_sync import BACKFILL_TAG, refresh_ticket_sla

pytestmark = pytest.mark.django_db
__all__ = ["fresh_calendar"]

LEVEL_ADDRESSES = {
    1: "support-leads@impactlink.org",
    2: "oncall@impactlink.org",
    3: "devops@impactlink.org",
    4: "cto@impactlink.org",
}
MANAGER = "nomsa@impactlink.org"


@pytest.fixture(autouse=True)
def levels(django_user_model) -> dict[int, EscalationLevelConfig]:  # type: ignore[no-untyped-def]
    configs = {
        level: EscalationLevelConfig.objects.create(
            level=level, name=f"Level {level}", extra_addresses=address
        )
        for level, address in LEVEL_ADDRESSES.items()
    }
    managers = Group.objects.create(name="Support managers")
    managers.permissions.add(
        Permission.objects.get(codename="receive_sla_feed", content_type__app_label="tickets")
    )
    manager = django_user_model.objects.create(username="nomsa", email=MANAGER)
    manager.groups.add(managers)
    return configs


def sent(kind: str | None = None) -> list[tuple[str, str, int]]:
    rows = SlaNotification.objects.filter(state=SlaNotification.State.SENT)
    if kind:
        rows = rows.filter(kind=kind)
    return list(rows.values_list("ticket__subject", "kind", "level"))


def recipients_of(subject_part: str) -> list[list[str]]:
    return [message.to for message in mail.outbox if subject_part in message.subject]


def test_warning_goes_to_assignee_once(django_user_model) -> None:  # type: ignore[no-untyped-def]
    agent = django_user_model.objects.create(username="pieter", email="pieter@impactlink.org")
    ticket = open_ticket("2026-12-01 10:00")
    services.assign_ticket(ticket=ticket, assignee=agent, actor=None, reason="test")

    run_sla_scheduler(now=sast("2026-12-01 11:30"))
    assert mail.outbox == []

    report = run_sla_scheduler(now=sast("2026-12-01 11:31"))
    again = run_sla_scheduler(now=sast("2026-12-01 11:32"))

    assert report.delivery.sent == 1
    assert again.refresh.evaluated == 0
    assert again.delivery.claimed == 0
    assert recipients_of("SLA at risk") == [["pieter@impactlink.org"]]
    notification = SlaNotification.objects.get()
    assert (notification.kind, notification.level, notification.state) == ("warning", 1, "sent")
    assert notification.threshold_at == sast("2026-12-01 11:30")
    history = ticket.events.filter(kind=TicketEvent.Kind.NOTIFICATION)
    assert list(history.values_list("new_value", flat=True)) == ["warning L1"]


def test_unassigned_warning_goes_to_l1() -> None:
    open_ticket("2026-12-01 10:00")

    run_sla_scheduler(now=sast("2026-12-01 11:31"))

    assert recipients_of("SLA at risk") == [[LEVEL_ADDRESSES[1]]]


def test_walk_breach_to_l4() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    steps = [
        ("2026-12-01 11:31", "warning", 1, 1),
        ("2026-12-01 12:01", "breach", 1, 1),
        ("2026-12-01 13:01", "escalation", 2, 2),
        ("2026-12-01 16:01", "escalation", 3, 3),
        ("2026-12-02 11:01", "escalation", 4, 4),
    ]
    for now, kind, level, ticket_level in steps:
        report = run_sla_scheduler(now=sast(now))
        ticket.refresh_from_db()
        assert report.delivery.sent == 1, now
        assert sent()[-1] == (ticket.subject, kind, level), now
        assert ticket.escalation_level == ticket_level, now

    assert recipients_of("SLA breached") == [[LEVEL_ADDRESSES[1], MANAGER]]
    assert recipients_of("SLA escalation to L2") == [[LEVEL_ADDRESSES[2]]]
    assert recipients_of("SLA escalation to L4") == [[LEVEL_ADDRESSES[4]]]
    assert ticket.sla_next_check_at is None
    moves = ticket.events.filter(kind=TicketEvent.Kind.ESCALATION)
    assert list(moves.values_list("old_value", "new_value")) == [
        ("L1", "L2"),
        ("L2", "L3"),
        ("L3", "L4"),
    ]
    assert moves.first().occurred_at == sast("2026-12-01 13:00")  # type: ignore[union-attr]


def test_thresholds_wait_strictly_after() -> None:
    open_ticket("2026-12-01 10:00")

    run_sla_scheduler(now=sast("2026-12-01 11:30"))
    run_sla_scheduler(now=sast("2026-12-01 12:00"))

    assert [kind for _, kind, _ in sent()] == ["warning"]


def test_rerun_at_same_instant_sends_nothing() -> None:
    open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 13:01"))
    count = len(mail.outbox)

    report = run_sla_scheduler(now=sast("2026-12-01 13:01"))

    assert count == 2  # breach and L2; the warning that passed with the breach is skipped
    assert len(mail.outbox) == count
    assert report.refresh.alerts_recorded == 0
    states = dict(SlaNotification.objects.values_list("kind", "state").filter(level=1))
    assert states == {"warning": "skipped", "breach": "sent"}


def test_stale_marker_cannot_duplicate() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 12:01"))
    # Forget the progress marker, as a run that crashed after inserting would.
    Ticket.objects.filter(pk=ticket.pk).update(
        sla_alert_step=0, sla_next_check_at=sast("2026-12-01 12:00")
    )

    run_sla_scheduler(now=sast("2026-12-01 12:02"))

    assert SlaNotification.objects.filter(ticket=ticket).count() == 2
    assert len(mail.outbox) == 1


def test_reply_after_l2_keeps_level() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 13:01"))
    ticket = add_message(ticket, "2026-12-01 13:30")

    report = run_sla_scheduler(now=sast("2026-12-01 16:01"))

    ticket.refresh_from_db()
    assert ticket.escalation_level == 2
    assert ticket.sla_state == "breached"
    assert report.refresh.evaluated == 0
    assert not SlaNotification.objects.filter(level=3).exists()


def test_reply_before_scheduler_skips_alert() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    # Answered at 13:10, after L2 fell due at 13:00, before any scheduler run.
    ticket = add_message(ticket, "2026-12-01 13:10")

    run_sla_scheduler(now=sast("2026-12-01 13:11"))

    ticket.refresh_from_db()
    assert ticket.escalation_level == 2
    assert mail.outbox == []
    assert set(SlaNotification.objects.values_list("state", flat=True)) == {"skipped"}
    assert ticket.sla_next_check_at is None


def test_late_delivery_alerts_at_once() -> None:
    # Sent at 10:00 but stored by the hub at 12:30: the customer has waited since 10:00.
    open_ticket("2026-12-01 10:00", received="2026-12-01 12:30")

    run_sla_scheduler(now=sast("2026-12-01 12:31"))

    assert [kind for _, kind, _ in sent()] == ["breach"]


def test_backfill_suppresses_past_alerts() -> None:
    ticket = open_ticket("2026-12-01 10:00", received="2026-12-01 14:00", tags=(BACKFILL_TAG,))

    run_sla_scheduler(now=sast("2026-12-01 14:01"))

    ticket.refresh_from_db()
    assert mail.outbox == []
    states = list(SlaNotification.objects.order_by("id").values_list("kind", "level", "state"))
    assert states == [
        ("warning", 1, "suppressed"),
        ("breach", 1, "suppressed"),
        ("escalation", 2, "suppressed"),
    ]
    # The level reached is still recorded.
    assert ticket.escalation_level == 2

    run_sla_scheduler(now=sast("2026-12-01 16:01"))

    assert [(kind, level) for _, kind, level in sent()] == [("escalation", 3)]


def test_disabled_level_is_skipped(levels: dict[int, EscalationLevelConfig]) -> None:
    levels[2].enabled = False
    levels[2].save()
    open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 12:01"))

    run_sla_scheduler(now=sast("2026-12-01 13:01"))

    l2 = SlaNotification.objects.get(level=2)
    assert l2.state == "skipped"
    assert "switched off" in l2.last_error
    assert recipients_of("SLA escalation") == []


def test_no_recipients_retried_then_abandoned(levels: dict[int, EscalationLevelConfig]) -> None:
    EscalationLevelConfig.objects.filter(level=2).update(extra_addresses="")
    open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 12:01"))

    now = sast("2026-12-01 13:01")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run_sla_scheduler(now=now)
        l2 = SlaNotification.objects.get(level=2)
        assert l2.attempts == attempt
        if l2.next_attempt_at is not None:
            now = l2.next_attempt_at

    assert l2.state == "abandoned"
    assert "no recipients" in l2.last_error
    assert l2.next_attempt_at is None


# ---------------------------------------------------------------- retries over real transports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


def test_smtp_failure_is_retried(settings, smtp_sink: tuple[Sink, int]) -> None:  # type: ignore[no-untyped-def]
    sink, port = smtp_sink
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 5
    open_ticket("2026-12-01 10:00")

    first = run_sla_scheduler(now=sast("2026-12-01 11:31"))

    warning = SlaNotification.objects.get()
    assert first.delivery.failed == 1
    assert warning.state == "failed"
    assert warning.next_attempt_at == sast("2026-12-01 11:32")
    assert "e-mail failed" in warning.last_error

    settings.EMAIL_PORT = port
    run_sla_scheduler(now=sast("2026-12-01 11:31:30"))
    assert SlaNotification.objects.get().state == "failed"  # not due again yet

    second = run_sla_scheduler(now=sast("2026-12-01 11:32"))

    warning.refresh_from_db()
    assert second.delivery.sent == 1
    assert warning.state == "sent"
    assert warning.attempts == 2
    assert sink.messages == [("help@impactlink.org", [LEVEL_ADDRESSES[1]])]


def test_webhook_failure_retries_only_webhook(
    httpserver: HTTPServer, levels: dict[int, EscalationLevelConfig]
) -> None:
    levels[1].webhook_url = httpserver.url_for("/hooks/sla")
    levels[1].save()
    answers = iter([Response("boom", status=500), Response("ok", status=200)])
    httpserver.expect_request("/hooks/sla", method="POST").respond_with_handler(
        lambda request: next(answers)
    )
    ticket = open_ticket("2026-12-01 10:00")

    run_sla_scheduler(now=sast("2026-12-01 11:31"))
    warning = SlaNotification.objects.get()
    assert warning.state == "failed"
    assert warning.last_error == "webhook answered HTTP 500"
    assert warning.email_sent_at is not None

    run_sla_scheduler(now=warning.next_attempt_at)  # type: ignore[arg-type]

    warning.refresh_from_db()
    assert warning.state == "sent"
    assert len(mail.outbox) == 1  # the e-mail is not sent again
    bodies = [request.get_json() for request, _ in httpserver.log]
    assert len(bodies) == 2
    assert bodies[1]["text"].startswith("At risk: 75% of the first-response target used")
    assert f"IL-{ticket.pk}" in bodies[1]["text"]


def test_refresh_then_scheduler_for_breach_found_by_services() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    refresh_ticket_sla(ticket, now=sast("2026-12-01 12:10"))
    ticket.refresh_from_db()
    assert ticket.sla_next_check_at == sast("2026-12-01 12:10")

    run_sla_scheduler(now=sast("2026-12-01 12:10"))

    assert [kind for _, kind, _ in sent()] == ["breach"]


def test_celery_tick_records_then_delivers() -> None:
    from tickets import tasks

    open_ticket("2026-12-01 10:00")

    # The task reads the clock itself, so the clock is set for it.
    with time_machine.travel(sast("2026-12-01 11:31"), tick=False):
        summary = tasks.sla_tick.delay().get()

    assert "1 alert(s) recorded" in summary
    assert recipients_of("SLA at risk") == [[LEVEL_ADDRESSES[1]]]


def test_beat_runs_tick_and_summary() -> None:
    from impactsupport.celery import app

    schedule = app.conf.beat_schedule
    tick = schedule["sla-tick"]["schedule"]
    weekly = schedule["weekly-sla-summary"]["schedule"]

    assert schedule["sla-tick"]["task"] == "tickets.tasks.sla_tick"
    assert tick.minute == set(range(60))
    assert weekly.day_of_week == {1}
    assert (weekly.hour, weekly.minute) == ({8}, {0})
    assert app.conf.timezone == "Africa/Johannesburg"


def test_ticket_page_shows_timeline(admin_client, settings) -> None:  # type: ignore[no-untyped-def]
    # Admin pages link static files; the hashed manifest exists only after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    ticket = open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 12:01"))

    response = admin_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Tue 2026-12-01 12:00:00 SAST" in body
    assert "Breach alert" in body
    assert LEVEL_ADDRESSES[1] in body


def test_admin_retry_requeues_abandoned(admin_client) -> None:  # type: ignore[no-untyped-def]
    ticket = open_ticket("2026-12-01 10:00")
    run_sla_scheduler(now=sast("2026-12-01 11:31"))
    SlaNotification.objects.update(state="abandoned", attempts=MAX_ATTEMPTS, next_attempt_at=None)
    notification = SlaNotification.objects.get(ticket=ticket)

    response = admin_client.post(
        reverse("admin:tickets_slanotification_changelist"),
        {"action": "retry_now", "_selected_action": [notification.pk]},
    )

    notification.refresh_from_db()
    assert response.status_code == 302
    assert notification.state == "pending"
    assert notification.attempts == 0
