"""Create the four escalation levels and the managers' group, with demo addresses."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from tickets.models import EscalationLevel, EscalationLevelConfig

MANAGERS_GROUP = "Support managers"
# A mailbox-only account (it cannot log in) so the demo's manager feed has a recipient.
DEMO_MANAGER = ("support-managers", "support-managers@impactlink.org")

# Role addresses at the company's own domain; replace them in admin before going live.
DEMO_ADDRESSES = {
    EscalationLevel.L1: "support-leads@impactlink.org",
    EscalationLevel.L2: "oncall-engineering@impactlink.org",
    EscalationLevel.L3: "devops@impactlink.org",
    EscalationLevel.L4: "cto@impactlink.org",
}
LEVEL_NAMES = {
    EscalationLevel.L1: "L1 support team",
    EscalationLevel.L2: "Engineering on-call",
    EscalationLevel.L3: "DevOps / infrastructure",
    EscalationLevel.L4: "CTO / VP Engineering",
}


class Command(BaseCommand):
    help = (
        "Create the L1-L4 escalation levels (with demo role addresses) and the 'Support "
        "managers' group that receives breach alerts and the weekly SLA summary. Levels that "
        "exist already are left as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-demo-addresses",
            action="store_true",
            help="Create the levels without the demo role addresses.",
        )

    @transaction.atomic
    def handle(self, *args: Any, no_demo_addresses: bool, **options: Any) -> None:
        created = 0
        for level in EscalationLevel:
            _, was_created = EscalationLevelConfig.objects.get_or_create(
                level=level,
                defaults={
                    "name": LEVEL_NAMES[level],
                    "extra_addresses": "" if no_demo_addresses else DEMO_ADDRESSES[level],
                },
            )
            created += was_created

        managers, _ = Group.objects.get_or_create(name=MANAGERS_GROUP)
        permission = Permission.objects.get(
            codename="receive_sla_feed", content_type__app_label="tickets"
        )
        managers.permissions.add(permission)
        if not no_demo_addresses:
            _ensure_demo_manager(managers)
        self.stdout.write(
            f"Escalation levels: {created} created, {len(EscalationLevel) - created} kept; "
            f"add managers to the '{MANAGERS_GROUP}' group to send them the SLA feed."
        )


def _ensure_demo_manager(group: Group) -> None:
    username, email = DEMO_MANAGER
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return
    user = user_model(username=username, email=email, first_name="Support managers")
    user.set_unusable_password()
    user.save()
    user.groups.add(group)
