"""Ticket search for the agents' queue: ticket number, subject, contact and message text.

Each field is searched by its own query, so PostgreSQL can serve each one from an index
(tickets migration 0003), and the ticket ids are combined with UNION. One OR across the
joined tables, which is what the admin builds from `search_fields`, needs a scan of every
ticket, contact and message plus a DISTINCT instead.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.text import smart_split, unescape_string_literal

from tickets.models import Contact, Message, Ticket

# Ticket ids have at most this many digits (bigint), so longer numbers are only text.
_MAX_ID_DIGITS = 18
# Shorter words are not looked for in message text: nearly every message contains them, so
# the search would return the whole queue.
MIN_MESSAGE_WORD = 3
# Must stay the expression of message_body_fts_idx, or PostgreSQL cannot use the index.
_BODY_MATCHES = (
    "to_tsvector('simple', body_text) @@ to_tsquery('simple', quote_literal(%s) || ':*')"
)


def search_tickets(queryset: QuerySet[Ticket], search_term: str) -> QuerySet[Ticket]:
    """Keep the tickets that match every word of the term, as the admin's search does.

    Quoted phrases count as one word. See ticket_ids_matching for what a word matches.
    """
    for word in smart_split(search_term):
        if word[0] in "\"'" and word[0] == word[-1] and len(word) > 1:
            word = unescape_string_literal(word)
        if word:
            queryset = queryset.filter(pk__in=ticket_ids_matching(word))
    return queryset


def ticket_ids_matching(word: str) -> QuerySet[Ticket, Any]:
    """Return the ids of tickets that `word` matches, ignoring case.

    A ticket matches when its number equals the word, or its subject, contact e-mail or
    contact name contains it. Words of MIN_MESSAGE_WORD characters or more also match a ticket
    with a message that has a word starting with them (PostgreSQL full-text prefix matching)
    or, on SQLite, a message that contains them.
    """
    by_subject = Ticket.objects.filter(subject__icontains=word).values("pk")
    contacts = Contact.objects.filter(Q(email__icontains=word) | Q(name__icontains=word))
    by_contact = Ticket.objects.filter(contact__in=contacts.values("pk")).values("pk")
    ids = by_subject.union(by_contact)
    if len(word) >= MIN_MESSAGE_WORD:
        ids = ids.union(_messages_matching(word).order_by().values("ticket_id"))
    if word.isdigit() and len(word) <= _MAX_ID_DIGITS:
        ids = ids.union(Ticket.objects.filter(pk=int(word)).values("pk"))
    return ids


def _messages_matching(word: str) -> QuerySet[Message]:
    if connection.vendor != "postgresql":
        return Message.objects.filter(body_text__icontains=word)
    # A substring search over message bodies rechecks every candidate body: in
    # bench/admin_queue.py (100,000 messages) it took 6 to 40 times as long as this index.
    matches = RawSQL(_BODY_MATCHES, [word], output_field=BooleanField())  # noqa: S611 - bound
    return Message.objects.filter(matches)
