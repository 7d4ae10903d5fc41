"""Parse raw RFC 5322 mail into a `ParsedMail` record.

`parse_message` raises no `Exception` for any input: broken headers, missing MIME boundaries,
unknown charsets and undecodable bytes are repaired where possible, and each repair is listed in
`ParsedMail.defects`. Fuzz tests in tests/integrations/mailbox/test_parser_fuzz.py check this.
The module is pure (no database, no network, no clock), so the mailbox adapter can call it from
any worker and tests can feed it any bytes.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import html as html_lib
import logging
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from enum import StrEnum

import charset_normalizer
import nh3
from inscriptis import get_text as html_to_text
from tnefparse import TNEF

logger = logging.getLogger(__name__)

__all__ = [
    "MailKind",
    "ParsedAttachment",
    "ParsedMail",
    "find_ticket_token",
    "parse_message",
    "strip_reply_prefixes",
]


@dataclass(frozen=True)
class ParsedAttachment:
    """A MIME part kept as a file: attachments, inline images and returned messages."""

    filename: str
    content_type: str
    payload: bytes
    content_id: str
    inline: bool


class MailKind(StrEnum):
    NORMAL = "normal"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"


@dataclass(frozen=True)
class ParsedMail:
    """Decoded headers, body and attachments of one message, with the repairs made on the way."""

    message_id: str
    message_id_missing: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_address: str
    reply_to: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None
    text: str
    html: str
    attachments: tuple[ParsedAttachment, ...]
    kind: MailKind
    kind_reason: str
    bounced_message_ids: tuple[str, ...]
    defects: tuple[str, ...]
    size: int


# --- Subject helpers ------------------------------------------------------------------------

# Reply and forward prefixes written by mail clients in English, Afrikaans, Dutch, German,
# the Nordic languages, French and Spanish, each optionally followed by a counter such as
# "Re[2]:". The full-width colon is what East Asian clients write.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|fwd?|aw|wg|sv|vs|antw|antwort|tr|rv|réf)\.?\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_TICKET_TOKEN = re.compile(r"\[\s*#?\s*IL-(\d{1,18})\s*\]", re.IGNORECASE)


def strip_reply_prefixes(subject: str) -> str:
    """Remove any chain of reply and forward prefixes ("Re: AW: Fwd[2]:") from a subject."""
    remaining = subject
    while True:
        match = _REPLY_PREFIX.match(remaining)
        if match is None:
            return remaining.strip()
        remaining = remaining[match.end() :]


def find_ticket_token(subject: str) -> int | None:
    """Return the ticket number of the first "[IL-1042]" or "[#IL-1042]" token, or None."""
    match = _TICKET_TOKEN.search(subject)
    return int(match.group(1)) if match else None


# --- Entry point ----------------------------------------------------------------------------

_PARSER = BytesParser(policy=policy.default)
# Deeper MIME nesting than this is treated as hostile: the rest is dropped with a defect.
_MAX_DEPTH = 30


def parse_message(raw: bytes) -> ParsedMail:
    """Parse one raw message, listing what had to be repaired in `defects`.

    Raises no `Exception`: if the parser itself fails, the result keeps the raw message as text.
    """
    if not isinstance(raw, bytes):
        raw = _coerce_bytes(raw)
    try:
        return _parse(raw)
    except Exception as error:  # noqa: BLE001 - a parser bug must not stop mailbox ingestion
        logger.error(
            "mail parser: failed with %s on a %d-byte message; keeping it as text",
            type(error).__name__,
            len(raw),
        )
        logger.debug("mail parser failure", exc_info=True)
        return _unparsed_mail(raw, error)


def _parse(raw: bytes) -> ParsedMail:
    defects = _Defects()
    message = _parse_envelope(raw, defects)
    headers = _top_headers(message)

    subject = _decode_header_text(_first(headers, "subject"), defects, "Subject")
    from_name, from_address = _first_mailbox(_first(headers, "from"), defects)
    message_id = _first_message_id(_first(headers, "message-id"))
    body = _Body(defects)
    body.collect(message)

    kind, kind_reason = _classify(headers, subject, from_address, body)
    bounced: tuple[str, ...] = ()
    if kind is MailKind.BOUNCE:
        bounced = tuple(i for i in body.bounced_message_ids() if i != message_id)

    if not message_id:
        defects.add("Message-ID is missing; an id was derived from the SHA-256 of the message")
    return ParsedMail(
        message_id=message_id or _missing_message_id(raw),
        message_id_missing=not message_id,
        in_reply_to=tuple(_unique(_message_ids(headers.get("in-reply-to", ())))),
        references=tuple(_unique(_message_ids(headers.get("references", ())))),
        subject=_clean_text(subject),
        from_name=_clean_text(from_name),
        from_address=from_address,
        reply_to=_first_mailbox(_first(headers, "reply-to"), defects)[1],
        to=_address_list(headers.get("to", ())),
        cc=_address_list(headers.get("cc", ())),
        date=_parse_date(headers.get("date", []), defects),
        text=body.text(),
        html=body.html(),
        attachments=tuple(body.attachments),
        kind=kind,
        kind_reason=kind_reason,
        bounced_message_ids=bounced,
        defects=defects.as_tuple(),
        size=len(raw),
    )


def _unparsed_mail(raw: bytes, error: Exception) -> ParsedMail:
    return ParsedMail(
        message_id=_missing_message_id(raw),
        message_id_missing=True,
        in_reply_to=(),
        references=(),
        subject="",
        from_name="",
        from_address="",
        reply_to="",
        to=(),
        cc=(),
        date=None,
        text=_clean_text(_guess_text(raw)),
        html="",
        attachments=(),
        kind=MailKind.NORMAL,
        kind_reason="",
        bounced_message_ids=(),
        defects=(f"the parser failed ({type(error).__name__}); the raw message was kept as text",),
        size=len(raw),
    )


def _missing_message_id(raw: bytes) -> str:
    return f"missing-{hashlib.sha256(raw).hexdigest()}@impactlink.invalid"


def _coerce_bytes(raw: object) -> bytes:
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


class _Defects:
    """Ordered, de-duplicated repair notes."""

    def __init__(self) -> None:
        self._notes: dict[str, None] = {}

    def add(self, note: str) -> None:
        self._notes[note] = None

    def add_stdlib(self, part: Message) -> None:
        for defect in getattr(part, "defects", ()):
            doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
            self.add(f"MIME structure: {doc.rstrip('.')}")

    def as_tuple(self) -> tuple[str, ...]:
        return tuple(self._notes)


def _parse_envelope(raw: bytes, defects: _Defects) -> Message:
    try:
        message: Message = _PARSER.parsebytes(raw)
    except Exception as error:  # noqa: BLE001 - the stdlib parser has raised on fuzzed input
        name = type(error).__name__
        logger.warning("mail parser: stdlib parse failed with %s; keeping the raw text", name)
        defects.add(f"the MIME parser failed ({name}); the raw text was kept")
        message = Message(policy=policy.default)
        message.set_payload(raw.decode("ascii", "surrogateescape"))
        return message
    if not message.keys() and raw[:1].isspace() and raw.strip():
        # A blank line before the headers turns the whole message into body text.
        defects.add("leading blank lines before the headers were removed")
        return _parse_envelope(raw.lstrip(), defects)
    return message


def _top_headers(message: Message) -> dict[str, list[str]]:
    """Map lower-cased header names to their raw, unfolded values in message order."""
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        key = name.strip().lower() if isinstance(name, str) else ""
        if isinstance(value, str):
            headers.setdefault(key, []).append(_unfold(value))
    return headers


def _first(headers: dict[str, list[str]], name: str) -> str:
    values = headers.get(name)
    return values[0] if values else ""


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _clean_text(value: str) -> str:
    """Drop NUL bytes and lone surrogates, which text columns and UTF-8 encoders reject."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


