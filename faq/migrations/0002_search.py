"""PostgreSQL search support: unaccent, pg_trgm, a text search configuration and indexes.

Every step here is a no-op on SQLite, where faq.search falls back to plain matching.
"""

from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations

FORWARD = [
    # English stemming applied after unaccent, so "café" and "cafe" index the same lexeme.
    "CREATE TEXT SEARCH CONFIGURATION faq_unaccent (COPY = english)",
    "ALTER TEXT SEARCH CONFIGURATION faq_unaccent ALTER MAPPING "
    "FOR hword, hword_part, word WITH unaccent, english_stem",
    "CREATE INDEX faq_article_search_idx ON faq_article USING gin (search_vector)",
    "CREATE INDEX faq_searchterm_trgm_idx ON faq_searchterm USING gin (word gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS faq_searchterm_trgm_idx",
    "DROP INDEX IF EXISTS faq_article_search_idx",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS faq_unaccent",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("faq", "0001_initial")]

    operations = [
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunPython(_run(FORWARD), _run(BACKWARD)),
    ]
