"""Celery tasks of the queue's SLA; each calls one service with the current time."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.utils import timezone


@shared_task(name="tickets.tasks.sla_tick", ignore_result=True)
def sla_tick() -> str:
    """Re-evaluate due SLA timers and record their alerts; beat runs it every minute.

    Sending is queued as its own task, so a slow mail server never delays the next tick.
    """
    from tickets.sla_scheduler import run_sla_scheduler

    report = run_sla_scheduler(now=timezone.now(), deliver=False)
    deliver_sla_notifications.delay()
    return report.summary()


@shared_task(name="tickets.tasks.deliver_sla_notifications", ignore_result=True)
def deliver_sla_notifications() -> int:
    """Send the SLA alerts that are due, retries included; returns how many were sent."""
    from tickets.notifications import deliver_due_notifications

    return deliver_due_notifications(now=timezone.now()).sent


@shared_task(name="tickets.tasks.recompute_open_sla_timers", ignore_result=True)
def recompute_open_sla_timers() -> int:
    """Recompute every timer that has not stopped; queued after a holiday table change."""
    from tickets.sla_scheduler import recompute_open_timers

    return recompute_open_timers(now=timezone.now())


@shared_task(
    name="tickets.tasks.send_weekly_sla_summary",
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=6,
)
def send_weekly_sla_summary() -> int:
    """Mail last week's SLA summary to the managers; beat runs it Mondays at 08:00.

    A mail server failure is retried by Celery with backoff (1 minute doubling to an hour).
    """
    from tickets.reports import send_weekly_summary

    return send_weekly_summary(now=timezone.now())
