"""The one way help centre Markdown becomes HTML: render, then sanitise.

Everything an editor writes is rendered by Python-Markdown and then cleaned by nh3 (the
ammonia sanitiser) against an allowlist. The sanitiser runs after rendering, so raw HTML
inside the Markdown, entity-encoded URLs and links produced by Markdown syntax all pass
through the same filter. It keeps no script or style elements and no event-handler or
style attributes, and it allows only http, https, mailto and tel URLs or relative ones.
"""

from __future__ import annotations

import html
import re

import markdown  # type: ignore[import-untyped]
import nh3

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "dd",
        "del",
        "dl",
        "dt",
        "em",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Elements whose content goes too, not just the tags.
DROPPED_WITH_CONTENT = frozenset({"script", "style", "template", "iframe", "object", "noscript"})

_BLOCK_END = re.compile(r"</(p|li|h[1-6]|tr|td|th|pre|blockquote|dd|dt)>|<br\s*/?>", re.I)
_H1 = re.compile(r"<(/?)h1\b", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def render_markdown(source: str) -> str:
    """Render Markdown to sanitised HTML, safe to insert into a page as it is."""
    converter = markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists"],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )
    # The page's own <h1> is the title, so a top-level heading in the body becomes <h2>.
    rendered = _H1.sub(r"<\1h2", converter.convert(source))
    return sanitise_html(rendered)


def sanitise_html(untrusted_html: str) -> str:
    """Clean HTML against the allowlist; unknown tags are removed and their text kept."""
    return nh3.clean(
        untrusted_html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def html_to_text(safe_html: str) -> str:
    """Return the readable text of rendered HTML, one line per block, for search."""
    with_breaks = _BLOCK_END.sub(lambda match: match.group(0) + "\n", safe_html)
    text = html.unescape(
        nh3.clean(with_breaks, tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT))
    )
    # Search highlighting uses these two private-use characters as markers.
    text = _SPACES.sub(" ", text.replace("\ue000", "").replace("\ue001", ""))
    return _BLANK_LINES.sub("\n", text).strip()
