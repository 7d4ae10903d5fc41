"""Sync against the real Dovecot server: cursor, UIDVALIDITY, batches, flag and move options."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from imapclient import IMAPClient

from integrations.mailbox.sync import PROCESSED_KEYWORD, sync_mailbox
from integrations.models import Connection, InboundItem
from integrations.tasks import sync_mailbox as sync_mailbox_task
from tickets.models import Message, Ticket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.imap]


def build_mail(number: int, *, body: str = "", reply_to: int | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = f"Donor {number} <donor{number}@example.org>"
    message["To"] = "help@impactlink.org"
    message["Subject"] = f"Question {number} about my monthly debit order"
    message["Message-ID"] = f"<q{number}.{uuid.uuid4().hex[:8]}@example.org>"
    message["Date"] = "Mon, 30 Nov 2026 09:00:00 +0200"
    message.set_content(body or f"Hello, question {number}: when does my debit order run?")
    return message.as_bytes()


def login(imap_server) -> IMAPClient:
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl=False)
    client.login(imap_server.user, imap_server.password)
    return client


@pytest.fixture
def imap(imap_server) -> Iterator[IMAPClient]:
    client = login(imap_server)
    yield client
    client.logout()


@pytest.fixture
def folder(imap_server) -> Iterator[str]:
    """A fresh folder per test, so tests never see each other's mail."""
    name = f"sync-{uuid.uuid4().hex[:10]}"
    client = login(imap_server)
    client.create_folder(name)
    yield name
    # A separate session: Dovecot ends any session whose selected folder is deleted.
    for leftover in (name, f"{name}-done"):
        if client.folder_exists(leftover):
            client.delete_folder(leftover)
    client.logout()


def make_connection(imap_server, folder: str, **config: object) -> Connection:
    values: dict[str, object] = {
        "host": imap_server.host,
        "port": imap_server.port,
        "security": "starttls",
        "ca_file": imap_server.ca_file,
        "user": imap_server.user,
        "folder": folder,
    }
    values.update(config)
    return Connection.objects.create(
        name=f"mailbox-{folder}",
        provider=Connection.Provider.MAILBOX,
        config=values,
        credentials={"password": imap_server.password},
    )


def append(imap: IMAPClient, folder: str, *raws: bytes) -> None:
    for raw in raws:
        imap.append(folder, raw)


def set_uidvalidity(imap_server, folder: str, value: int) -> None:
    subprocess.run(
        [
            "doveadm",
            "-c",
            os.environ["TEST_IMAP_CONFIG"],
            "mailbox",
            "update",
            "-u",
            imap_server.user,
            "--uid-validity",
            str(value),
            folder,
        ],
        check=True,
        capture_output=True,
    )


def test_second_sync_fetches_only_new(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, *(build_mail(n) for n in range(1, 4)))

    first = sync_mailbox(connection)
    append(imap, folder, build_mail(4), build_mail(5))
    second = sync_mailbox(connection)

    assert first.error == ""
    assert (first.fetched, first.stored) == (3, 3)
    assert (second.fetched, second.stored) == (2, 2)
    connection.refresh_from_db()
    assert connection.cursor["last_uid"] == 5
    assert connection.cursor["folder"] == folder
    assert connection.last_success_at is not None
    assert connection.last_error == ""
    assert Ticket.objects.count() == 5
    items = InboundItem.objects.filter(connection=connection).order_by("pk")
    assert [item.meta["uid"] for item in items] == [1, 2, 3, 4, 5]
    assert {item.state for item in items} == {InboundItem.State.DONE}


def test_uidvalidity_change_adds_no_duplicates(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, *(build_mail(n) for n in range(1, 4)))
    sync_mailbox(connection)

    set_uidvalidity(imap_server, folder, 424242)
    append(imap, folder, build_mail(4))
    again = sync_mailbox(connection)

    assert again.resynced is True
    assert again.uidvalidity == 424242
    assert (again.fetched, again.stored, again.already_stored) == (4, 1, 3)
    assert InboundItem.objects.count() == 4
    assert Ticket.objects.count() == 4
    connection.refresh_from_db()
    assert connection.cursor["uidvalidity"] == 424242


def test_recreated_folder_adds_no_duplicates(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    mails = [build_mail(n) for n in range(1, 3)]
    append(imap, folder, *mails)
    sync_mailbox(connection)

    imap.delete_folder(folder)
    imap.create_folder(folder)
    append(imap, folder, *mails)
    set_uidvalidity(imap_server, folder, 99)
    again = sync_mailbox(connection)

    assert (again.fetched, again.already_stored) == (2, 2)
    assert Message.objects.count() == 2


def test_lost_cursor_adds_no_duplicates(imap_server, imap, folder) -> None:
    # As if the process died after storing mail but before the cursor reached the database.
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1), build_mail(2))
    sync_mailbox(connection)
    Connection.objects.filter(pk=connection.pk).update(cursor={})
    connection.refresh_from_db()

    again = sync_mailbox(connection)

    assert (again.fetched, again.stored, again.already_stored) == (2, 0, 2)
    assert Ticket.objects.count() == 2


