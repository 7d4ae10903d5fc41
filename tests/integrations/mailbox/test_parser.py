"""Tests for the mail parser on real-world mail, the provider fixtures and hand-built hard cases."""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import struct
from base64 import b64encode
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import integrations.mailbox.parser as parser_module
from integrations.mailbox.parser import (
    MailKind,
    ParsedMail,
    find_ticket_token,
    parse_message,
    strip_reply_prefixes,
)

DATA = Path(__file__).parent / "data"
REALMAIL = DATA / "realmail"
PROVIDERS = DATA / "providers"


# --- Real-world mail: the README table is the expectation -----------------------------------


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def _realmail_rows() -> list[tuple[str, str, str, str]]:
    """Return (path, subject, ticket, att) for every message row of the README table."""
    rows = []
    for line in (REALMAIL / "README.md").read_text(encoding="utf-8").splitlines():
        cells = _cells(line) if line.startswith("|") else []
        if len(cells) == 6 and cells[0].endswith(".eml"):
            rows.append((cells[0], cells[3], cells[4], cells[5]))
    return rows


REALMAIL_ROWS = _realmail_rows()


def _normalise(subject: str) -> str:
    return " ".join(subject.replace("\\t", "\t").split())


# Where the parser deliberately differs from the README, with the reason.
SUBJECT_OVERRIDES = {
    # The README shows what the stdlib gives (U+FFFD for each raw byte). The parser decodes
    # the raw 8-bit bytes as windows-1252 instead.
    "mikel-mail/invalid_subject_characters.eml": (
        "Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro"
    ),
}
KIND_OVERRIDES = {
    # A person wrote it, but through a mailing list: the List-Id header makes it list traffic,
    # which the hub must not reply to automatically.
    "mikel-mail/empty_in_reply_to.eml": MailKind.LIST,
}
ATTACHMENT_OVERRIDES = {
    # The boundary parameter is missing. The parser re-splits the body at the first delimiter
    # line and so keeps the JPEG part that the README counts as lost.
    "mikel-mail/raw_email_with_binary_encoded.eml": {1},
}


def _expected_counts(cell: str) -> set[int]:
    """Read "2" or "2 (0)": the number in brackets is an alternative acceptable count."""
    return {int(number) for number in re.findall(r"\d+", cell)}


def test_readme_lists_every_realmail_file() -> None:
    on_disk = {str(p.relative_to(REALMAIL)) for p in REALMAIL.rglob("*.eml")}

    assert len(REALMAIL_ROWS) == 96
    assert {row[0] for row in REALMAIL_ROWS} == on_disk


@pytest.mark.parametrize(
    ("path", "subject", "ticket", "att"), REALMAIL_ROWS, ids=[row[0] for row in REALMAIL_ROWS]
)
def test_realmail_message(path: str, subject: str, ticket: str, att: str) -> None:
    raw = (REALMAIL / path).read_bytes()

    mail = parse_message(raw)

    assert isinstance(mail, ParsedMail)
    assert mail.size == len(raw)
    assert mail.message_id
    expected_subject = SUBJECT_OVERRIDES.get(path)
    if expected_subject is None:
        expected_subject = "" if subject.startswith("*(") else _normalise(subject)
    if expected_subject.endswith("..."):
        assert mail.subject.startswith(expected_subject[:-3])
    else:
        assert mail.subject == expected_subject
    if path in KIND_OVERRIDES:
        assert mail.kind is KIND_OVERRIDES[path]
    elif ticket == "yes":
        assert mail.kind is MailKind.NORMAL, mail.kind_reason
    else:
        assert mail.kind is not MailKind.NORMAL
        assert mail.kind_reason
    counts = ATTACHMENT_OVERRIDES.get(path, _expected_counts(att))
    assert len(mail.attachments) in counts, [a.filename for a in mail.attachments]


