"""Prepare the embedded demo: an admin login, reference data and the demo sources."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "impactlink-demo"  # noqa: S105 - printed on purpose; local demo only

# Each step runs when its command exists, so the demo grows as the apps do. Steps marked
# once add demo activity that a second run would duplicate, so they run on the first run only.
DEMO_STEPS: list[tuple[str, list[str], str, bool]] = [
    ("load_category_rules", [], "categoriser rules", False),
    ("seed_holidays", [], "South African public holidays", False),
    ("setup_escalation_levels", [], "escalation levels", False),
    ("load_faq", [], "help centre articles", False),
    ("import_mail", ["--demo"], "demo mailbox", False),
    ("demo_desks", [], "Zendesk and Freshdesk demo tickets", False),
    ("demo_chat", [], "Intercom and Crisp demo chats", False),
    ("demo_sla", [], "demo agents' replies and tickets at risk", True),
    ("sla_tick", [], "SLA scheduler run", False),
]
DEMO_MARKER = "demo-activity-added"


class Command(BaseCommand):
    help = "Create the demo admin, load reference and demo data, and print the URLs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Host the server will listen on.")
        parser.add_argument("--port", default="8000", help="Port the server will listen on.")

    def handle(self, *args: Any, host: str, port: str, **options: Any) -> None:
        self._ensure_admin()
        available = get_commands()
        marker = settings.VAR_DIR / DEMO_MARKER
        first_run = not marker.exists()
        for command, arguments, label, once in DEMO_STEPS:
            if command not in available or (once and not first_run):
                continue
            self.stdout.write(f"Loading {label}…")
            call_command(command, *arguments, stdout=self.stdout, stderr=self.stderr)
        marker.touch()

        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(
                "\nImpactLink Support Hub is starting.\n"
                f"  Agent queue (admin): {base}/admin/tickets/ticket/\n"
                f"  Help centre:         {base}/help/faq\n"
                f"  SLA report:          {base}/staff/reports/sla\n"
                f"  API schema:          {base}/api/schema/\n"
                f"  Admin login:         {DEMO_USERNAME} / {DEMO_PASSWORD}\n"
            )
        )
        if settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
            self.stdout.write(f"  Mail the hub sent:   {settings.EMAIL_FILE_PATH}/")

    def _ensure_admin(self) -> None:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={"email": "admin@impactlink.org", "is_staff": True, "is_superuser": True},
        )
        user.is_staff = True
        user.is_superuser = True
        user.set_password(DEMO_PASSWORD)
        user.save()
