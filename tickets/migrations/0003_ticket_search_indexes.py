"""Indexes for the agents' ticket search (tickets.search), on PostgreSQL only.

The trigram indexes are on the expression Django's icontains lookup compares,
UPPER(column::text), so `subject__icontains="refund"` is answered from the index instead of
scanning the table. Message text has a full-text index on the expression tickets.search
matches. The indexes are built CONCURRENTLY, so a migration on a live database does not block
new mail while it runs. On SQLite every step is a no-op.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "ticket_subject_trgm_idx": "tickets_ticket (UPPER(subject::text) gin_trgm_ops)",
    "contact_email_trgm_idx": "tickets_contact (UPPER(email::text) gin_trgm_ops)",
    "contact_name_trgm_idx": "tickets_contact (UPPER(name::text) gin_trgm_ops)",
    "message_body_fts_idx": "tickets_message (to_tsvector('simple', body_text))",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, target in INDEXES.items():
        table, _, expression = target.partition(" ")
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} USING gin {expression}"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("tickets", "0002_sla_alerts_and_holidays")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
