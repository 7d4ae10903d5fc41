"""Turn a stored raw mail into a queue message: parse, map, hand to tickets.services.

Registered in integrations.inbound.PROCESSORS as the processor of kind "mail", so mail from
IMAP and from `import_mail` takes the same path: store_item, then process_mail_item.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings

from integrations.inbound import PermanentFailure, ProcessResult
from integrations.mailbox.parser import MailKind, ParsedMail, parse_message
from integrations.models import InboundItem
from tickets.inputs import AttachmentInput, ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, MessageKind, Source
from tickets.services import ingest_message

logger = logging.getLogger(__name__)

ACTOR_LABEL = "mailbox"
# A Date header further ahead of the arrival time than this is a wrong clock, not a fact.
MAX_CLOCK_SKEW = timedelta(days=1)

_KIND_TO_MESSAGE_KIND = {
    MailKind.NORMAL: MessageKind.NORMAL,
    MailKind.AUTO_REPLY: MessageKind.AUTO_REPLY,
    MailKind.BOUNCE: MessageKind.BOUNCE,
    MailKind.LIST: MessageKind.LIST,
}


def process_mail_item(item: InboundItem) -> ProcessResult:
    """Process one stored mail into the queue.

    Returns done (created, threaded, duplicate) or ignored (auto_reply, bounce, list: machine
    or bulk mail that matched no ticket). Raises PermanentFailure for mail over MAIL_MAX_BYTES.
    """
    _reject_oversized(item)
    _reject_non_mail(item)
    parsed = parse_message(bytes(item.payload))
    incoming = incoming_from_mail(
        parsed, received_at=item.received_at, support_addresses=support_addresses()
    )
    result = ingest_message(incoming=incoming, actor_label=ACTOR_LABEL)
    ticket_id = result.ticket.pk if result.ticket is not None else None
    if parsed.defects:
        logger.info(
            "mail item %s parsed with %s repair(s): %s",
            item.pk,
            len(parsed.defects),
            "; ".join(parsed.defects)[:300],
        )
    if result.outcome == "not_threaded":
        return ProcessResult(InboundItem.State.IGNORED, str(parsed.kind), None)
    return ProcessResult(InboundItem.State.DONE, result.outcome, ticket_id)


# A mail's header block names at least one of these. A file that names none (an empty file,
# random bytes, a text file imported by mistake) is kept as failed instead of opening a ticket.
_MAIL_HEADER = re.compile(
    rb"^(?:from|to|cc|subject|date|message-id|received|return-path|mime-version|content-type"
    rb"|delivered-to|reply-to|sender|in-reply-to|references):",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _reject_non_mail(item: InboundItem) -> None:
    payload = bytes(item.payload[:65536])
    end = _HEADER_END.search(payload)
    header_block = payload[: end.start()] if end else payload
    if not _MAIL_HEADER.search(header_block):
        raise PermanentFailure(
            "Not an e-mail message: no From, To, Subject, Date, Message-ID or other mail header "
            "before the body. The stored bytes are kept for inspection."
        )


def _reject_oversized(item: InboundItem) -> None:
    limit = settings.MAIL_MAX_BYTES
    size = int(item.meta.get("size", item.size))
    if item.meta.get("headers_only"):
        if "uid" in item.meta:
            where = f"folder {item.meta.get('folder')} UID {item.meta['uid']} of the mailbox"
        else:
            where = f"{item.meta.get('import_source')} ({item.meta.get('import_key')})"
        raise PermanentFailure(
            f"Mail is larger than the {_megabytes(limit)} limit (MAIL_MAX_BYTES): "
            f"{_megabytes(size)}. Only its headers were stored; read it in {where}."
        )
    if size > limit:
        raise PermanentFailure(
            f"Mail is larger than the {_megabytes(limit)} limit (MAIL_MAX_BYTES): "
            f"{_megabytes(size)}. It is stored in full but was not parsed; raise MAIL_MAX_BYTES "
            "and process it again."
        )


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size} bytes"
    return f"{size / (1024 * 1024):.1f} MB"


def support_addresses() -> frozenset[str]:
    """Our own addresses: mail from them is the team's, e.g. replies in a Takeout export."""
    addresses = {settings.SUPPORT_ADDRESS.strip().lower()}
    addresses.add(parseaddr(settings.DEFAULT_FROM_EMAIL)[1].strip().lower())
    return frozenset(address for address in addresses if address)


def incoming_from_mail(
    parsed: ParsedMail, *, received_at: datetime, support_addresses: frozenset[str]
) -> IncomingMessage:
    """Map a parsed mail to the queue's input record; pure, so tests can feed any ParsedMail."""
    outbound = parsed.from_address.lower() in support_addresses
    sent_at = _sent_at(parsed.date, received_at)
    normal = parsed.kind is MailKind.NORMAL

    if outbound:
        direction, author_kind = Direction.OUTBOUND, AuthorKind.AGENT
        customer = next(
            (a for a in (*parsed.to, *parsed.cc) if a.lower() not in support_addresses), ""
        )
        contact = ContactInput(email=customer)
    else:
        direction = Direction.INBOUND
        # Auto-replies, bounces and list mail are sent by machines or to many people at once.
        author_kind = AuthorKind.CUSTOMER if normal else AuthorKind.BOT
        contact = ContactInput(name=parsed.from_name, email=parsed.from_address)

    # A bounce rarely names the mail it returns in its own headers; the returned copy does,
    # so those ids are searched as references too (e.g. a hub reply's <ticket-N.msg-M@…>).
    references = tuple(dict.fromkeys((*parsed.references, *parsed.bounced_message_ids)))

    return IncomingMessage(
        source=Source.EMAIL,
        channel=Channel.EMAIL,
        direction=direction,
        author_kind=author_kind,
        contact=contact,
        sent_at=sent_at,
        subject=parsed.subject,
        body_text=parsed.text,
        body_html=parsed.html,
        kind=_KIND_TO_MESSAGE_KIND[parsed.kind],
        author_name=parsed.from_name,
        author_email=parsed.from_address,
        received_at=received_at,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=references,
        attachments=tuple(
            AttachmentInput(
                filename=a.filename,
                content_type=a.content_type,
                payload=a.payload,
                content_id=a.content_id,
                inline=a.inline,
            )
            for a in parsed.attachments
        ),
        ticket_created_at=min(sent_at, received_at),
        may_open_ticket=normal,
        extra={"kind_reason": parsed.kind_reason, "reply_to": parsed.reply_to},
    )


def _sent_at(date: datetime | None, received_at: datetime) -> datetime:
    if date is None:
        return received_at
    if date > received_at + MAX_CLOCK_SKEW:
        logger.debug(
            "mail Date %s is after its arrival %s; using the arrival time", date, received_at
        )
        return received_at
    return date