@pytest.mark.parametrize("path", [row[0] for row in REALMAIL_ROWS])
def test_realmail_invariants(path: str) -> None:
    mail = parse_message((REALMAIL / path).read_bytes())

    for value in (
        mail.subject,
        mail.from_name,
        mail.text,
        mail.html,
        *(a.filename for a in mail.attachments),
    ):
        assert "\x00" not in value
        value.encode("utf-8")
    assert mail.date is None or mail.date.tzinfo is not None
    assert mail.from_address == mail.from_address.lower()
    assert all(not i.startswith("<") and not i.endswith(">") for i in mail.references)
    assert all(a.filename for a in mail.attachments)
    assert mail.kind_reason or mail.kind is MailKind.NORMAL


def _realmail(path: str) -> ParsedMail:
    return parse_message((REALMAIL / path).read_bytes())


def test_realmail_rfc2231_filename_with_charset() -> None:
    mail = _realmail("mikel-mail/attachment_with_quoted_filename.eml")

    assert [a.filename for a in mail.attachments] == ["Eelanalüüsi päring.jpg"]
    assert mail.attachments[0].content_type == "image/jpeg"


def test_realmail_raw_8bit_filename() -> None:
    mail = _realmail("mikel-mail/attachment_nonascii_filename.eml")

    assert [a.filename for a in mail.attachments] == ["ciële.txt"]


def test_realmail_unquoted_encoded_word_filename() -> None:
    mail = _realmail("mikel-mail/attachment_with_base64_encoded_name.eml")

    assert [a.filename for a in mail.attachments] == ["This is a test.pdf"]


def test_realmail_continued_utf8_filename() -> None:
    mail = _realmail("mikel-mail/japanese_attachment_long_name.eml")

    assert [a.filename for a in mail.attachments] == ["かきくけこ" * 5 + ".txt"]


def test_realmail_forwarded_message_kept_as_eml() -> None:
    mail = _realmail("mikel-mail/attachment_message_rfc822.eml")

    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]
    attached = parse_message(mail.attachments[0].payload)
    assert attached.attachments
    assert attached.attachments[0].content_type == "application/pdf"
    assert attached.text not in mail.text or not attached.text


def test_realmail_pgp_signed_keeps_signature() -> None:
    mail = _realmail("django-helpdesk/pgp.eml")

    assert mail.text
    assert [a.content_type for a in mail.attachments] == ["application/pgp-signature"]


def test_realmail_uuencoded_attachment_named() -> None:
    mail = _realmail("mikel-mail/content_transfer_encoding_x_uuencode.eml")

    assert [a.filename for a in mail.attachments] == ["PGP_Cmts_on_12-14-01_Pkg.doc"]
    assert mail.attachments[0].content_type == "application/msword"


def test_realmail_missing_boundary_text_recovered() -> None:
    mail = _realmail("mikel-mail/raw_email_with_illegal_boundary.eml")

    assert mail.text.startswith("Hello\nThis is an outlook test")
    assert any("boundary" in defect for defect in mail.defects)


def test_realmail_absurd_date_dropped() -> None:
    mail = _realmail("mikel-mail/raw_email_bad_time.eml")

    assert mail.date is None
    assert any("3609" in defect for defect in mail.defects)


def test_realmail_references_with_broken_id() -> None:
    mail = _realmail("mikel-mail/multiple_references_with_one_invalid.eml")

    assert mail.references
    assert len(mail.references) == len(set(mail.references))
    assert all(" " not in i and "<" not in i for i in mail.references)


def test_realmail_dsn_returns_original_id() -> None:
    mail = _realmail("sisimai/lhost-sendmail-01.eml")

    assert mail.kind is MailKind.BOUNCE
    assert mail.kind_reason == "multipart/report DSN"
    assert mail.bounced_message_ids == ("E1C50F1B-1C83-4820-BC36-AC6FBFBE8568@example.org",)


