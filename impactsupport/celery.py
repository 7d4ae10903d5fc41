"""The Celery application and its beat schedule.

Without a broker (the embedded default) tasks run in the calling process, so the one-command
demo needs no worker. With REDIS_URL set, `celery -A impactsupport worker` takes them.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impactsupport.settings")

app = Celery("impactsupport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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
