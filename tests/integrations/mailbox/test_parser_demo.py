"""The demo mailbox parses cleanly and contains the cases it promises."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

import integrations.mailbox
from integrations.mailbox.parser import (
    MailKind,
    ParsedMail,
    find_ticket_token,
    parse_message,
    strip_reply_prefixes,
)

DEMO = Path(integrations.mailbox.__file__).parent / "demo"
FILES = sorted(DEMO.glob("*.eml"))
EXPECTED_KINDS = {
    "11-bounce-18a-certificate.eml": MailKind.BOUNCE,
    "16-out-of-office-mosaic.eml": MailKind.AUTO_REPLY,
    "21-newsletter-npo-connect.eml": MailKind.LIST,
    "33-outomatiese-antwoord-vrede.eml": MailKind.AUTO_REPLY,
}
AFRIKAANS_WORDS = {"asseblief", "dankie", "skenking", "groete", "julle", "nie", "ek", "vir"}


@pytest.fixture(scope="module")
def parsed() -> dict[str, ParsedMail]:
    return {path.name: parse_message(path.read_bytes()) for path in FILES}


def test_demo_file_names_numbered() -> None:
    assert len(FILES) >= 45
    for number, path in enumerate(FILES, start=1):
        assert re.fullmatch(rf"{number:02d}-[a-z0-9]+(?:-[a-z0-9]+)*\.eml", path.name)


def test_demo_dates_chronological(parsed: dict[str, ParsedMail]) -> None:
    dates = []
    for path in FILES:
        date = parsed[path.name].date
        assert date is not None, path.name
        assert (date.year, date.month) in ((2026, 11), (2026, 12)), path.name
        assert date.utcoffset() == timedelta(hours=2), path.name
        dates.append(date)

    assert dates == sorted(dates)
    assert any(date.hour >= 18 for date in dates)
    assert any(date.weekday() >= 5 for date in dates)


def test_demo_kinds(parsed: dict[str, ParsedMail]) -> None:
    for name, mail in parsed.items():
        assert mail.kind is EXPECTED_KINDS.get(name, MailKind.NORMAL), (name, mail.kind_reason)
        assert not mail.defects, (name, mail.defects)
        assert "help@impactlink.org" in mail.to, name


def test_demo_bounce_names_hub_message(parsed: dict[str, ParsedMail]) -> None:
    bounce = parsed["11-bounce-18a-certificate.eml"]

    assert bounce.kind_reason == "multipart/report DSN"
    assert bounce.bounced_message_ids == ("ticket-1042.msg-3@impactlink.org",)


def _valid_png(data: bytes) -> bool:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return False
    width, height = struct.unpack(">II", data[16:24])
    idat_length = struct.unpack(">I", data[33:37])[0]
    pixels = zlib.decompress(data[41 : 41 + idat_length])
    return len(pixels) == height * (1 + 3 * width)


def test_demo_attachments(parsed: dict[str, ParsedMail]) -> None:
    with_files = [m for m in parsed.values() if any(not a.inline for a in m.attachments)]
    files = [a for m in parsed.values() for a in m.attachments]
    pdfs = [a for a in files if a.content_type == "application/pdf"]
    pngs = [a for a in files if a.content_type == "image/png"]

    assert len(with_files) >= 4
    assert pdfs
    for attachment in pdfs:
        assert attachment.payload.startswith(b"%PDF-1.4"), attachment.filename
        assert attachment.payload.rstrip().endswith(b"%%EOF"), attachment.filename
    assert pngs
    for attachment in pngs:
        assert _valid_png(attachment.payload), attachment.filename


def test_demo_inline_image(parsed: dict[str, ParsedMail]) -> None:
    inline = [(m, a) for m in parsed.values() for a in m.attachments if a.inline]

    assert len(inline) == 1
    mail, image = inline[0]
    assert image.content_type == "image/png"
    assert f'src="cid:{image.content_id}"' in mail.html


def _thread_roots(parsed: dict[str, ParsedMail]) -> dict[str, list[str]]:
    """Map the first demo message of each thread to the later demo messages in it."""
    names_by_id = {mail.message_id: name for name, mail in parsed.items()}
    threads: dict[str, list[str]] = {}
    for name, mail in parsed.items():
        earlier = [names_by_id[i] for i in mail.references if i in names_by_id]
        if earlier:
            threads.setdefault(earlier[0], []).append(name)
    return threads


def test_demo_threads(parsed: dict[str, ParsedMail]) -> None:
    threads = _thread_roots(parsed)

    assert len(threads) >= 6
    for root, replies in threads.items():
        assert all(reply > root for reply in replies), (root, replies)


def test_demo_reply_without_token(parsed: dict[str, ParsedMail]) -> None:
    replies = [
        mail
        for mail in parsed.values()
        if mail.subject.startswith("Re: ")
        and find_ticket_token(mail.subject) is None
        and mail.references
        and not mail.in_reply_to
    ]

    assert replies


def test_demo_foreign_reply_prefixes(parsed: dict[str, ParsedMail]) -> None:
    originals = {mail.subject for mail in parsed.values()}
    prefixed = [m for m in parsed.values() if re.match(r"(AW|Antw): ", m.subject)]

    assert {m.subject.split(":")[0] for m in prefixed} == {"AW", "Antw"}
    for mail in prefixed:
        base = re.sub(r"\s*\[IL-\d+\]$", "", strip_reply_prefixes(mail.subject))
        assert base in originals


def test_demo_ticket_tokens_match_hub_ids(parsed: dict[str, ParsedMail]) -> None:
    checked = 0
    for mail in parsed.values():
        hub_ids = [i for i in mail.in_reply_to if i.startswith("ticket-")]
        if hub_ids and mail.kind is MailKind.NORMAL:
            assert find_ticket_token(mail.subject) == int(hub_ids[0].split(".")[0][7:])
            checked += 1
    assert checked >= 6


def test_demo_html_only_converted(parsed: dict[str, ParsedMail]) -> None:
    parser = BytesParser(policy=policy.default)
    html_only = []
    for path in FILES:
        message = parser.parsebytes(path.read_bytes())
        has_plain = any(part.get_content_type() == "text/plain" for part in message.walk())
        if not has_plain and message.get_body(preferencelist=("html",)) is not None:
            html_only.append(path.name)

    assert len(html_only) >= 4
    for name in html_only:
        assert parsed[name].html, name
        assert parsed[name].text, name
        assert "<" not in parsed[name].text, name


def test_demo_afrikaans_messages(parsed: dict[str, ParsedMail]) -> None:
    afrikaans = [
        name
        for name, mail in parsed.items()
        if len(AFRIKAANS_WORDS & set(re.findall(r"\w+", mail.text.lower()))) >= 3
    ]

    assert len(afrikaans) >= 5


def test_demo_windows_1252_message(parsed: dict[str, ParsedMail]) -> None:
    raw = (DEMO / "14-maandelikse-skenking-verhoog.eml").read_bytes()

    assert b'charset="windows-1252"' in raw
    assert "by “Wysig bedrag” sê" in parsed["14-maandelikse-skenking-verhoog.eml"].text


def test_demo_encoded_subject(parsed: dict[str, ParsedMail]) -> None:
    encoded = [
        p.name
        for p in FILES
        if re.search(rb"^Subject:.*=\?utf-8\?", p.read_bytes(), re.IGNORECASE | re.MULTILINE)
    ]

    assert encoded
    assert all(not parsed[name].subject.isascii() for name in encoded)