def test_realmail_delay_warning_marked() -> None:
    mail = _realmail("mikel-mail/report_422.eml")

    assert mail.kind is MailKind.BOUNCE
    assert mail.kind_reason == "multipart/report DSN (delivery delayed, not failed yet)"


def test_realmail_apple_auto_reply_by_subject() -> None:
    mail = _realmail("sisimai/rfc3834-03.eml")

    assert mail.kind is MailKind.AUTO_REPLY
    assert "Auto reply" in mail.kind_reason


# --- Provider fixtures: help@ mailbox of a sister platform ----------------------------------


def _provider(name: str) -> ParsedMail:
    return parse_message((PROVIDERS / name).read_bytes())


def test_provider_new_plain_mail() -> None:
    mail = _provider("01_new_plain.eml")

    assert mail.kind is MailKind.NORMAL
    assert mail.from_name == "Naledi Mahlangu"
    assert mail.from_address == "naledi.mahlangu@example.com"
    assert mail.subject == "Receipt for my EFT donation of R1 500"
    assert mail.to == ("help@giving.example.org",)
    assert mail.date == datetime(2025, 3, 11, 8, 14, 19, tzinfo=timezone(timedelta(hours=2)))
    assert mail.date.utcoffset() == timedelta(hours=2)
    assert "reference SG-EFT-55902" in mail.text


def test_provider_reply_threads_to_first_mail() -> None:
    first = _provider("01_new_plain.eml")
    reply = _provider("02_reply_in_reply_to.eml")

    assert reply.kind is MailKind.NORMAL
    assert reply.in_reply_to == ("ticket-1042.msg-2.20250311T093000@giving.example.org",)
    assert reply.references == (
        first.message_id,
        "ticket-1042.msg-2.20250311T093000@giving.example.org",
    )
    assert strip_reply_prefixes(reply.subject) == first.subject


def test_provider_html_only_windows_1252() -> None:
    mail = _provider("03_html_only_cp1252_rfc2047.eml")

    assert mail.kind is MailKind.NORMAL
    assert mail.from_name == "Zoë Pretorius"
    assert mail.subject == "Skenking aan Kinderhuis – kwitansie asseblief"
    assert "<p>Goeie dag</p>" in mail.html
    assert "“Masakhane Early Learning Trust” geskenk – kan" in mail.text
    assert "my ’n kwitansie" in mail.text
    assert "Zoë Pretorius" in mail.text
    assert "Café Pretorius" in mail.text
    assert "<p>" not in mail.text


def test_provider_auto_reply() -> None:
    mail = _provider("04_auto_reply.eml")

    assert mail.kind is MailKind.AUTO_REPLY
    assert mail.kind_reason == "Auto-Submitted: auto-replied"
    assert mail.in_reply_to == ("ticket-1051.msg-1.20250311T124455@giving.example.org",)


def test_provider_pdf_attachment() -> None:
    state = json.loads((PROVIDERS / "mailbox_state.json").read_text(encoding="utf-8"))
    expected = state["attachment_checks"]["05_pdf_attachment.eml"]

    mail = _provider("05_pdf_attachment.eml")

    assert mail.kind is MailKind.NORMAL
    assert mail.text.startswith("Hi there\n\nPlease find attached my proof of payment")
    assert "<div>" not in mail.text
    assert "<b>R2 000</b>" in mail.html
    assert len(mail.attachments) == 1
    attachment = mail.attachments[0]
    assert attachment.filename == expected["filename"]
    assert attachment.content_type == expected["content_type"]
    assert len(attachment.payload) == expected["size"]
    assert hashlib.sha256(attachment.payload).hexdigest() == expected["sha256"]
    assert attachment.inline is False


def test_provider_outbound_reply_is_normal() -> None:
    mail = _provider("outbound_reply_ticket-1042_msg-3.eml")

    assert mail.kind is MailKind.NORMAL
    assert len(mail.references) == 3
    assert mail.reply_to == "help@giving.example.org"


