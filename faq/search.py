"""Help centre search: ranked, accent-insensitive and tolerant of small typos.

On PostgreSQL, each query word missing from the published articles is first corrected to
the nearest of their words: pg_trgm finds candidates by trigram similarity, and the one
within one or two edits (letter swaps included) wins. The words are then matched with
full-text search through the faq_unaccent configuration (unaccent, then English stemming).
Title words weigh most, then summary and tags, then the body; articles that contain every
query word rank above those that contain some. Snippets come from ts_headline.

On SQLite the same steps run in Python: difflib finds the correction candidates in the
same vocabulary, and the words are matched as substrings of the folded text and scored by
where they occur.

Snippets are built from plain text, HTML-escaped, and only then given <mark> tags, so
they are safe to insert into a page.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from django.db import connection
from django.utils.html import escape

from faq import cache as content_cache
from faq.models import Article, SearchTerm
from faq.services import SEARCH_CONFIG
from faq.text import edit_distance, fold, words

MAX_QUERY_WORDS = 8
MAX_WORD_LENGTH = 40
RESULT_LIMIT = 10
# Words shorter than this are never corrected: too many short words are one edit apart.
MIN_CORRECTED_LENGTH = 4
# Vocabulary words considered as corrections of one query word.
CANDIDATES_PER_WORD = 8
# Highlight markers: private-use characters that rendered article text never contains.
MARK_START = "\ue000"
MARK_END = "\ue001"


@dataclass(frozen=True)
class SearchHit:
    article_id: int
    title: str
    title_html: str
    slug: str
    category_slug: str
    category_title: str
    summary: str
    snippet_html: str
    score: float


@dataclass(frozen=True)
class SearchResults:
    query: str
    words: tuple[str, ...]
    # The query words after typo correction; equal to words when nothing was corrected.
    corrected_words: tuple[str, ...]
    hits: tuple[SearchHit, ...]

    @property
    def corrected(self) -> bool:
        return self.words != self.corrected_words


def query_words(query: str) -> tuple[str, ...]:
    found = [word[:MAX_WORD_LENGTH] for word in words(query)]
    return tuple(dict.fromkeys(found))[:MAX_QUERY_WORDS]


def search_articles(query: str, *, limit: int = RESULT_LIMIT) -> SearchResults:
    """Return the best published articles for a query, cached per content version."""
    terms = query_words(query)
    if not terms:
        return SearchResults(query, (), (), ())
    key = content_cache.hashed_key("faq:search", " ".join(terms), str(limit))
    version = 0
    if content_cache.cache_enabled():
        cached, version = content_cache.get_versioned(key)
        if cached is not None:
            return SearchResults(query, terms, cached[0], cached[1])
    if connection.vendor == "postgresql":
        corrected = _correct_postgres(terms)
        hits = _search_postgres(corrected, limit)
    else:
        corrected = _correct_python(terms)
        hits = _search_python(corrected, limit)
    if content_cache.cache_enabled():
        content_cache.set_versioned(key, (corrected, hits), version=version)
    return SearchResults(query, terms, corrected, hits)


def _correct_postgres(terms: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [term for term in terms if len(term) >= MIN_CORRECTED_LENGTH]
    if unknown:
        known = set(SearchTerm.objects.filter(word__in=unknown).values_list("word", flat=True))
        unknown = [term for term in unknown if term not in known]
    if not unknown:
        return terms
    # pg_trgm's % operator (similarity of at least pg_trgm.similarity_threshold, 0.3 unless
    # changed) finds the candidates through the trigram index; edit distance picks one.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.position, match.word, match.similarity, match.documents
            FROM unnest(%s::text[]) WITH ORDINALITY AS t(token, position)
            JOIN LATERAL (
                SELECT word, similarity(word, t.token) AS similarity, documents
                FROM faq_searchterm
                WHERE length(t.token) >= %s AND word %% t.token
                ORDER BY similarity(word, t.token) DESC, documents DESC, word
                LIMIT %s
            ) AS match ON true
            """,
            [unknown, MIN_CORRECTED_LENGTH, CANDIDATES_PER_WORD],
        )
        rows = cursor.fetchall()
    candidates: dict[str, list[tuple[str, float, int]]] = {}
    for position, word, similarity, documents in rows:
        candidates.setdefault(unknown[position - 1], []).append((word, similarity, documents))
    return tuple(
        _choose_correction(term, candidates[term]) if term in candidates else term for term in terms
    )


