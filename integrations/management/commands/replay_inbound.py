"""Process stored inbound items again: failed ones, stale pending ones, or chosen ids."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.inbound import process_item
from integrations.models import InboundItem


class Command(BaseCommand):
    help = "Process failed or pending inbound items again (all failed ones unless --id is given)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--id", type=int, action="append", dest="ids", help="Item id; repeatable."
        )
        parser.add_argument(
            "--pending", action="store_true", help="Also process items still pending."
        )

    def handle(self, *args: Any, ids: list[int] | None, pending: bool, **options: Any) -> None:
        if ids:
            queryset = InboundItem.objects.filter(pk__in=ids)
            missing = sorted(set(ids) - set(queryset.values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"Inbound item(s) not found: {', '.join(map(str, missing))}.")
        else:
            states = [InboundItem.State.FAILED] + ([InboundItem.State.PENDING] if pending else [])
            queryset = InboundItem.objects.filter(state__in=states)
        counts: dict[str, int] = {}
        for item_id in queryset.order_by("received_at").values_list("pk", flat=True).iterator():
            item = process_item(item_id)
            state = item.state if item else "missing"
            counts[state] = counts.get(state, 0) + 1
        summary = (
            ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "nothing to do"
        )
        self.stdout.write(f"Replayed: {summary}.")
        failed = counts.get(InboundItem.State.FAILED, 0)
        if failed:
            raise CommandError(
                f"{failed} item(s) failed again; their errors are on the inbound items in admin."
            )