def test_provider_outbound_acknowledgement_is_automatic() -> None:
    mail = _provider("outbound_ack_ticket-1054_auto_submitted.eml")

    assert mail.kind is MailKind.AUTO_REPLY


def test_provider_dsn_names_bounced_reply() -> None:
    mail = _provider("outbound_bounce_dsn_ticket-1053_msg-2.eml")

    assert mail.kind is MailKind.BOUNCE
    assert mail.kind_reason == "multipart/report DSN"
    assert mail.bounced_message_ids == ("ticket-1053.msg-2.20250311T125010@giving.example.org",)
    assert "Mailbox full" in mail.text
    assert mail.date is not None
    assert mail.date.utcoffset() == timedelta(hours=-7)


# --- Hand-built messages --------------------------------------------------------------------


def _mail(headers: str, body: str = "Hallo\n", *, raw_tail: bytes = b"") -> bytes:
    head = headers.strip("\n").replace("\n", "\r\n")
    return (head + "\r\n\r\n" + body.replace("\n", "\r\n")).encode("utf-8") + raw_tail


BASIC = """\
From: Thandi Nkosi <thandi@example.co.za>
To: help@impactlink.org
Date: Mon, 16 Nov 2026 09:12:00 +0200
Message-ID: <abc@example.co.za>"""


def test_missing_message_id_is_derived() -> None:
    raw = _mail("From: a@example.com\nSubject: hi")

    mail = parse_message(raw)

    assert mail.message_id_missing is True
    assert mail.message_id == f"missing-{hashlib.sha256(raw).hexdigest()}@impactlink.invalid"


def test_message_id_brackets_removed() -> None:
    mail = parse_message(_mail("Message-ID:   <  abc@example.org>  \nSubject: x"))

    assert mail.message_id == "abc@example.org"
    assert mail.message_id_missing is False


def test_date_without_zone_is_utc() -> None:
    mail = parse_message(_mail("Date: Mon, 16 Nov 2026 09:12:00 -0000"))

    assert mail.date == datetime(2026, 11, 16, 9, 12, tzinfo=UTC)


def test_date_garbage_is_none() -> None:
    mail = parse_message(_mail("Date: yesterday at teatime"))

    assert mail.date is None
    assert "Date header could not be parsed" in mail.defects


def test_broken_encoded_words_in_subject_and_name() -> None:
    raw = _mail(
        "From: =?utf-8?B?Wm/DqyBQcmV0b3JpdXM?= <ZOE@Example.CO.ZA>\n"
        "Subject: =?utf-8?Q?Skenking_=E2=80=93_?= =?utf-8?Q?kwitansie_?= "
        "=?x-unknown?B?UjI1MA?= (=?NONE?B?VEVTVA=?=) =?utf-8?Z?kept?="
    )

    mail = parse_message(raw)

    assert mail.from_name == "Zoë Pretorius"
    assert mail.from_address == "zoe@example.co.za"
    assert mail.subject == "Skenking – kwitansie R250 (TEST) =?utf-8?Z?kept?="


def test_multibyte_character_split_across_words() -> None:
    # "ë" is C3 AB in UTF-8; the encoder split it between two encoded-words.
    mail = parse_message(_mail("Subject: =?utf-8?B?Wm/D?= =?utf-8?B?qw==?="))

    assert mail.subject == "Zoë"


def test_raw_latin1_subject_decoded() -> None:
    raw = b"Subject: Kwitansie vir Zo\xeb\r\n\r\nbody\r\n"

    assert parse_message(raw).subject == "Kwitansie vir Zoë"


def test_mislabelled_body_charset_guessed() -> None:
    body = ("Ek het R500 geskenk maar die kwitansie sê Zoë en nie Zoe nie. " * 3).encode("cp1252")
    raw = _mail(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit",
        "",
        raw_tail=body,
    )

    mail = parse_message(raw)

    assert "kwitansie sê Zoë" in mail.text