# --- Header text (RFC 2047) -----------------------------------------------------------------

_FOLD = re.compile(r"\r\n|\r|\n")
_WHITESPACE = re.compile(r"\s+")
# Lenient on purpose: real mail puts spaces and "?" inside encoded text, and "*lang" after
# the charset (RFC 2231 section 5).
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?(.*?)\?=")


def _unfold(value: str) -> str:
    return _FOLD.sub("", value)


def _decode_header_text(value: str, defects: _Defects, name: str) -> str:
    """Decode encoded-words and raw 8-bit bytes, then collapse runs of whitespace."""
    if not value:
        return ""
    decoded = _decode_words(value, defects, name) if "=?" in value else _raw_to_text(value)
    return _WHITESPACE.sub(" ", decoded).strip()


def _decode_words(value: str, defects: _Defects, name: str) -> str:
    pieces: list[str] = []
    run_charset: str | None = None
    run_bytes = bytearray()
    position = 0

    def flush() -> None:
        nonlocal run_charset
        if run_charset is not None:
            pieces.append(_decode_bytes(bytes(run_bytes), run_charset, defects, name))
        run_charset = None
        run_bytes.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        # Whitespace between two encoded-words is folding, not content (RFC 2047 section 6.2).
        if run_charset is None or between.strip():
            flush()
            pieces.append(_raw_to_text(between))
        charset = match.group(1).split("*", 1)[0].strip().lower() or "us-ascii"
        payload = _encoded_word_bytes(match.group(2), match.group(3))
        if payload is None:
            defects.add(f"{name}: an encoded-word could not be decoded and was kept as text")
            flush()
            pieces.append(match.group(0))
        elif charset == run_charset:
            # Adjacent words in one charset are joined first because encoders split
            # multi-byte characters across words.
            run_bytes.extend(payload)
        else:
            flush()
            run_charset = charset
            run_bytes.extend(payload)
        position = match.end()
    flush()
    pieces.append(_raw_to_text(value[position:]))
    return "".join(pieces)


def _encoded_word_bytes(encoding: str, text: str) -> bytes | None:
    data = text.encode("ascii", "surrogateescape") if text.isascii() else _raw_bytes(text)
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return _decode_base64(data)


def _decode_base64(data: bytes) -> bytes | None:
    """Decode base64 that may have bad padding or stray characters; None if hopeless."""
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return None


