"""`manage.py import_mail` over generated mbox, Maildir and .eml sources, and the demo mailbox."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations.models import InboundItem
from tickets.models import Direction, Message, Ticket

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[3] / "integrations" / "mailbox" / "demo"


def build_mail(
    number: int,
    *,
    sender: str = "",
    to: str = "help@impactlink.org",
    subject: str = "",
    in_reply_to: str = "",
    headers: dict[str, str] | None = None,
    body: str = "",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender or f"Donor {number} <donor{number}@example.org>"
    message["To"] = to
    message["Subject"] = subject or f"Receipt {number} missing for my donation"
    message["Message-ID"] = f"<m{number}@example.org>"
    message["Date"] = f"Tue, {number % 27 + 1:02d} Oct 2026 10:00:00 +0200"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body or f"Hello, I did not get a receipt for donation {number}.")
    return message


def takeout_messages() -> list[EmailMessage]:
    """A small help@ export: questions, the team's reply, an auto-reply, a bounce, spam."""
    return [
        build_mail(1),
        build_mail(2),
        build_mail(
            3,
            sender="ImpactLink Support <help@impactlink.org>",
            to="donor1@example.org",
            subject="Re: Receipt 1 missing for my donation",
            in_reply_to="<m1@example.org>",
            headers={"X-Gmail-Labels": "Sent"},
            body="Hi, your receipt is now on your dashboard.",
        ),
        build_mail(
            4,
            subject="Re: Receipt 1 missing for my donation",
            in_reply_to="<m3@example.org>",
            sender="Donor 1 <donor1@example.org>",
            body="Thanks, found it, but the amount is wrong: R300, not R30.",
        ),
        build_mail(5, headers={"Auto-Submitted": "auto-replied"}, subject="Out of office"),
        build_mail(
            6,
            sender="MAILER-DAEMON@mx.example.net",
            subject="Undelivered Mail Returned to Sender",
            headers={"X-Failed-Recipients": "gone@example.org"},
            body="Your message could not be delivered.",
        ),
        build_mail(7, headers={"X-Gmail-Labels": "Spam,Unread"}, subject="Win a prize"),
    ]


def run_import(*args: str) -> str:
    out = StringIO()
    call_command("import_mail", *args, "--no-progress", stdout=out)
    return out.getvalue()


def write_mbox(path: Path, messages: list[EmailMessage]) -> Path:
    box = mailbox.mbox(str(path))
    for message in messages:
        box.add(message)
    box.flush()
    box.close()
    return path


def test_mbox_import_summary(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "help@impactlink.org.mbox", takeout_messages())

    output = run_import(str(path))

    assert "(mbox)" in output
    assert "2 created, 2 threaded, 0 duplicates" in output
    assert "2 skipped as auto-reply, bounce or list mail (1 auto-reply, 1 bounce)" in output
    assert "0 failed" in output
    assert "1 left out by their Gmail label" in output
    assert Ticket.objects.count() == 2
    thread = Ticket.objects.get(contact__email="donor1@example.org")
    assert list(thread.messages.values_list("direction", flat=True)) == [
        Direction.INBOUND,
        Direction.OUTBOUND,
        Direction.INBOUND,
    ]
    assert InboundItem.objects.count() == 6
    assert not Message.objects.filter(subject="Win a prize").exists()


def test_mbox_import_twice_is_idempotent(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "export.mbox", takeout_messages())
    run_import(str(path))

    output = run_import(str(path))

    assert "0 created, 0 threaded, 6 duplicates" in output
    assert Ticket.objects.count() == 2
    assert Message.objects.count() == 4
    assert InboundItem.objects.count() == 6


def test_mbox_recognised_without_suffix(tmp_path: Path) -> None:
    path = write_mbox(tmp_path / "All mail Including Spam and Trash", takeout_messages()[:2])

    output = run_import(str(path), "--skip-labels", "")

    assert "(mbox)" in output
    assert "2 created" in output


def test_maildir_import(tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "help"), create=True)
    for message in takeout_messages()[:4]:
        box.add(message)
    box.close()

    output = run_import(str(tmp_path / "help"))

    assert "(Maildir)" in output
    assert "2 created, 2 threaded" in output
    assert Message.objects.count() == 4


def test_eml_directory_and_file(tmp_path: Path) -> None:
    folder = tmp_path / "eml"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.eml").write_bytes(build_mail(1).as_bytes())
    (folder / "nested" / "b.eml").write_bytes(build_mail(2).as_bytes())
    (folder / "notes.txt").write_text("not mail")

    directory = run_import(str(folder))
    single = run_import(str(folder / "a.eml"))

    assert "Imported 2 mail" in directory
    assert "(eml directory)" in directory
    assert "2 created" in directory
    assert "(eml file)" in single
    assert "1 duplicates" in single


def test_oversized_file_fails_with_reason(tmp_path: Path, settings) -> None:
    settings.MAIL_MAX_BYTES = 4096
    path = tmp_path / "large.eml"
    path.write_bytes(build_mail(1, body="scan " * 5000).as_bytes())

    output = run_import(str(path))

    assert "1 failed" in output
    assert "larger than the 4096 bytes limit" in output
    item = InboundItem.objects.get()
    assert item.state == InboundItem.State.FAILED
    assert item.meta["headers_only"] is True
    assert b"scan scan" not in bytes(item.payload)
    assert f"{path} (large.eml)" in item.last_error


def test_missing_path_is_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not found"):
        run_import(str(tmp_path / "nothing-here.mbox"))


def test_path_and_demo_exclusive(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="either a PATH"):
        run_import(str(tmp_path), "--demo")


@pytest.mark.skipif(not DEMO.is_dir(), reason="the demo mailbox is not in the project yet")
def test_demo_import_twice() -> None:
    first = run_import("--demo")
    tickets = Ticket.objects.count()
    second = run_import("--demo")

    assert "0 failed" in first
    assert tickets >= 10
    assert "0 created, 0 threaded" in second
    assert Ticket.objects.count() == tickets