def test_unknown_charset_label() -> None:
    raw = _mail("Content-Type: text/plain; charset=x-klingon", "Plain words\n")

    mail = parse_message(raw)

    assert mail.text == "Plain words"
    assert any("x-klingon" in defect for defect in mail.defects)


def test_hostile_html_sanitised() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>steal()</script></head><body>"
        '<p onclick="steal()">Dankie vir die skenking</p>'
        '<a href="javascript:steal()">klik</a> <a href="https://impactlink.org">ok</a>'
        '<img src="data:image/png;base64,AAAA" onerror="steal()">'
        '<img src="cid:logo@impactlink">'
        '<iframe src="https://evil.example"></iframe><svg onload="steal()"></svg>'
        '<form action="https://evil.example"><input name=pin></form>'
        "</body></html>"
    )
    raw = _mail(BASIC + "\nContent-Type: text/html; charset=utf-8", html)

    mail = parse_message(raw)

    for forbidden in (
        "<script",
        "steal()",
        "onclick",
        "onerror",
        "onload",
        "javascript:",
        "data:",
        "<iframe",
        "<form",
        "<style",
        "color:red",
    ):
        assert forbidden not in mail.html
    assert 'href="https://impactlink.org"' in mail.html
    assert 'src="cid:logo@impactlink"' in mail.html
    assert "Dankie vir die skenking" in mail.text
    assert "steal" not in mail.text


def test_html_only_converted_to_text() -> None:
    raw = _mail(
        BASIC + "\nContent-Type: text/html; charset=utf-8",
        "<p>Goeie middag</p><ul><li>Kaart</li><li>EFT</li></ul><p>Totsiens</p>",
    )

    mail = parse_message(raw)

    assert "Goeie middag" in mail.text
    assert "Kaart" in mail.text
    assert mail.text.index("Kaart") < mail.text.index("EFT") < mail.text.index("Totsiens")
    assert "<" not in mail.text


MULTIPART_HEAD = BASIC + '\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"'


def test_rfc2231_continued_filename() -> None:
    body = (
        "--b1\nContent-Type: text/plain\n\nSee attached.\n"
        "--b1\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment;\n"
        " filename*0*=utf-8''%E2%80%9CSkenking%20;\n"
        " filename*1*=kwitansie%E2%80%9D%202026.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
        "--b1\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=iso-8859-1''Zo%EB%20Pretorius.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n"
        "--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert [a.filename for a in mail.attachments] == [
        "“Skenking kwitansie” 2026.pdf",
        "Zoë Pretorius.pdf",
    ]
    assert mail.attachments[0].payload == b"%PDF-1.4\n"
    assert mail.text == "See attached."


