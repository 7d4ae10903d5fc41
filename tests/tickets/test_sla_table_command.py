"""The sla_table management command, which recomputes an examples table as CSV."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

EXAMPLES_PATH = Path(__file__).parent / "data" / "sla_examples.csv"


def test_command_reproduces_examples_file() -> None:
    output = StringIO()

    call_command("sla_table", str(EXAMPLES_PATH), stdout=output)

    assert output.getvalue() == EXAMPLES_PATH.read_text(encoding="utf-8")


def test_command_fixes_wrong_expectation(tmp_path: Path) -> None:
    original = EXAMPLES_PATH.read_text(encoding="utf-8")
    edited = original.replace("achieved@2026-03-02T11:30", "breached@2026-03-02T11:30")
    assert edited != original
    path = tmp_path / "examples.csv"
    path.write_text(edited, encoding="utf-8")
    output = StringIO()

    call_command("sla_table", str(path), stdout=output)

    assert output.getvalue() == original


def test_command_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Failed to read"):
        call_command("sla_table", str(tmp_path / "missing.csv"), stdout=StringIO())


def test_command_reports_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "examples.csv"
    path.write_text("id,created_at\nX1,2026-03-02T10:00:00+02:00\n", encoding="utf-8")

    with pytest.raises(CommandError, match="missing columns"):
        call_command("sla_table", str(path), stdout=StringIO())


def test_sla_table_rejects_non_utf8(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "table.csv"
    path.write_bytes(b"\xff\xfeid,created_at\n")

    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("sla_table", str(path))


def test_sla_table_rejects_empty_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "table.csv"
    path.write_bytes(b"")

    with pytest.raises(CommandError, match="empty"):
        call_command("sla_table", str(path))