def _choose_correction(term: str, candidates: list[tuple[str, float, int]]) -> str:
    """Return the candidate closest to term by edit distance, or term when none is close.

    Candidates are (word, similarity, documents); ties go to the more similar, then the
    more common word.
    """
    if len(term) < MIN_CORRECTED_LENGTH or any(word == term for word, _, _ in candidates):
        return term
    allowed = 1 if len(term) <= 5 else 2
    scored = [
        (edit_distance(term, word), -similarity, -documents, word)
        for word, similarity, documents in candidates
    ]
    close = [entry for entry in scored if entry[0] <= allowed]
    return min(close)[3] if close else term


def _search_postgres(terms: tuple[str, ...], limit: int) -> tuple[SearchHit, ...]:
    # Articles with every word outrank the others, so when they fill the page the wider
    # match (and ranking its often much larger set) is not needed.
    if len(terms) > 1:
        hits = _run_postgres_search(terms, limit, every_word=True)
        if len(hits) >= limit:
            return hits
    return _run_postgres_search(terms, limit, every_word=False)


def _run_postgres_search(
    terms: tuple[str, ...], limit: int, *, every_word: bool
) -> tuple[SearchHit, ...]:
    match = "q.every_word" if every_word else "q.any_word"
    options = (
        f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, "
        'MaxFragments=2, FragmentDelimiter=" … "'
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH q AS (
                SELECT websearch_to_tsquery(%(config)s, %(all_words)s) AS every_word,
                       websearch_to_tsquery(%(config)s, %(any_word)s) AS any_word
            ), ranked AS (
                SELECT a.id, a.title, a.slug, a.summary, a.body_text, c.slug AS category_slug,
                       c.title AS category_title,
                       ts_rank('{0.1, 0.2, 0.4, 1.0}', a.search_vector, q.any_word)
                         * CASE WHEN a.search_vector @@ q.every_word THEN 2 ELSE 1 END AS score
                FROM faq_article a JOIN faq_category c ON c.id = a.category_id, q
                WHERE a.published AND a.search_vector @@ MATCH_CONDITION
                ORDER BY score DESC, a.id
                LIMIT %(limit)s
            )
            SELECT r.id, r.title, r.slug, r.summary, r.category_slug, r.category_title, r.score,
                   ts_headline(%(config)s, r.title, q.any_word, %(title_options)s),
                   ts_headline(%(config)s, r.body_text, q.any_word, %(options)s)
            FROM ranked r, q
            ORDER BY r.score DESC, r.id
            """.replace("MATCH_CONDITION", match),  # one of two fixed names, never user input
            {
                "config": SEARCH_CONFIG,
                "all_words": " ".join(terms),
                "any_word": " or ".join(terms),
                "limit": limit,
                "options": options,
                "title_options": f"StartSel={MARK_START}, StopSel={MARK_END}, HighlightAll=true",
            },
        )
        rows = cursor.fetchall()
    return tuple(
        SearchHit(
            article_id=row[0],
            title=row[1],
            slug=row[2],
            summary=row[3],
            category_slug=row[4],
            category_title=row[5],
            score=float(row[6]),
            title_html=marked_html(row[7]),
            snippet_html=marked_html(row[8]),
        )
        for row in rows
    )


def marked_html(text: str) -> str:
    """Escape text and turn the highlight markers into <mark> elements."""
    escaped = str(escape(text))
    opened = escaped.count(MARK_START)
    html = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    if opened != escaped.count(MARK_END):
        return str(escape(text.replace(MARK_START, "").replace(MARK_END, "")))
    return html


def _correct_python(terms: tuple[str, ...]) -> tuple[str, ...]:
    if all(len(term) < MIN_CORRECTED_LENGTH for term in terms):
        return terms
    documents = dict(SearchTerm.objects.values_list("word", "documents"))
    corrected = []
    for term in terms:
        close = difflib.get_close_matches(term, documents, n=CANDIDATES_PER_WORD, cutoff=0.6)
        ratios = [difflib.SequenceMatcher(None, term, word).ratio() for word in close]
        candidates = [
            (word, ratio, documents[word]) for word, ratio in zip(close, ratios, strict=True)
        ]
        corrected.append(_choose_correction(term, candidates))
    return tuple(corrected)


_SUFFIXES = ("ations", "ation", "ings", "ing", "ions", "ion", "ies", "es", "ed", "s")


def _stem(term: str) -> str:
    """Return term without a common English ending, for substring matching: "donations"
    becomes "donat", which also matches "donate" and "donation"."""
    for suffix in _SUFFIXES:
        if term.endswith(suffix) and len(term) - len(suffix) >= 4:
            return term[: -len(suffix)]
    return term


def _search_python(terms: tuple[str, ...], limit: int) -> tuple[SearchHit, ...]:
    from django.db.models import Q

    stems = [_stem(term) for term in terms]
    condition = Q()
    for stem in stems:
        condition |= Q(search_text__contains=stem)
    candidates = (
        Article.objects.filter(condition, published=True)
        .select_related("category")
        .only(
            "id",
            "title",
            "slug",
            "summary",
            "tags",
            "body_text",
            "category__slug",
            "category__title",
        )
    )
    scored: list[tuple[float, Article]] = []
    for article in candidates:
        score = _python_score(article, stems)
        if score > 0:
            scored.append((score, article))
    scored.sort(key=lambda pair: (-pair[0], pair[1].pk))
    return tuple(
        SearchHit(
            article_id=article.pk,
            title=article.title,
            slug=article.slug,
            summary=article.summary,
            category_slug=article.category.slug,
            category_title=article.category.title,
            score=score,
            title_html=_highlight(article.title, stems, whole=True),
            snippet_html=_highlight(article.body_text, stems, whole=False),
        )
        for score, article in scored[:limit]
    )


def _python_score(article: Article, stems: list[str]) -> float:
    title = fold(article.title)
    secondary = fold(" ".join([article.summary, *article.tags]))
    body = fold(article.body_text)
    score = 0.0
    matched = 0
    for stem in stems:
        in_title, in_secondary, in_body = stem in title, stem in secondary, stem in body
        matched += in_title or in_secondary or in_body
        score += 1.0 * in_title + 0.4 * in_secondary + 0.1 * min(body.count(stem), 5)
    if matched == len(stems):
        score *= 2
    return score


def _highlight(text: str, stems: list[str], *, whole: bool, window: int = 110) -> str:
    """Return escaped text around the first match, with every word that starts with a stem
    marked; the title is returned whole."""
    folded = fold(text)
    positions = sorted(
        (match.start(), match.end())
        for stem in stems
        for match in re.finditer(rf"\b{re.escape(stem)}\w*", folded)
    )
    if whole:
        start, end = 0, len(text)
    else:
        first = positions[0][0] if positions else 0
        start = _word_start(text, max(0, first - window // 2))
        end = _word_end(text, min(len(text), start + 2 * window))
    pieces: list[str] = []
    cursor = start
    for match_start, match_end in positions:
        if match_start < cursor or match_end > end:
            continue
        pieces.append(text[cursor:match_start])
        pieces.append(MARK_START + text[match_start:match_end] + MARK_END)
        cursor = match_end
    pieces.append(text[cursor:end])
    snippet = "".join(pieces)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return marked_html(prefix + snippet + suffix)


def _word_start(text: str, position: int) -> int:
    """Move position forward to the start of a word, unless it is at the start already."""
    if position == 0:
        return 0
    space = text.find(" ", position)
    return space + 1 if space != -1 else position


def _word_end(text: str, position: int) -> int:
    """Move position back to the end of a word, unless it is at the end already."""
    if position >= len(text):
        return len(text)
    space = text.rfind(" ", 0, position)
    return space if space > 0 else position
