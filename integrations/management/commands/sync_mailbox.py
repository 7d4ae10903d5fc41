"""Fetch new mail from the help@ mailbox once and print what was stored and processed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.mailbox.sync import SyncSummary, sync_configured_mailbox, sync_mailbox
from integrations.models import Connection, InboundItem


class Command(BaseCommand):
    help = (
        "Fetch new mail from the mailbox set by MAILBOX_* and from every enabled mailbox "
        "connection, store it and process it into tickets."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--connection", help="Name of one mailbox connection to sync instead of all of them."
        )

    def handle(self, *args: Any, connection: str | None, **options: Any) -> None:
        if connection:
            row = Connection.objects.filter(
                name=connection, provider=Connection.Provider.MAILBOX
            ).first()
            if row is None:
                raise CommandError(f"No mailbox connection named {connection!r} found.")
            summaries = [sync_mailbox(row)]
        else:
            summaries = sync_configured_mailbox()
        if not summaries:
            self.stdout.write(
                "No mailbox is configured: set MAILBOX_HOST or add a mailbox connection."
            )
            return
        for summary in summaries:
            self._print(summary)
        failed = [s.connection for s in summaries if s.error]
        if failed:
            raise CommandError(f"Sync failed for: {', '.join(failed)} (see the errors above).")

    def _print(self, summary: SyncSummary) -> None:
        if summary.skipped:
            self.stdout.write(f"{summary.connection}: skipped, {summary.skipped}.")
            return
        if summary.error:
            self.stderr.write(f"{summary.connection}: {summary.error}")
            return
        resync = " (UIDVALIDITY changed: folder fetched again)" if summary.resynced else ""
        self.stdout.write(
            f"{summary.connection}: {summary.folder} UIDVALIDITY {summary.uidvalidity}{resync}: "
            f"{summary.fetched} fetched, {summary.stored} new, {summary.already_stored} already "
            f"stored, {summary.headers_only} over MAIL_MAX_BYTES (headers only), "
            f"{summary.flagged} flagged, {summary.moved} moved."
        )
        if summary.first_item_id is None:
            return
        items = InboundItem.objects.filter(
            connection__name=summary.connection, pk__gte=summary.first_item_id
        )
        counts = Counter(
            outcome or state for state, outcome in items.values_list("state", "outcome")
        )
        self.stdout.write(
            "  processed: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))
        )
