"""The Celery application and its beat schedule.

Without a broker (the embedded default) tasks run in the calling process, so the one-command
demo needs no worker. With REDIS_URL set, `celery -A impactsupport worker` takes them.
"""

import os

from celery import Celery, Task
from celery.schedules import crontab
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impactsupport.settings")

app = Celery("impactsupport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _close_old_connections(task: Task | None = None, **kwargs: object) -> None:
    """Drop a database connection past CONN_MAX_AGE or broken, as Django does per request.

    Celery keeps connections open across tasks only because CELERY_DB_REUSE_MAX is set;
    without this, a broken connection would fail tasks until Celery's own periodic close.
    Eager tasks run inside the caller's transaction, so their connection is left alone.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()

app.conf.beat_schedule = {
    "sync-mailbox": {"task": "integrations.tasks.sync_mailbox", "schedule": crontab()},
    "retry-inbound": {"task": "integrations.tasks.retry_failed_inbound", "schedule": crontab()},
    # Polling under the desk and chat webhooks: repairs missed deliveries within minutes.
    "sync-desks": {"task": "integrations.tasks.sync_desks", "schedule": crontab(minute="*/5")},
    "sla-tick": {"task": "tickets.tasks.sla_tick", "schedule": crontab()},
    # Routes waiting chats (an agent freed up, chat hours opened), closes chats solved in the
    # hub with their transcripts, and resends failed pushes to the chat providers.
    "chat-housekeeping": {"task": "chat.tasks.chat_housekeeping", "schedule": crontab()},
    "purge-chat-transcripts": {
        "task": "chat.tasks.purge_transcripts",
        "schedule": crontab(minute=30, hour=2),
    },
    # CELERY_TIMEZONE is Africa/Johannesburg, so this is Monday 08:00 SAST.
    "weekly-sla-summary": {
        "task": "tickets.tasks.send_weekly_sla_summary",
        "schedule": crontab(minute=0, hour=8, day_of_week=1),
    },
}