def test_small_batches_advance_cursor(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder, batch_size=2)
    append(imap, folder, *(build_mail(n) for n in range(1, 6)))

    summary = sync_mailbox(connection)

    assert summary.batches == [(1, 2), (3, 4), (5, 5)]
    connection.refresh_from_db()
    assert connection.cursor["last_uid"] == 5
    assert InboundItem.objects.count() == 5


def test_flag_option_sets_keyword(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder, flag_processed=True)
    append(imap, folder, build_mail(1), build_mail(2))

    summary = sync_mailbox(connection)

    assert summary.flagged == 2
    imap.select_folder(folder, readonly=True)
    flags = imap.get_flags(imap.search(["ALL"]))
    assert len(flags) == 2
    assert all(PROCESSED_KEYWORD in value for value in flags.values())
    # The keyword leaves the mail unread for the people who use the mailbox.
    assert all(b"\\Seen" not in value for value in flags.values())


def test_unflagged_sync_keeps_mail_unread(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1))

    sync_mailbox(connection)

    imap.select_folder(folder, readonly=True)
    flags = imap.get_flags(imap.search(["ALL"]))
    assert len(flags) == 1
    assert all(b"\\Seen" not in value for value in flags.values())
    assert all(PROCESSED_KEYWORD not in value for value in flags.values())


def test_move_option_keeps_mail(imap_server, imap, folder) -> None:
    done = f"{folder}-done"
    connection = make_connection(imap_server, folder, processed_folder=done)
    append(imap, folder, build_mail(1), build_mail(2))

    summary = sync_mailbox(connection)
    append(imap, folder, build_mail(3))
    later = sync_mailbox(connection)

    assert summary.moved == 2
    assert (later.fetched, later.moved) == (1, 1)
    assert imap.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"] == 0
    assert imap.folder_status(done, [b"MESSAGES"])[b"MESSAGES"] == 3
    assert Ticket.objects.count() == 3


def test_oversized_mail_stored_as_headers(imap_server, imap, folder, settings) -> None:
    settings.MAIL_MAX_BYTES = 4096
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1, body="attachment " * 2000), build_mail(2))

    summary = sync_mailbox(connection)

    assert (summary.fetched, summary.headers_only) == (2, 1)
    large = InboundItem.objects.get(meta__uid=1)
    assert large.state == InboundItem.State.FAILED
    assert large.meta["headers_only"] is True
    assert large.meta["size"] > 4096
    assert bytes(large.payload).startswith(b"From: Donor 1")
    assert b"attachment attachment" not in bytes(large.payload)
    assert f"folder {folder} UID 1" in large.last_error
    assert "Only its headers were stored" in large.last_error
    assert InboundItem.objects.get(meta__uid=2).state == InboundItem.State.DONE
    connection.refresh_from_db()
    assert connection.cursor["last_uid"] == 2


def test_missing_folder_recorded(imap_server) -> None:
    connection = make_connection(imap_server, "no-such-folder")

    summary = sync_mailbox(connection)

    assert "Folder 'no-such-folder' not found" in summary.error
    connection.refresh_from_db()
    assert "not found" in connection.last_error
    assert connection.last_error_at is not None


def test_beat_task_syncs_settings_mailbox(imap_server, imap, folder, settings) -> None:
    settings.MAILBOX_HOST = imap_server.host
    settings.MAILBOX_PORT = imap_server.ssl_port
    settings.MAILBOX_SECURITY = "ssl"
    settings.MAILBOX_CA_FILE = imap_server.ca_file
    settings.MAILBOX_USER = imap_server.user
    settings.MAILBOX_PASSWORD = imap_server.password
    settings.MAILBOX_FOLDER = folder
    append(imap, folder, build_mail(1))

    sync_mailbox_task.apply()

    connection = Connection.objects.get(name="help-mailbox")
    assert connection.provider == Connection.Provider.MAILBOX
    assert connection.cursor["last_uid"] == 1
    assert Ticket.objects.count() == 1


def test_running_sync_holds_lease(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1))
    Connection.objects.filter(pk=connection.pk).update(
        sync_lease_until=timezone.now() + timedelta(minutes=5)
    )

    skipped = sync_mailbox(connection)

    assert skipped.skipped == "another sync of this connection is running"
    assert InboundItem.objects.count() == 0


def test_expired_lease_is_taken_over(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1))
    Connection.objects.filter(pk=connection.pk).update(
        sync_lease_until=timezone.now() - timedelta(minutes=1)
    )

    summary = sync_mailbox(connection)

    assert summary.stored == 1
    connection.refresh_from_db()
    assert connection.sync_lease_until is None


def test_command_prints_summary(imap_server, imap, folder) -> None:
    connection = make_connection(imap_server, folder)
    append(imap, folder, build_mail(1), build_mail(2, body="Out of office until Monday."))
    out = StringIO()

    call_command("sync_mailbox", "--connection", connection.name, stdout=out)

    output = out.getvalue()
    assert f"{connection.name}: {folder} UIDVALIDITY" in output
    assert "2 fetched, 2 new, 0 already stored" in output
    assert "processed: 2 created" in output


def test_command_fails_on_login_error(imap_server, folder) -> None:
    connection = make_connection(imap_server, folder)
    Connection.objects.filter(pk=connection.pk).update(credentials={"password": "wrong"})

    with pytest.raises(CommandError, match="Sync failed for"):
        call_command("sync_mailbox", "--connection", connection.name, stdout=StringIO())
