"""Recognise messages with nothing to act on: empty text or a bare "thanks!"."""

from __future__ import annotations

import re

from .text import fold, words
from .types import MessageText

# Words that make up thank-you notes, greetings and sign-offs in English, Afrikaans,
# isiZulu and isiXhosa. A message made only of these and the sender's own name contains no
# request.
_ACKNOWLEDGEMENT_TEXT = """
    thanks thank thankyou thx tnx ty tx cheers appreciated appreciate much so very many lots
    a lot you all ok okay k kk cool great awesome perfect brilliant lovely nice noted sure
    fine got it good sorted that thats works now done
    hi hello hey dear morning afternoon evening day good have weekend regards kind best
    dankie baie groete mooi dag goeie more middag aand hallo lekker reg
    ngiyabonga siyabonga enkosi kakhulu
"""
ACKNOWLEDGEMENT_WORDS = frozenset(_ACKNOWLEDGEMENT_TEXT.split())

# Longer messages are left to the rules and the classifier even if every word is courteous.
MAX_ACKNOWLEDGEMENT_WORDS = 12


# A reply keeps the subject of the message it replies to, so only its body is the sender's own.
_REPLY_SUBJECT = re.compile(r"^\s*(re|fw|fwd|aw|antw)\s*:", re.IGNORECASE)


def content_free_reason(message: MessageText) -> str | None:
    """Return why a message has nothing to act on, or None if it may be a request."""
    own_text = message.body
    if not _REPLY_SUBJECT.match(message.subject):
        own_text = f"{message.subject} {message.body}"
    tokens = words(fold(own_text))
    if not tokens:
        return "no text to categorise"

    sender_words = set(words(fold(message.from_name)))
    if len(tokens) > MAX_ACKNOWLEDGEMENT_WORDS:
        return None
    if all(token in ACKNOWLEDGEMENT_WORDS or token in sender_words for token in tokens):
        return "only thanks or a greeting, nothing to act on"
    return None
