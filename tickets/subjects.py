"""Subject-line conventions: reply prefixes in several languages and the IL-n ticket token."""

from __future__ import annotations

import re

# Re, Fwd and their equivalents in German (AW, WG), Nordic languages (SV, VS), Dutch and
# Afrikaans (Antw, Doorst), French (TR, Réf), Spanish and Portuguese (RV, RES, ENC), and
# Outlook's counted forms such as "RE[2]:" or "Re^3:".
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|antw(?:oord)?|antwort|doorst|tr|réf|ref|rv|res|enc|vb|odp|"
    r"r|rif|i)\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\[#?IL-(\d{1,12})\]", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def strip_reply_prefixes(subject: str) -> str:
    """Remove leading reply and forward prefixes, however many are chained."""
    return _PREFIX.sub("", subject, count=1).strip()


def find_ticket_token(subject: str) -> int | None:
    """Return the ticket number from a token such as "[IL-1042]" in a subject, if any."""
    match = _TOKEN.search(subject)
    return int(match.group(1)) if match else None


def clean_subject(subject: str) -> str:
    """Return a ticket title: no reply prefixes, no ticket token, single spaces."""
    without_token = _TOKEN.sub("", subject)
    return _SPACES.sub(" ", strip_reply_prefixes(without_token)).strip()
