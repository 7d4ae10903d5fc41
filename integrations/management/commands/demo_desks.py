"""Load the bundled Zendesk and Freshdesk demo tickets into the queue, without network access."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from integrations.inbound import process_item
from integrations.models import Connection, ExternalTicket
from integrations.registry import adapter_for
from integrations.sync import store_record
from integrations.types import TicketRecord

# Demo connections stay disabled: their tickets come from files, and beat must not poll a
# desk that does not exist.
DEMO_CONNECTIONS = (
    ("demo-zendesk", "zendesk", {"subdomain": "impactlink-demo"}),
    ("demo-freshdesk", "freshdesk", {"domain": "impactlink-demo"}),
)
# The newest demo update lands this long before the command runs.
NEWEST_AGE = timedelta(minutes=50)


class Command(BaseCommand):
    help = "Create the demo Zendesk and Freshdesk connections and load their bundled tickets."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, provider, config in DEMO_CONNECTIONS:
            connection, _ = Connection.objects.get_or_create(
                name=name, defaults={"provider": provider, "enabled": False, "config": config}
            )
            if ExternalTicket.objects.filter(connection=connection).exists():
                self.stdout.write(f"  {name}: already loaded")
                continue
            records = _moved_to_now(adapter_for(connection).demo_records())
            outcomes: dict[str, int] = {}
            for record in records:
                item, _ = store_record(connection, record)
                processed = process_item(item.pk)
                outcome = processed.outcome if processed and processed.outcome else "failed"
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
            self.stdout.write(f"  {name}: {len(records)} tickets ({summary})")


def _moved_to_now(records: list[TicketRecord]) -> list[TicketRecord]:
    """Shift every time by one offset, so the newest update is NEWEST_AGE old."""
    if not records:
        return records
    newest = max(record.updated_at for record in records)
    offset = timezone.now() - NEWEST_AGE - newest
    offset -= timedelta(microseconds=offset.microseconds)
    return [_shifted(record, offset) for record in records]


def _shifted(record: TicketRecord, offset: timedelta) -> TicketRecord:
    comments = tuple(
        dataclasses.replace(comment, created_at=comment.created_at + offset)
        for comment in record.comments
    )
    return dataclasses.replace(
        record,
        created_at=record.created_at + offset,
        updated_at=record.updated_at + offset,
        comments=comments,
    )