def _raw_bytes(value: str) -> bytes:
    """Recover the bytes the parser read: it decodes input as ASCII with surrogateescape."""
    return value.encode("utf-8", "surrogateescape")


def _raw_to_text(value: str) -> str:
    if value.isascii():
        return value
    return _guess_text(_raw_bytes(value))


# --- Charsets -------------------------------------------------------------------------------

# Labels that Python does not recognise, or maps to a narrower codec, mapped to the codec that
# mail clients mean by them. Text labelled ISO-8859-1 or US-ASCII often contains windows-1252
# punctuation such as curly quotes. The two charsets differ only in bytes 0x80-0x9F, which
# ISO-8859-1 maps to C1 control characters that mail text does not use.
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
}
# Single-byte Latin-script codepages that charset_normalizer often picks for Latin text. When it
# picks one of these, windows-1252 is tried first because it covers English and Afrikaans
# (except the rare ŉ), while windows-1250, a frequent pick, turns "sê" into "sę".
_LATIN_CODECS = {
    "cp1250",
    "cp1252",
    "cp1254",
    "cp1257",
    "latin_1",
    "iso8859_2",
    "iso8859_3",
    "iso8859_4",
    "iso8859_9",
    "iso8859_10",
    "iso8859_13",
    "iso8859_14",
    "iso8859_15",
    "iso8859_16",
    "mac_roman",
    "mac_latin2",
    "mac_iceland",
    "cp850",
    "cp437",
}
_CHARSET_LABEL = re.compile(r"[a-z0-9][a-z0-9._:+-]{0,39}")
# On strings shorter than this, charset_normalizer 3.5 guessed wrong in trials (windows-1250
# for Portuguese, the Urdu cp1006 for "Zoë"), so short byte strings go straight to windows-1252.
_MIN_GUESS_BYTES = 64


def _decode_bytes(data: bytes, charset: str | None, defects: _Defects, where: str) -> str:
    """Decode with the declared charset; guess only when that fails."""
    if not data:
        return ""
    label = (charset or "").strip().strip("\"'").lower()
    if not label:
        return _guess_text(data)
    codec = _CHARSET_ALIASES.get(label, label)
    try:
        if not _CHARSET_LABEL.fullmatch(label):
            raise LookupError(label)
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    except (LookupError, ValueError, UnicodeError):
        # ValueError and UnicodeError come from labels such as "undefined" that name a codec
        # which refuses every input.
        defects.add(f"{where}: unknown charset {label[:40]!r}; the text was decoded by guessing")
        return _guess_text(data)
    if codec in ("utf-8", "utf_8"):
        # A few broken bytes in otherwise valid UTF-8 are better replaced than re-guessed.
        text = data.decode("utf-8", "replace")
        bad = text.count("\ufffd")
        if sum(1 for char in text if char > "\x7f") - bad >= bad:
            defects.add(f"{where}: invalid UTF-8 bytes were replaced")
            return text
    if label in ("iso-8859-1", "iso8859-1", "latin1", "latin-1"):
        return data.decode("latin-1")
    defects.add(f"{where}: text is not valid {label}; the charset was guessed")
    return _guess_text(data)


