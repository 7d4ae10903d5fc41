"""Update many rows, each with its own values, in one statement.

Django's `bulk_update` writes one `CASE WHEN id = … THEN …` per field, which PostgreSQL
evaluates row by row against every branch: 2,000 tickets took about 9 s in bench/sla_scheduler.py.
On PostgreSQL this module sends `UPDATE … FROM unnest(…)` instead, with one array parameter
per column, which joins once and keeps the statement small. Other databases fall back to
`bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field, Model


def update_rows(objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of every object in `objects` (all of one model) to its row."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(objects, list(fields))
        return

    meta = model._meta
    assert meta.pk is not None
    columns: list[Field[Any, Any]] = [meta.pk] + [
        cast("Field[Any, Any]", meta.get_field(name)) for name in fields
    ]
    quote = connection.ops.quote_name
    names = [quote(_column(field)) for field in columns]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in columns)
    parameters = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objects]
        for field in columns
    ]
    # Identifiers and types come from the model's metadata; every value is a bind parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({', '.join(names)}) "
        f"WHERE t.{names[0]} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def _column(field: Field[Any, Any]) -> str:
    column = field.column
    assert column is not None, f"{field} has no database column"
    return column
