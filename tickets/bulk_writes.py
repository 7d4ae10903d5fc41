"""Update many rows, each with its own values, in one statement per few thousand rows.

Django's `bulk_update` writes one `CASE WHEN id = … THEN …` per field, which PostgreSQL
evaluates row by row against every branch: 2,000 tickets took about 9 s in bench/sla_scheduler.py.
On PostgreSQL this module sends `UPDATE … FROM (VALUES …)` instead, which joins once. Other
databases fall back to `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

# PostgreSQL accepts at most 65,535 bind parameters in one statement.
_MAX_PARAMETERS = 65_535


def update_rows(objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of every object in `objects` (all of one model) to its row."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, list(fields))  # type: ignore[attr-defined]
        return

    meta = model._meta
    columns = [meta.pk] + [meta.get_field(name) for name in fields]
    per_statement = _MAX_PARAMETERS // len(columns)
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(field.column)} = v.{quote(field.column)}"  # type: ignore[union-attr]
        for field in columns[1:]
    )
    names = ", ".join(quote(field.column) for field in columns)  # type: ignore[union-attr]
    for start in range(0, len(objects), per_statement):
        chunk = objects[start : start + per_statement]
        rows = []
        parameters: list[object] = []
        for index, obj in enumerate(chunk):
            placeholders = []
            for field in columns:
                # The first row carries the column types; PostgreSQL infers the rest from it.
                cast = f"::{field.db_type(connection)}" if index == 0 else ""  # type: ignore[union-attr]
                placeholders.append(f"%s{cast}")
                value = getattr(obj, field.attname)  # type: ignore[union-attr]
                parameters.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
            rows.append(f"({', '.join(placeholders)})")
        # Identifiers come from the model's metadata; every value is a bind parameter.
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
            f"FROM (VALUES {', '.join(rows)}) AS v({names}) "
            f"WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}"  # type: ignore[union-attr]
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters)