def test_nameless_parts_get_synthetic_names() -> None:
    body = (
        "--b1\nContent-Type: text/plain\n\nTwo files.\n"
        "--b1\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
        "--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n"
        "--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert [a.filename for a in mail.attachments] == ["attachment-1.png", "attachment-2.pdf"]


def test_uuencoded_part_decoded() -> None:
    content = b"%PDF-1.4 statement for November 2026\n"
    encoded = binascii.b2a_uu(content).decode()
    body = (
        "--b1\nContent-Type: text/plain\n\nStatement attached.\n"
        "--b1\nContent-Type: application/pdf; name=statement.pdf\n"
        "Content-Transfer-Encoding: x-uuencode\n\n"
        f"begin 644 statement.pdf\n{encoded}`\nend\n"
        "--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert mail.attachments[0].payload == content


def test_path_in_filename_removed() -> None:
    body = (
        '--b1\nContent-Type: application/pdf; name="..\\\\..\\\\windows\\\\evil.pdf"\n\nx\n'
        "--b1\nContent-Type: application/pdf\n"
        'Content-Disposition: attachment; filename="../../etc/passwd"\n\nx\n'
        "--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert [a.filename for a in mail.attachments] == ["evil.pdf", "passwd"]


def test_inline_image_kept_with_content_id() -> None:
    png = b64encode(b"\x89PNG\r\n\x1a\n fake").decode()
    body = (
        '--b1\nContent-Type: multipart/related; boundary="b2"\n\n'
        '--b2\nContent-Type: text/html; charset=utf-8\n\n<p>Sien <img src="cid:shot@x"></p>\n'
        f"--b2\nContent-Type: image/png\nContent-ID: <shot@x>\n"
        f"Content-Transfer-Encoding: base64\n\n{png}\n"
        "--b2--\n--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert len(mail.attachments) == 1
    image = mail.attachments[0]
    assert image.content_id == "shot@x"
    assert image.inline is True
    assert image.payload.startswith(b"\x89PNG")
    assert 'src="cid:shot@x"' in mail.html


def test_attached_message_not_merged_into_body() -> None:
    body = (
        "--b1\nContent-Type: text/plain\n\nForwarding the receipt mail.\n"
        "--b1\nContent-Type: message/rfc822\n\n"
        "From: receipts@impactlink.org\nSubject: Your receipt\nMessage-ID: <r1@impactlink.org>\n"
        "\nSECRET INNER TEXT\n"
        "--b1--\n"
    )

    mail = parse_message(_mail(MULTIPART_HEAD, body))

    assert mail.text == "Forwarding the receipt mail."
    assert [a.filename for a in mail.attachments] == ["attachment-1.eml"]
    assert b"SECRET INNER TEXT" in mail.attachments[0].payload
    assert parse_message(mail.attachments[0].payload).subject == "Your receipt"
    assert mail.kind is MailKind.NORMAL


def _tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def _tnef(files: dict[str, bytes]) -> bytes:
    blob = struct.pack("<IH", 0x223E9F78, 1)
    blob += _tnef_object(1, 0x9006, 0x0008, struct.pack("<I", 0x10000))
    for name, data in files.items():
        blob += _tnef_object(2, 0x9002, 0x0006, b"\x01\x00\x00\x00")
        blob += _tnef_object(2, 0x8010, 0x0001, name.encode() + b"\x00")
        blob += _tnef_object(2, 0x800F, 0x0006, data)
    return blob


def _winmail(blob: bytes) -> bytes:
    body = (
        "--b1\nContent-Type: text/plain\n\nSee the files.\n"
        '--b1\nContent-Type: application/ms-tnef; name="winmail.dat"\n'
        'Content-Disposition: attachment; filename="winmail.dat"\n'
        f"Content-Transfer-Encoding: base64\n\n{b64encode(blob).decode()}\n"
        "--b1--\n"
    )
    return _mail(MULTIPART_HEAD, body)


def test_tnef_expanded_into_files() -> None:
    blob = _tnef({"statement.pdf": b"%PDF-1.4 statement", "notes.txt": b"thank you"})

    mail = parse_message(_winmail(blob))

    assert [(a.filename, a.content_type, a.payload) for a in mail.attachments] == [
        ("statement.pdf", "application/pdf", b"%PDF-1.4 statement"),
        ("notes.txt", "text/plain", b"thank you"),
    ]


def test_damaged_tnef_kept_as_is() -> None:
    mail = parse_message(_winmail(b"not a tnef file at all"))

    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert mail.attachments[0].payload == b"not a tnef file at all"
    assert "winmail.dat could not be decoded and was kept as it is" in mail.defects


def test_deep_nesting_is_cut() -> None:
    depth = 60
    opening = "".join(
        f'--n{i}\nContent-Type: multipart/mixed; boundary="n{i + 1}"\n\n' for i in range(depth)
    )
    closing = "".join(f"--n{i}--\n" for i in reversed(range(depth + 1)))
    raw = _mail(
        BASIC + '\nContent-Type: multipart/mixed; boundary="n0"',
        opening + f"--n{depth}\nContent-Type: text/plain\n\ndeep\n" + closing,
    )

    mail = parse_message(raw)

    assert mail.text == ""
    assert any("nesting" in defect for defect in mail.defects)


def test_flowed_text_joined() -> None:
    raw = _mail(
        BASIC + "\nContent-Type: text/plain; charset=utf-8; format=flowed",
        "Dit is 'n lang \nreël wat gevou is.\n> aangehaal \n> teks\n",
    )

    mail = parse_message(raw)

    assert mail.text == "Dit is 'n lang reël wat gevou is.\n> aangehaal teks"


def test_addresses_lowercased_and_listed() -> None:
    raw = _mail(
        'From: "Van der Merwe, Pieter" <Pieter@Example.CO.ZA>\n'
        "Reply-To: finance@example.co.za\n"
        'To: help@impactlink.org, "Sipho" <SIPHO@example.com>\n'
        "Cc: , undisclosed-recipients:;, kagiso@example.com\n"
    )

    mail = parse_message(raw)

    assert mail.from_name == "Van der Merwe, Pieter"
    assert mail.from_address == "pieter@example.co.za"
    assert mail.reply_to == "finance@example.co.za"
    assert mail.to == ("help@impactlink.org", "sipho@example.com")
    assert mail.cc == ("kagiso@example.com",)


def test_unparseable_from_keeps_name() -> None:
    mail = parse_message(_mail("From: Donor Services (no address)"))

    assert mail.from_address == ""
    assert mail.from_name


def test_parser_failure_keeps_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # No known input reaches this safety net, so a fault is injected into one step.
    def fail(*args: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(parser_module, "_classify", fail)
    raw = _mail(BASIC + "\nSubject: Skenking", "Dankie\n")

    mail = parse_message(raw)

    assert mail.text.startswith("From: Thandi Nkosi")
    assert "Dankie" in mail.text
    assert mail.message_id_missing is True
    assert mail.defects == ("the parser failed (RuntimeError); the raw message was kept as text",)
    assert mail.size == len(raw)


# --- Kinds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra_headers", "subject", "kind"),
    [
        ("Auto-Submitted: auto-replied", "Re: Donation", MailKind.AUTO_REPLY),
        ("Auto-Submitted: no", "Re: Donation", MailKind.NORMAL),
        ("Precedence: bulk", "Re: Donation", MailKind.AUTO_REPLY),
        ("Precedence: junk", "Re: Donation", MailKind.AUTO_REPLY),
        ("X-Autoreply: yes", "Re: Donation", MailKind.AUTO_REPLY),
        ("X-Autorespond: Donation", "Re: Donation", MailKind.AUTO_REPLY),
        ("", "Out of Office: Donation", MailKind.AUTO_REPLY),
        ("", "Automatic reply: Donation", MailKind.AUTO_REPLY),
        ("", "Outomatiese antwoord: Skenking", MailKind.AUTO_REPLY),
        ("", "Afwesig: Skenking", MailKind.AUTO_REPLY),
        ("", "Afwesig tot 5 Desember", MailKind.AUTO_REPLY),
        ("X-Auto-Response-Suppress: All", "Away until Monday", MailKind.AUTO_REPLY),
        ("X-Auto-Response-Suppress: All", "Monthly donation", MailKind.NORMAL),
        ("", "Away until Monday, can you hold my refund?", MailKind.NORMAL),
        ("", "I was out of office when the debit order ran", MailKind.NORMAL),
        ("List-Id: <donors.impactlink.org>", "Newsletter", MailKind.LIST),
        ("Precedence: list", "Newsletter", MailKind.LIST),
        ("List-Unsubscribe: <mailto:u@example.org>\nPrecedence: bulk", "News", MailKind.LIST),
        ("List-Unsubscribe: <mailto:u@example.org>", "My donation", MailKind.NORMAL),
        ("", "Returned mail: my refund", MailKind.NORMAL),
        ("X-Failed-Recipients: a@example.org", "Mail failure", MailKind.BOUNCE),
        ("Return-Path: <>", "Receipt", MailKind.AUTO_REPLY),
    ],
)
def test_kind_from_headers(extra_headers: str, subject: str, kind: MailKind) -> None:
    headers = BASIC + f"\nSubject: {subject}" + (f"\n{extra_headers}" if extra_headers else "")

    mail = parse_message(_mail(headers))

    assert mail.kind is kind, mail.kind_reason
    assert bool(mail.kind_reason) is (kind is not MailKind.NORMAL)


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("MAILER-DAEMON@mx.example.net", "Undelivered Mail Returned to Sender"),
        ("Mail Delivery System <mailer-daemon@example.net>", "Returned mail: see transcript"),
        ("postmaster@example.net", "Delivery Status Notification (Failure)"),
        ("postmaster@example.net", "Warning: could not send message for past 4 hours"),
    ],
)
def test_classic_bounce(sender: str, subject: str) -> None:
    raw = _mail(
        f"From: {sender}\nSubject: {subject}\nMessage-ID: <b1@example.net>",
        "Your message could not be delivered.\n\n"
        "------ original headers ------\nMessage-ID: <ticket-1042.msg-3@impactlink.org>\n",
    )

    mail = parse_message(raw)

    assert mail.kind is MailKind.BOUNCE
    assert mail.bounced_message_ids == ("ticket-1042.msg-3@impactlink.org",)


def test_postmaster_person_is_normal() -> None:
    raw = _mail("From: postmaster@example.net\nSubject: Question about your SPF record")

    assert parse_message(raw).kind is MailKind.NORMAL


# --- Subject helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Donation receipt", "Donation receipt"),
        ("RE: RE: Fwd: Donation receipt", "Donation receipt"),
        ("re:re:Donation receipt", "Donation receipt"),
        ("FW: Refund", "Refund"),
        ("Fwd[2]: Refund", "Refund"),
        ("Re[3]: Re: Refund", "Refund"),
        ("Re (2): Refund", "Refund"),
        ("AW: WG: Spende", "Spende"),
        ("Antw: Skenking", "Skenking"),
        ("Antwort: Spende", "Spende"),
        ("SV: VS: Gåva", "Gåva"),
        ("TR: RV: Don", "Don"),
        ("Réf. : Don", "Don"),
        ("RE ： 寄付", "寄付"),
        ("Re: Re: [IL-1042] Refund", "[IL-1042] Refund"),
        ("Refund: double charge", "Refund: double charge"),
        ("Regarding my refund", "Regarding my refund"),
        ("Trust deed", "Trust deed"),
        ("Re:", ""),
        ("", ""),
    ],
)
def test_strip_reply_prefixes(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[IL-1042] Refund", 1042),
        ("Re: Refund [#IL-1042]", 1042),
        ("Re: [il-7] Refund", 7),
        ("[ IL-0042 ]", 42),
        ("AW: [IL-12] and [IL-13]", 12),
        ("IL-1042 without brackets", None),
        ("[IL-] empty", None),
        ("[SG-1042] other platform", None),
        ("[IL-1042a]", None),
        ("[IL-" + "9" * 50 + "]", None),
        ("", None),
    ],
)
def test_find_ticket_token(subject: str, expected: int | None) -> None:
    assert find_ticket_token(subject) == expected


def test_encoded_word_references_decoded() -> None:
    raw = (
        b"From: a@example.org\r\nSubject: Re: x\r\n"
        b"References: =?utf-8?q?=3Cabc=40mail=2Eexample=3E?=\r\n"
        b" <ticket-7.msg-1@impactlink.org>\r\n"
        b"\r\nbody\r\n"
    )

    parsed = parse_message(raw)

    assert parsed.references == ("abc@mail.example", "ticket-7.msg-1@impactlink.org")