def _guess_text(data: bytes) -> str:
    """Decode bytes of unknown charset: UTF-8, then charset_normalizer, then windows-1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best() if len(data) >= _MIN_GUESS_BYTES else None
    if best is not None and best.encoding not in _LATIN_CODECS:
        return str(best)
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        pass
    return str(best) if best is not None else data.decode("latin-1")


# --- Addresses, ids and dates ---------------------------------------------------------------

_ADDRESS_FALLBACK = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_ANGLE_ID = re.compile(r"<\s*([^<>\s]+)\s*(?:>|(?=<|\s|$))")


def _pairs(value: str) -> list[tuple[str, str]]:
    if not value:
        return []
    try:
        return getaddresses([value])
    except Exception:  # noqa: BLE001 - getaddresses has raised on crafted input in the past
        return []


def _clean_address(address: str) -> str:
    address = _raw_to_text(address).strip().strip("<>").strip().lower()
    if address.count("@") != 1 or any(char.isspace() for char in address):
        return ""
    local, domain = address.split("@")
    return address if local and "." in domain.strip(".") else ""


def _first_mailbox(value: str, defects: _Defects) -> tuple[str, str]:
    """Return the display name and lower-cased address of the first mailbox in a header."""
    if not value:
        return "", ""
    pairs = _pairs(value)
    name = pairs[0][0] if pairs else ""
    for pair_name, pair_address in pairs:
        address = _clean_address(pair_address)
        if address:
            return _decode_header_text(pair_name, defects, "address name"), address
    decoded = _decode_header_text(value, defects, "address")
    match = _ADDRESS_FALLBACK.search(decoded)
    if match is None:
        # Without a usable address, the whole header is the best name unless a name was parsed.
        if name and "@" in value:
            return _decode_header_text(name, defects, "address name"), ""
        return decoded, ""
    defects.add("an address header could not be parsed; the first address-like text was used")
    before = decoded[: match.start()].strip(" \t\"'<(,")
    return before, match.group(0).lower()


def _address_list(values: Iterable[str]) -> tuple[str, ...]:
    addresses: list[str] = []
    for value in values:
        for _name, address in _pairs(value):
            cleaned = _clean_address(address)
            if cleaned:
                addresses.append(cleaned)
    return tuple(_unique(addresses))


def _message_ids(values: Iterable[str]) -> list[str]:
    """Extract message ids in order, tolerating a missing ">" and ids without brackets."""
    ids: list[str] = []
    for value in values:
        value = _raw_to_text(value)
        if "=?" in value:
            # Some mailers (Outlook among them) wrap long id headers in RFC 2047 encoded words.
            value = _decode_encoded_words(value)
        if "<" in value:
            ids.extend(match.group(1) for match in _ANGLE_ID.finditer(value))
        else:
            ids.extend(token for token in re.split(r"[\s,]+", value) if "@" in token)
    return [_clean_text(i.strip("<>")) for i in ids]


def _decode_encoded_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _first_message_id(value: str) -> str:
    ids = _message_ids([value])
    if ids:
        return ids[0]
    tokens = _raw_to_text(value).split()
    return _clean_text(tokens[0].strip("<>")) if tokens else ""


# Dates outside this range are typing or clock errors (real mail has carried year 3609), so
# they are dropped rather than sorted to the top or bottom of a queue.
_MIN_YEAR = 1980
_MAX_YEAR = 2100


def _parse_date(values: list[str], defects: _Defects) -> datetime | None:
    for value in values:
        parsed = _parse_one_date(value)
        if parsed is None:
            continue
        if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
            defects.add(f"Date year {parsed.year} is implausible and was dropped")
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if any(value.strip() for value in values):
        defects.add("Date header could not be parsed")
    return None


def _parse_one_date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(_raw_to_text(value).strip())
    except Exception:  # noqa: BLE001 - ValueError, TypeError, IndexError or OverflowError
        return None


# --- MIME part headers ----------------------------------------------------------------------

# A parameter in a simple Content-Type or Content-Disposition value: name=token or
# name="quoted string".
_SIMPLE_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
_FILENAME_PARAM = re.compile(r"""(?:file)?name\*?\s*=\s*"?([^";]+)"?""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _PartHeaders:
    """The MIME headers of one part, each parsed once."""

    content_type: str
    params: dict[str, str]
    disposition: str
    disposition_params: dict[str, str]
    transfer_encoding: str
    content_id: str
    raw_content_type: str
    raw_disposition: str

    @classmethod
    def read(cls, part: Message) -> _PartHeaders:
        raw: dict[str, str] = {}
        for name, value in part.raw_items():
            key = name.lower()
            if key.startswith("content-") and key not in raw and isinstance(value, str):
                raw[key] = _unfold(value)
        raw_type = raw.get("content-type")
        params: dict[str, str] = {}
        if raw_type is None:
            content_type = _default_type(part)
        else:
            content_type, params = _split_mime_header(part, "content-type", raw_type)
            if content_type.count("/") != 1:
                content_type = "text/plain"
        raw_disposition = raw.get("content-disposition", "")
        disposition = ""
        disposition_params: dict[str, str] = {}
        if raw_disposition:
            disposition, disposition_params = _split_mime_header(
                part, "content-disposition", raw_disposition
            )
        encoding = raw.get("content-transfer-encoding", "").strip().lower()
        return cls(
            content_type=content_type,
            params=params,
            disposition=disposition if disposition in ("inline", "attachment") else "",
            disposition_params=disposition_params,
            transfer_encoding=re.sub(r"[\s_]+", "-", encoding.split(";", 1)[0].strip()),
            content_id=raw.get("content-id", "").strip().strip("<>").strip(),
            raw_content_type=raw_type or "",
            raw_disposition=raw_disposition,
        )


def _default_type(part: Message) -> str:
    try:
        return part.get_default_type()
    except Exception:  # noqa: BLE001
        return "text/plain"


def _split_mime_header(part: Message, name: str, raw: str) -> tuple[str, dict[str, str]]:
    """Split a MIME header into its lower-cased value and parameters.

    Plain ASCII values are split by a regular expression, which is several times faster than
    the stdlib header classes. Values with RFC 2231 or RFC 2047 encodings, comments or escapes
    go through the stdlib, which decodes them.
    """
    if raw.isascii() and not any(marker in raw for marker in ("*", "(", "\\", "=?")):
        value = raw.split(";", 1)[0].strip().lower()
        params = {
            match.group(1).lower(): (
                match.group(2) if match.group(2) is not None else match.group(3).strip()
            )
            for match in _SIMPLE_PARAM.finditer(raw)
        }
        return value, params
    try:
        header = part.get(name)
        header_params = getattr(header, "params", {})
        params = {key.lower(): str(value) for key, value in header_params.items()}
        value = str(header).split(";", 1)[0].strip().lower()
    except Exception:  # noqa: BLE001 - the stdlib header classes have raised on fuzzed input
        return raw.split(";", 1)[0].strip().lower(), {}
    return value, params


