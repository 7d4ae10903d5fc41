"""Celery tasks of live chat; each takes ids or names and calls one service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="chat.tasks.send_provider_push", ignore_result=True)
def send_provider_push(push_id: int) -> None:
    from chat.pushes import send_push

    send_push(push_id)


@shared_task(name="chat.tasks.route_waiting_chats", ignore_result=True)
def route_waiting_chats(categories: list[str] | None = None) -> int:
    from chat.routing import route_waiting

    return route_waiting(categories=categories)


@shared_task(name="chat.tasks.chat_housekeeping", ignore_result=True)
def chat_housekeeping() -> None:
    """Repair chats whose chat steps failed, route waiting chats, close solved ones and resend
    due pushes; beat runs it every minute."""
    from chat.pushes import retry_due_pushes
    from chat.routing import route_waiting
    from chat.services import adopt_unlinked_chats, close_finished_conversations

    adopt_unlinked_chats()
    route_waiting()
    close_finished_conversations()
    retry_due_pushes()


@shared_task(name="chat.tasks.purge_transcripts", ignore_result=True)
def purge_transcripts() -> int:
    from django.conf import settings

    from chat.transcripts import purge_expired_transcripts

    if settings.CHAT_TRANSCRIPT_RETENTION_DAYS == 0:
        return 0
    return purge_expired_transcripts(retention_days=settings.CHAT_TRANSCRIPT_RETENTION_DAYS)
