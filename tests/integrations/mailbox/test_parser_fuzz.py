"""Property tests: the mail parser returns a ParsedMail for any bytes and never raises."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.mailbox.parser import MailKind, ParsedMail, parse_message

DATA = Path(__file__).parent / "data"
SAMPLES = sorted(
    path.read_bytes() for path in (*DATA.rglob("*.eml"),) if path.stat().st_size < 40_000
)
FUZZ_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(raw: bytes) -> ParsedMail:
    mail = parse_message(raw)

    assert isinstance(mail, ParsedMail)
    assert mail.size == len(raw)
    assert mail.message_id
    assert isinstance(mail.kind, MailKind)
    for value in (
        mail.subject,
        mail.from_name,
        mail.text,
        mail.html,
        mail.message_id,
        *mail.references,
        *(a.filename for a in mail.attachments),
    ):
        assert "\x00" not in value
        value.encode("utf-8")
    assert all(isinstance(a.payload, bytes) and a.filename for a in mail.attachments)
    assert mail.date is None or mail.date.tzinfo is not None
    return mail


@FUZZ_SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(raw: bytes) -> None:
    _check(raw)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """Take a stored message and cut, splice, overwrite or duplicate a few byte ranges."""
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        start = draw(st.integers(0, len(raw) - 1))
        end = min(len(raw), start + draw(st.integers(0, 200)))
        action = draw(st.sampled_from(["cut", "insert", "overwrite", "duplicate", "truncate"]))
        if action == "cut":
            del raw[start:end]
        elif action == "insert":
            raw[start:start] = draw(st.binary(min_size=1, max_size=64))
        elif action == "overwrite":
            raw[start:end] = draw(st.binary(min_size=end - start, max_size=end - start))
        elif action == "duplicate":
            raw[start:start] = raw[start:end] * draw(st.integers(1, 20))
        else:
            del raw[start:]
    return bytes(raw)


@FUZZ_SETTINGS
@given(mutated_samples())
def test_mutated_real_mail_never_raises(raw: bytes) -> None:
    _check(raw)


# Fragments that reach the parser's repair paths: encoded-words, RFC 2231 parameters,
# boundaries, transfer encodings, charsets and the headers that decide the kind of mail.
HEADER_LINES = st.sampled_from(
    [
        "Subject: =?utf-8?B?",
        "Subject: =?x-unknown?Q?=E9t=E9?=",
        "Subject: Re: AW: [IL-12]",
        "From: =?utf-8?Q?Zo=C3=AB?= <zoe@example.org>",
        "From: <>",
        "From: mailer-daemon",
        'From: "a@b" <c@d',
        "To: ,,;",
        "Cc: undisclosed-recipients:;",
        "Message-ID: <",
        "Message-ID:",
        "References: <a@b> <c@d <e@f>",
        "In-Reply-To: (x) <a@b>",
        "Date: Mon, 31 Feb 99999 25:61:61 +9999",
        "Date: Tue, 1 Dec 2026 09:00:00",
        "Auto-Submitted: auto-replied (vacation)",
        "Precedence: bulk",
        "List-Id: <x.example>",
        "Return-Path: <>",
        "X-Failed-Recipients: a@b",
        "X-Auto-Response-Suppress: All",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="b"',
        "Content-Type: multipart/mixed",
        "Content-Type: multipart/alternative; boundary=b",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b",
        "Content-Type: multipart/signed; boundary=b",
        'Content-Type: text/plain; charset="utf-7"',
        "Content-Type: text/html; charset=big5",
        "Content-Type: text/plain; format=flowed; delsp=yes",
        "Content-Type: message/rfc822",
        "Content-Type: message/delivery-status",
        "Content-Type: application/ms-tnef",
        "Content-Type: text/rfc822-headers",
        "Content-Type: image/png; name*0*=utf-8''%E2%80;",
        "Content-Type: application/pdf; name*=x''%FF%FE",
        "Content-Type: ;;;===",
        "Content-Disposition: attachment; filename==?utf-8?B?YS5wZGY=?=",
        'Content-Disposition: inline; filename="../../a\x01b"',
        "Content-ID: <cid@x>",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted printable",
        "Content-Transfer-Encoding: x-uuencode",
        "Content-Transfer-Encoding: 8bit",
    ]
)
BODY_LINES = st.sampled_from(
    [
        "",
        "--b",
        "--b--",
        "--",
        "Hallo daar",
        "SGVsbG8=",
        "=E9=",
        "=?utf-8?B?",
        "begin 644 a.txt",
        "end",
        "<html><script>x()</script><p onclick=x()>hi</p>",
        "Message-ID: <orig@x>",
        "Final-Recipient: rfc822; a@b",
        "Action: failed",
        "> quoted ",
        "x" * 300,
    ]
)


@st.composite
def mime_like(draw: st.DrawFn) -> bytes:
    """Assemble messages from MIME fragments, with random bytes mixed in."""
    lines = draw(st.lists(HEADER_LINES, max_size=12))
    lines.append("")
    for _ in range(draw(st.integers(0, 30))):
        if draw(st.booleans()):
            lines.extend(draw(st.lists(HEADER_LINES, max_size=3)) + [""])
        lines.append(draw(BODY_LINES))
    separator = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    raw = separator.join(lines).encode("utf-8", "surrogateescape")
    noise = draw(st.binary(max_size=40))
    position = draw(st.integers(0, len(raw)))
    return raw[:position] + noise + raw[position:]


@FUZZ_SETTINGS
@given(mime_like())
def test_mime_fragments_never_raise(raw: bytes) -> None:
    _check(raw)


def test_non_bytes_input_is_tolerated() -> None:
    assert parse_message(bytearray(b"Subject: hi\r\n\r\nx")).subject == "hi"
    assert parse_message(memoryview(b"Subject: hi\r\n\r\nx")).subject == "hi"
    assert parse_message("Subject: hi\n\nx").subject == "hi"  # type: ignore[arg-type]
    assert parse_message(None).size == 0  # type: ignore[arg-type]


def test_empty_input() -> None:
    mail = _check(b"")

    assert mail.message_id_missing is True
    assert mail.text == ""
    assert mail.kind is MailKind.NORMAL