def _filename(headers: _PartHeaders, defects: _Defects) -> str:
    name = headers.disposition_params.get("filename") or headers.params.get("name") or ""
    if not name:
        # The stdlib finds nothing when an encoded-word follows "name=" without quotes.
        for raw in (headers.raw_disposition, headers.raw_content_type):
            match = _FILENAME_PARAM.search(raw)
            if match and "=?" in match.group(1):
                name = match.group(1)
                break
    if "=?" in name:
        name = _decode_header_text(name, defects, "filename")
    elif not name.isascii():
        name = _raw_to_text(name)
    return _safe_filename(name)


def _safe_filename(name: str) -> str:
    """Strip directories and control characters, and cap the length at 200 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip().strip(".")
    if len(name) > 200:
        stem, dot, extension = name.rpartition(".")
        name = stem[:190] + dot + extension if dot and len(extension) < 10 else name[:200]
    return _clean_text(name)


# --- Body and attachments -------------------------------------------------------------------

_HTML_CLEANER = nh3.Cleaner(url_schemes=nh3.ALLOWED_URL_SCHEMES | {"cid"})
_SYNTHETIC_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/feedback-report": ".txt",
    "message/disposition-notification": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/octet-stream": ".bin",
}
_MESSAGE_ID_LINE = re.compile(
    r"^\s*(?:x-original-)?message-id:\s*(<[^>\s]+>?|\S+@\S+)", re.IGNORECASE | re.MULTILINE
)
_ACTION_FIELD = re.compile(r"^action:\s*([a-z]+)", re.IGNORECASE | re.MULTILINE)
_BOUNDARY_LINE = re.compile(r"^--([^\s].{0,200}?)\s*$", re.MULTILINE)
_UU_ENCODINGS = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})


@dataclass
class _Section:
    """Body text found in one branch of the MIME tree."""

    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)


class _Body:
    """Walk a message once, collecting body text, HTML, attachments and report details."""

    def __init__(self, defects: _Defects) -> None:
        self.defects = defects
        self.attachments: list[ParsedAttachment] = []
        self.report_types: list[str] = []
        self.has_delivery_status = False
        self.has_returned_message = False
        self.returned_message_ids: list[str] = []
        # Lower-cased "Action" fields of message/delivery-status parts ("failed", "delayed").
        self.delivery_actions: list[str] = []
        # Text of text/rfc822-headers and message/delivery-status parts, searched for the
        # Message-ID of the returned mail.
        self.returned_texts: list[str] = []
        self._section = _Section()
        self._text = ""
        self._html = ""

    def collect(self, message: Message) -> None:
        try:
            self._visit(message, 0)
        except Exception as error:  # noqa: BLE001 - keep what was collected before the fault
            logger.warning("mail parser: body walk failed (%s)", type(error).__name__)
            self.defects.add(f"part of the body could not be read ({type(error).__name__})")
        self._finish()

    def text(self) -> str:
        return self._text

    def html(self) -> str:
        return self._html

    def bounced_message_ids(self) -> list[str]:
        """Return ids of the returned mail: from attached parts first, then from the text."""
        ids = list(self.returned_message_ids)
        for text in (*self.returned_texts, self._text):
            ids.extend(_message_ids(_MESSAGE_ID_LINE.findall(text)))
        return _unique(ids)

    def _finish(self) -> None:
        html = "\n".join(self._section.htmls)
        text = "\n\n".join(t for t in self._section.texts if t.strip())
        if html.strip() and _nests_too_deeply(html):
            self.defects.add("the HTML body nests too deeply to sanitise; only its text was kept")
            text = text if text.strip() else _strip_tags(html)
        elif html.strip():
            try:
                self._html = _clean_text(_HTML_CLEANER.clean(html))
            except Exception:  # noqa: BLE001 - nh3 rejects some input; drop the HTML then
                self.defects.add("the HTML body could not be sanitised and was dropped")
                text = text if text.strip() else _strip_tags(html)
        if not text.strip() and self._html:
            text = _html_text(self._html, self.defects)
        self._text = _clean_text(text.strip("\n"))

    def _visit(self, part: Message, depth: int) -> None:
        self.defects.add_stdlib(part)
        headers = _PartHeaders.read(part)
        maintype = headers.content_type.split("/", 1)[0]
        if maintype == "message" and headers.content_type != "message/partial":
            self._visit_message_part(part, headers)
        elif maintype == "multipart":
            if depth >= _MAX_DEPTH:
                self.defects.add(f"MIME nesting deeper than {_MAX_DEPTH} levels was dropped")
                return
            children = _subparts(part)
            if children is not None:
                self._visit_multipart(headers, children, depth)
            else:
                self._recover_multipart(part, headers, depth)
        else:
            self._visit_leaf(part, headers)

    def _visit_multipart(self, headers: _PartHeaders, children: list[Message], depth: int) -> None:
        if headers.content_type == "multipart/report":
            self.report_types.append(headers.params.get("report-type", "").lower() or "unknown")
        if headers.content_type == "multipart/alternative":
            self._visit_alternative(children, depth)
            return
        for child in children:
            self._visit(child, depth + 1)

    def _visit_alternative(self, children: list[Message], depth: int) -> None:
        """Keep the last (richest) plain and HTML version, but every attachment inside."""
        outer = self._section
        best = _Section()
        for child in children:
            self._section = _Section()
            self._visit(child, depth + 1)
            if self._section.texts:
                best.texts = self._section.texts
            if self._section.htmls:
                best.htmls = self._section.htmls
        self._section = outer
        outer.texts.extend(best.texts)
        outer.htmls.extend(best.htmls)

    def _recover_multipart(self, part: Message, headers: _PartHeaders, depth: int) -> None:
        """Re-split a multipart body whose boundary parameter is missing or does not match."""
        body = getattr(part, "_payload", None)
        body = body if isinstance(body, str) else ""
        match = _BOUNDARY_LINE.search(body)
        if match is not None:
            boundary = match.group(1)
            boundary = boundary[:-2] if boundary.endswith("--") else boundary
            header = f'Content-Type: {headers.content_type}; boundary="{boundary}"\r\n\r\n'
            try:
                rebuilt = _PARSER.parsebytes(header.encode("ascii", "replace") + _raw_bytes(body))
                children = _subparts(rebuilt)
            except Exception:  # noqa: BLE001 - same stdlib parser as in _parse_envelope
                children = None
            if children:
                self.defects.add(
                    f"{headers.content_type} boundary did not match the body; parts were found "
                    "by the first delimiter line"
                )
                self._visit_multipart(headers, children, depth + 1)
                return
        if not body.strip():
            return
        self.defects.add(f"{headers.content_type} has no parts; its body was read as plain text")
        text = _decode_bytes(_raw_bytes(body), headers.params.get("charset"), self.defects, "body")
        self._section.texts.append(_normalise_newlines(text))

    def _visit_leaf(self, part: Message, headers: _PartHeaders) -> None:
        content_type = headers.content_type
        filename = _filename(headers, self.defects)
        if (
            content_type in ("text/plain", "text/html")
            and headers.disposition != "attachment"
            and not filename
        ):
            self._add_body_text(part, headers)
            return
        payload = _payload_bytes(part, headers, self.defects)
        if content_type == "text/rfc822-headers":
            self.has_returned_message = True
            self.returned_texts.append(_guess_text(payload))
        is_tnef = content_type == "application/ms-tnef" or filename.lower() == "winmail.dat"
        if is_tnef and self._expand_tnef(payload):
            return
        self._add_attachment(headers, payload, filename)

    def _add_body_text(self, part: Message, headers: _PartHeaders) -> None:
        payload = _payload_bytes(part, headers, self.defects)
        text = _decode_bytes(payload, headers.params.get("charset"), self.defects, "body")
        text = _normalise_newlines(text)
        if headers.content_type == "text/html":
            self._section.htmls.append(text)
        elif headers.params.get("format", "").lower() == "flowed":
            delete_space = headers.params.get("delsp", "").lower() == "yes"
            self._section.texts.append(_unflow(text, delete_space))
        else:
            self._section.texts.append(text)

    def _visit_message_part(self, part: Message, headers: _PartHeaders) -> None:
        """Keep an attached message as a file; its text never joins the body."""
        children = _subparts(part)
        if headers.content_type == "message/delivery-status":
            self.has_delivery_status = True
            if children is None:
                payload = _payload_bytes(part, headers, self.defects)
            else:
                payload = _delivery_status_bytes(children)
            status_text = _guess_text(payload)
            self.returned_texts.append(status_text)
            self.delivery_actions.extend(a.lower() for a in _ACTION_FIELD.findall(status_text))
        elif children:
            self.has_returned_message = True
            inner = children[0]
            self.returned_message_ids.extend(
                _message_ids(v for k, v in inner.raw_items() if k.lower() == "message-id")
            )
            payload = _message_bytes(inner)
        else:
            payload = _payload_bytes(part, headers, self.defects)
        self._add_attachment(headers, payload, _filename(headers, self.defects))

    def _add_attachment(self, headers: _PartHeaders, payload: bytes, filename: str) -> None:
        content_id = _clean_text(headers.content_id)
        disposition = headers.disposition
        self.attachments.append(
            ParsedAttachment(
                filename=filename or self._synthetic_name(headers.content_type),
                content_type=headers.content_type,
                payload=payload,
                content_id=content_id,
                inline=disposition == "inline" or (not disposition and bool(content_id)),
            )
        )

    def _synthetic_name(self, content_type: str) -> str:
        extension = _SYNTHETIC_EXTENSIONS.get(content_type)
        if extension is None:
            extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
        return f"attachment-{len(self.attachments) + 1}{extension}"

    def _expand_tnef(self, payload: bytes) -> bool:
        """Replace a winmail.dat with the files inside it; False if tnefparse cannot read it."""
        try:
            tnef = TNEF(payload)
            files = [(_tnef_name(item), bytes(item.data)) for item in tnef.attachments]
        except Exception:  # noqa: BLE001 - tnefparse raises many types on damaged data
            self.defects.add("winmail.dat could not be decoded and was kept as it is")
            return False
        if not files:
            return False
        for name, data in files:
            filename = _safe_filename(name)
            guessed = mimetypes.guess_type(filename, strict=False)[0] if filename else None
            self.attachments.append(
                ParsedAttachment(
                    filename=filename or self._synthetic_name("application/octet-stream"),
                    content_type=guessed or "application/octet-stream",
                    payload=data,
                    content_id="",
                    inline=False,
                )
            )
        return True


def _subparts(part: Message) -> list[Message] | None:
    """Return the child parts of a multipart or message/* part, or None for a leaf."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return None
    return [child for child in payload if isinstance(child, Message)]


def _tnef_name(item: object) -> str:
    try:
        name = item.long_filename()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        name = getattr(item, "name", "")
    if isinstance(name, bytes):
        name = _guess_text(name)
    return str(name or "").strip("\x00")


def _payload_bytes(part: Message, headers: _PartHeaders, defects: _Defects) -> bytes:
    # get_payload() re-decodes 8-bit text with the declared charset, replacing what does not
    # fit, so the undecoded body is read from the attribute the parser stores it in.
    payload = getattr(part, "_payload", None)
    if payload is None or isinstance(payload, list):
        return b""
    data = payload if isinstance(payload, bytes) else _raw_bytes(str(payload))
    encoding = headers.transfer_encoding
    if encoding == "base64":
        decoded = _decode_base64(data)
        if decoded is None:
            defects.add("a base64 part could not be decoded and was kept encoded")
            return data
        return decoded
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    if encoding in _UU_ENCODINGS:
        try:
            decoded_uu = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001
            decoded_uu = None
        return decoded_uu if isinstance(decoded_uu, bytes) else data
    return data


def _message_bytes(message: Message) -> bytes:
    """Serialise an attached message, keeping its original header text and 8-bit bytes."""
    with contextlib.suppress(Exception):  # the generator rejects some damaged headers
        return message.as_bytes(policy=policy.compat32)
    with contextlib.suppress(Exception):
        return _raw_bytes(message.as_string(policy=policy.compat32))
    return b""


def _delivery_status_bytes(blocks: list[Message]) -> bytes:
    lines: list[str] = []
    for block in blocks:
        lines.extend(f"{name}: {_unfold(value)}" for name, value in block.raw_items())
        lines.append("")
    return _raw_bytes("\r\n".join(lines))


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _unflow(text: str, delete_space: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676 section 4)."""
    output: list[str] = []
    current = ""
    current_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        if current_depth not in (-1, depth):
            output.append(_quote(current_depth) + current)
            current = ""
        current_depth = depth
        if content.endswith(" ") and content != "-- ":
            current += content[:-1] if delete_space else content
            continue
        output.append(_quote(depth) + current + content)
        current, current_depth = "", -1
    if current:
        output.append(_quote(max(current_depth, 0)) + current)
    return "\n".join(output)


def _quote(depth: int) -> str:
    return ">" * depth + " " if depth else ""


# nh3 0.3.8 (html5ever) takes time quadratic in the nesting depth of unclosed elements. On the
# 2-CPU AMD EPYC development VM, 10 000 nested <div> elements took 0.26 s and 20 000 took
# 0.75 s, so 200 000 would take an estimated minute. Elements that are void or closed
# implicitly by their next sibling are not counted.
_MAX_OPEN_ELEMENTS = 5000
_HTML_DEPTH_CHECK_FROM = 50_000
_OPENING_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)")
_CLOSING_TAG = re.compile(r"</[a-zA-Z]")
_SELF_CLOSING_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "td",
        "tr",
        "th",
        "option",
        "dt",
        "dd",
    }
)


def _nests_too_deeply(html: str) -> bool:
    if len(html) < _HTML_DEPTH_CHECK_FROM:
        return False
    opened = sum(
        1 for name in _OPENING_TAG.findall(html) if name.lower() not in _SELF_CLOSING_ELEMENTS
    )
    return opened - len(_CLOSING_TAG.findall(html)) > _MAX_OPEN_ELEMENTS


def _strip_tags(html: str) -> str:
    html = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", html)
    text = html_lib.unescape(re.sub(r"<[^>]*>", " ", html))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _html_text(html: str, defects: _Defects) -> str:
    try:
        text = str(html_to_text(html)).strip("\n")
    except Exception:  # noqa: BLE001 - lxml rejects some documents
        text = ""
    if not text.strip():
        # inscriptis 2.7 with lxml 6.1 returned nothing for 300 nested <div> elements, because
        # lxml stops reading such documents.
        text = _strip_tags(html)
        if text:
            defects.add("HTML could not be converted to text; tags were stripped instead")
    return text


# --- Kind detection -------------------------------------------------------------------------

_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery status notification|"
    r"could not send message|mail delivery (?:failed|failure|status)|delivery failure|"
    r"failure notice|mail system error|non-?deliverable|delivery has failed|"
    r"delivery notification|returned to sender|nicht zustellbar|onafleverbaar",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic|matische|matisch|matiese)?[ -]?(?:reply|response|antwort|antwoord|"
    r"respons)|autoreply|autorespond|out of (?:the )?office|ooo\b|"
    r"outomatiese (?:antwoord|respons)|afwesig|buite kantoor|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica|"
    r"on (?:annual )?leave|vacation (?:reply|notice)|away from (?:the|my) office)",
    re.IGNORECASE,
)
# Weaker words that only count together with X-Auto-Response-Suppress. That header requests
# that recipients send no auto-replies, and automated senders of many kinds set it, so on its
# own it does not mark an auto-reply.
_AWAY_SUBJECT = re.compile(r"\b(?:away|absent|on leave|holiday|vakansie|verlof)\b", re.IGNORECASE)
_FAILURE_TEXT = re.compile(
    r"could not be delivered|undeliverable|delivery (?:has )?failed|mailbox (?:is )?full|"
    r"user unknown|no such user|rejected your message",
    re.IGNORECASE,
)
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailer_daemon", "maildaemon"})
_POSTMASTER_LOCAL_PARTS = frozenset({"postmaster"})
_NO_REPLY_LOCAL_PARTS = frozenset({"no-reply", "noreply", "no_reply", "do-not-reply", "donotreply"})


def _classify(
    headers: dict[str, list[str]], subject: str, from_address: str, body: _Body
) -> tuple[MailKind, str]:
    """Return the kind of mail and the header or pattern that decided it."""
    bounce = _bounce_reason(headers, subject, from_address, body)
    if bounce:
        return MailKind.BOUNCE, bounce
    automatic = _auto_reply_reason(headers, body)
    if automatic:
        return MailKind.AUTO_REPLY, automatic
    listed = _list_reason(headers)
    if listed:
        return MailKind.LIST, listed
    late = _late_auto_reply_reason(headers, subject)
    if late:
        return MailKind.AUTO_REPLY, late
    return MailKind.NORMAL, ""


def _bounce_reason(
    headers: dict[str, list[str]], subject: str, from_address: str, body: _Body
) -> str:
    if "delivery-status" in body.report_types or body.has_delivery_status:
        reason = (
            "multipart/report DSN"
            if "delivery-status" in body.report_types
            else "message/delivery-status part"
        )
        if body.delivery_actions and all(a == "delayed" for a in body.delivery_actions):
            # A delay warning: the mail may still be delivered, so callers may not want to
            # mark it failed.
            reason += " (delivery delayed, not failed yet)"
        return reason
    if headers.get("x-failed-recipients"):
        return "X-Failed-Recipients header"
    from_raw = _first(headers, "from").lower()
    local_part = from_address.split("@", 1)[0]
    if local_part in _DAEMON_LOCAL_PARTS or (not from_address and "mailer-daemon" in from_raw):
        return "From MAILER-DAEMON"
    bounce_subject = _BOUNCE_SUBJECT.search(subject) is not None
    null_sender = _null_return_path(headers)
    if local_part in _POSTMASTER_LOCAL_PARTS and (
        bounce_subject or null_sender or body.has_returned_message
    ):
        return "From postmaster with a delivery failure"
    if bounce_subject and (null_sender or _auto_submitted(headers)):
        return "delivery failure subject on automatic mail"
    if (
        local_part in _NO_REPLY_LOCAL_PARTS
        and body.has_returned_message
        and _FAILURE_TEXT.search(body.text()[:4000])
    ):
        return "returned message with delivery failure text"
    return ""


def _auto_submitted(headers: dict[str, list[str]]) -> str:
    value = _first(headers, "auto-submitted").strip().lower()
    value = re.split(r"[\s;(]", value, maxsplit=1)[0]
    return "" if value in ("", "no") else value


def _null_return_path(headers: dict[str, list[str]]) -> bool:
    values = headers.get("return-path")
    return values is not None and values[0].strip().strip("<>").strip() == ""


def _auto_reply_reason(headers: dict[str, list[str]], body: _Body) -> str:
    auto_submitted = _auto_submitted(headers)
    if auto_submitted:
        return f"Auto-Submitted: {auto_submitted}"
    if body.report_types:
        return f"multipart/report {body.report_types[0]}"
    for name, label in (("x-autoreply", "X-Autoreply"), ("x-autorespond", "X-Autorespond")):
        values = headers.get(name)
        if values and values[0].strip().lower() not in ("no", "false", "0"):
            return f"{label} header"
    return ""


def _list_reason(headers: dict[str, list[str]]) -> str:
    if headers.get("list-id"):
        return "List-Id header"
    precedence = _first(headers, "precedence").strip().lower()
    if precedence == "list":
        return "Precedence: list"
    if headers.get("list-unsubscribe") and precedence in ("bulk", "junk"):
        return f"List-Unsubscribe with Precedence: {precedence}"
    return ""


def _late_auto_reply_reason(headers: dict[str, list[str]], subject: str) -> str:
    precedence = _first(headers, "precedence").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    match = _AUTO_REPLY_SUBJECT.search(subject)
    if match:
        return f"auto-reply subject {match.group(0).strip()!r}"
    if headers.get("x-auto-response-suppress") and _AWAY_SUBJECT.search(subject):
        return "X-Auto-Response-Suppress with an away notice subject"
    if _null_return_path(headers):
        return "empty Return-Path (null sender)"
    return ""
