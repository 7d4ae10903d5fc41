from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from faq.rendering import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, html_to_text, render_markdown

# Each entry is Markdown an editor (or an attacker with an editor's password) could save.
HOSTILE_MARKDOWN = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    '<img src="x" onerror="alert(1)">',
    "<img src=x onerror=alert(1)//",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    '<body onload="alert(1)">text',
    '<a href="#" onclick="alert(1)">click</a>',
    '<div style="background:url(javascript:alert(1))">styled</div>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    "<!--<script>alert(1)</script>-->",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click]( javascript:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;avascript&#x3A;alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](%6Aavascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pixel](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![pixel](javascript:alert(1))",
    "[ref link][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105'
    '&#0000112&#0000116&#0000058alert(1)">x</a>',
    '<a href="jav&#x0A;ascript:alert(1)">x</a>',
    '<a href="java&#9;script:alert(1)">x</a>',
    '<a href=" &#14;  javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "**bold <img src=x onerror=alert(1)> text**",
    "> quote <script>alert(1)</script>",
    "* item [x](javascript:alert(1))\n* item <b onmouseover=alert(1)>b</b>",
    "```\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "| a | b |\n| - | - |\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    '<a href="https://example.org" target="_blank" onfocus="alert(1)" autofocus>ok</a>',
    '<p id="csrfmiddlewaretoken" name="x" class="evil">clobber</p>',
    '<input type="hidden" name="helpful" value="yes">',
    "<style>body{display:none}</style>hidden",
]


class ElementCollector(HTMLParser):
    """Collects every start tag and its attributes as a browser's tokenizer reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


def elements_of(rendered: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = ElementCollector()
    collector.feed(rendered)
    collector.close()
    return collector.elements


SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.I)
SAFE_SCHEMES = {"http", "https", "mailto", "tel"}


def is_safe_url(value: str | None) -> bool:
    """Check a URL the way browsers parse it: outer spaces and controls stripped, tabs and
    newlines removed, then a scheme (if any) must be one of the safe ones."""
    cleaned = re.sub(r"[\t\n\r]", "", (value or "").strip("\x00\x01\x02\x03\x04\x05 \x0b\x0c"))
    scheme = SCHEME.match(cleaned)
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_hostile_markdown_is_neutralised(source: str) -> None:
    rendered = render_markdown(source)

    for tag, attributes in elements_of(rendered):
        assert tag in ALLOWED_TAGS, f"<{tag}> in {rendered!r}"
        for name, value in attributes:
            assert name in ALLOWED_ATTRIBUTES.get(tag, set()) | {"rel"}, f"{name}= in {rendered!r}"
            if name in ("href", "src"):
                assert is_safe_url(value), f"{name}={value!r} in {rendered!r}"


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_rendering_is_stable_when_repeated(source: str) -> None:
    # Sanitising already-sanitised output must not reveal anything new.
    once = render_markdown(source)

    assert render_markdown(once) == render_markdown(render_markdown(once))


def test_every_link_keeps_a_safe_scheme() -> None:
    rendered = render_markdown("\n\n".join(HOSTILE_MARKDOWN))

    urls = [
        value or ""
        for _, attributes in elements_of(rendered)
        for name, value in attributes
        if name in ("href", "src")
    ]
    assert urls
    for url in urls:
        assert is_safe_url(url), url


def test_code_blocks_show_markup_as_text() -> None:
    rendered = render_markdown("```\n<script>alert(1)</script>\n```")

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_ordinary_formatting_survives() -> None:
    source = (
        "## Heading\n\nSome **bold**, *italic* and `code`.\n\n"
        "1. one\n2. two\n\n"
        "| Where | What |\n| --- | :-: |\n| E-mail | PDF |\n\n"
        "[Receipts](../making-donations/donation-receipts) and "
        "[SARS](https://www.sars.gov.za/) or [mail](mailto:help@impactlink.org).\n"
    )

    rendered = render_markdown(source)

    assert "<h2>Heading</h2>" in rendered
    assert "<strong>bold</strong>" in rendered
    assert "<ol>" in rendered
    assert '<td align="center">PDF</td>' in rendered
    assert 'href="../making-donations/donation-receipts"' in rendered
    assert 'href="https://www.sars.gov.za/"' in rendered
    assert 'href="mailto:help@impactlink.org"' in rendered
    assert 'rel="noopener noreferrer"' in rendered


def test_html_to_text_keeps_blocks_apart() -> None:
    text = html_to_text(render_markdown("## Fees\n\nWe charge **R5** &amp; VAT.\n\n* one\n* two"))

    assert text.splitlines() == ["Fees", "We charge R5 & VAT.", "one", "two"]
