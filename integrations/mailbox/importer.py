"""Import mail from files: .eml files, a directory of them, a Maildir or an mbox.

An mbox is what Google Takeout exports for a Gmail or Workspace mailbox such as help@. Every
mail takes the same path as mail fetched over IMAP (store_item, then process_item), under
the same content key, so running an import twice, or importing mail the sync already fetched,
stores nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from integrations.inbound import process_item, store_item
from integrations.mailbox.sync import headers_only_idempotency_key, mail_idempotency_key
from integrations.models import InboundItem

logger = logging.getLogger(__name__)

# Headers of an oversized mail are read up to this many bytes.
MAX_HEADER_BYTES = 1024 * 1024
# Gmail labels whose mail a Takeout import leaves out unless asked otherwise.
DEFAULT_SKIPPED_LABELS = ("Spam", "Trash")
_HEADER_PARSER = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True)
class MailFile:
    """One mail inside an import source; `open` returns a binary stream of its bytes."""

    key: str
    size: int
    open: Callable[[], contextlib.AbstractContextManager[BinaryIO]]
    # Seconds since the epoch from the Date header, used to import in the order mail was sent.
    sent_at: float = 0.0
    labels: frozenset[str] = frozenset()


@dataclass
class ImportSummary:
    source: str
    kind: str
    total: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return self.outcomes["failed"]


class ImportSourceError(Exception):
    """The path is not a mail file, a directory of .eml files, a Maildir or an mbox."""


# ---------------------------------------------------------------- sources


@contextlib.contextmanager
def open_source(path: Path) -> Iterator[tuple[str, list[MailFile]]]:
    """Recognise the source at `path`; yield its kind and its mails in the order they were sent.

    A reply threads onto the ticket of the mail it replies to only when that mail is stored
    first. A Maildir lists mail in no particular order and an export need not list it in the
    order sent, so the Date header of every mail is read (headers only) and the mails are
    sorted by it. Mail without a usable Date keeps the place of the mail before it.
    """
    if not path.exists():
        raise ImportSourceError(f"{path} not found.")
    box: mailbox.Mailbox[Any] | None = None
    if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
        maildir = mailbox.Maildir(str(path), factory=None, create=False)
        box, kind, mails = maildir, "Maildir", _mailbox_files(maildir)
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*.eml") if p.is_file())
        if not files:
            raise ImportSourceError(f"{path} contains no .eml files and is not a Maildir.")
        kind, mails = "eml directory", [_eml_file(p, path) for p in files]
    elif path.suffix.lower() == ".mbox" or _starts_like_mbox(path):
        mbox = mailbox.mbox(str(path), factory=None, create=False)
        box, kind, mails = mbox, "mbox", _mailbox_files(mbox)
    else:
        kind, mails = "eml file", [_eml_file(path, path.parent)]
    try:
        yield kind, _in_sent_order(mails)
    finally:
        if box is not None:
            box.close()


def _starts_like_mbox(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(5) == b"From "


def _eml_file(path: Path, root: Path) -> MailFile:
    return MailFile(
        key=str(path.relative_to(root)) if path != root else path.name,
        size=path.stat().st_size,
        open=lambda: path.open("rb"),
    )


def _mailbox_files(box: mailbox.Mailbox[Any]) -> list[MailFile]:
    """List the messages of an mbox or Maildir without reading any message body."""
    mails = []
    for key in box.iterkeys():
        with contextlib.closing(box.get_file(key)) as stream:
            stream.seek(0, 2)
            size = stream.tell()
        mails.append(MailFile(key=str(key), size=size, open=_opener(box, key)))
    return mails


def _opener(
    box: mailbox.Mailbox[Any], key: str
) -> Callable[[], contextlib.AbstractContextManager[BinaryIO]]:
    def open_message() -> contextlib.AbstractContextManager[BinaryIO]:
        return contextlib.closing(box.get_file(key))  # type: ignore[return-value]

    return open_message


def _in_sent_order(mails: list[MailFile]) -> list[MailFile]:
    dated = []
    previous = 0.0
    for mail in mails:
        with mail.open() as stream:
            headers = _HEADER_PARSER.parsebytes(read_headers(stream))
        sent_at = _timestamp(str(headers.get("Date", ""))) or previous
        previous = sent_at
        labels = _gmail_labels(str(headers.get("X-Gmail-Labels", "")))
        dated.append(replace(mail, sent_at=sent_at, labels=labels))
    return sorted(dated, key=lambda mail: mail.sent_at)


def _timestamp(value: str) -> float:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def _gmail_labels(value: str) -> frozenset[str]:
    """Labels of a Google Takeout export's X-Gmail-Labels header, e.g. "Inbox,Spam"."""
    unfolded = " ".join(value.split())
    return frozenset(label.strip() for label in unfolded.split(",") if label.strip())


def read_headers(stream: BinaryIO, limit: int = MAX_HEADER_BYTES) -> bytes:
    """Read the header block (up to and with the blank line), at most `limit` bytes."""
    lines = []
    total = 0
    while total < limit:
        line = stream.readline(limit - total)
        if not line:
            break
        lines.append(line)
        total += len(line)
        if line in (b"\r\n", b"\n"):
            break
    return b"".join(lines)


# ---------------------------------------------------------------- import


def import_mail_file(mail: MailFile, *, source: str) -> tuple[str, InboundItem | None]:
    """Store and process one mail; return its outcome for the summary and the item.

    Outcomes: created, threaded, duplicate (stored before, or the same message again),
    auto_reply, bounce, list (stored, no ticket), failed.
    """
    limit = settings.MAIL_MAX_BYTES
    meta: dict[str, object] = {"import_source": source, "import_key": mail.key, "size": mail.size}
    with mail.open() as stream:
        if mail.size > limit:
            raw = read_headers(stream)
            key = headers_only_idempotency_key(raw, mail.size)
            meta["headers_only"] = True
        else:
            raw = stream.read()
            key = mail_idempotency_key(raw)

    item, created = store_item(
        kind=InboundItem.Kind.MAIL,
        idempotency_key=key,
        payload=raw,
        provider="import",
        meta=meta,
        enqueue=False,
    )
    if not created and item.state in (InboundItem.State.DONE, InboundItem.State.IGNORED):
        return "duplicate", item
    processed = process_item(item.pk)
    if processed is None:
        return "failed", None
    if processed.state == InboundItem.State.FAILED:
        return "failed", processed
    return processed.outcome or processed.state, processed


def import_path(
    path: Path,
    *,
    skip_labels: frozenset[str] = frozenset(DEFAULT_SKIPPED_LABELS),
    progress: Callable[[list[MailFile]], Iterable[MailFile]] | None = None,
) -> ImportSummary:
    """Import every mail at `path` one by one, so memory stays flat for a large mbox.

    Mail with one of `skip_labels` is counted as skipped_label and not stored. Raises
    ImportSourceError when the path is missing or contains no mail.
    """
    with open_source(path) as (kind, mails):
        summary = ImportSummary(source=str(path), kind=kind, total=len(mails))
        for mail in progress(mails) if progress is not None else mails:
            if mail.labels & skip_labels:
                summary.outcomes["skipped_label"] += 1
                continue
            outcome, item = import_mail_file(mail, source=str(path))
            summary.outcomes[outcome] += 1
            if outcome == "failed" and item is not None:
                summary.failures.append((item.pk, item.last_error))
    logger.info(
        "imported %s mail from %s (%s): %s", summary.total, path, kind, dict(summary.outcomes)
    )
    return summary
