"""The categoriser's database side: rule loading, active rules and the management commands."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tickets.categorisation.categories import LABELS, PAYMENT
from tickets.categorisation.classifier import TextClassifier
from tickets.categorisation.rules import default_rules
from tickets.categorisation.selectors import active_rules, current_classifier
from tickets.categorisation.service import categorise_text, load_default_rules
from tickets.categorisation.training import default_classifier
from tickets.models import Category, CategoryRule


def run(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_category_values_match_model() -> None:
    assert dict(Category.choices) == LABELS


@pytest.mark.django_db
def test_load_category_rules_is_idempotent() -> None:
    first, _ = run("load_category_rules")
    count = CategoryRule.objects.count()
    second, _ = run("load_category_rules")

    assert count == len(default_rules())
    assert CategoryRule.objects.count() == count
    assert f"{count} created, 0 already present" in first
    assert f"0 created, {count} already present" in second


@pytest.mark.django_db
def test_load_category_rules_keeps_admin_edits() -> None:
    load_default_rules()
    edited = CategoryRule.objects.get(category=PAYMENT, phrase="snapscan", field="any")
    edited.weight = 0.25
    edited.enabled = False
    edited.save()
    CategoryRule.objects.filter(category=PAYMENT, phrase="zapper").update(phrase="ZAPPER")

    result = load_default_rules()

    edited.refresh_from_db()
    assert result.created == 0
    assert edited.weight == 0.25
    assert edited.enabled is False
    assert not CategoryRule.objects.filter(category=PAYMENT, phrase="zapper").exists()


@pytest.mark.django_db
def test_load_category_rules_rejects_invalid_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"category": "uncategorised", "phrase": "hello"}]))

    with pytest.raises(CommandError, match="invalid"):
        run("load_category_rules", "--file", str(path))
    assert CategoryRule.objects.count() == 0


@pytest.mark.django_db
def test_active_rules_follow_edits() -> None:
    rule = CategoryRule.objects.create(category=PAYMENT, phrase="payshap", weight=2.0)
    first = active_rules()

    rule.enabled = False
    rule.save()
    second = active_rules()

    assert [r.phrase for r in first] == ["payshap"]
    assert second == ()
    assert active_rules() is second


@pytest.mark.django_db
def test_active_rules_skip_invalid_rows() -> None:
    CategoryRule.objects.create(category=PAYMENT, phrase="!!!", weight=2.0)
    CategoryRule.objects.create(category=PAYMENT, phrase="eft", weight=2.0)

    assert [rule.phrase for rule in active_rules()] == ["eft"]


def _write_messages(tmp_path, lines: list[str]):  # type: ignore[no-untyped-def]
    path = tmp_path / "sample.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_LINES = [
    json.dumps(
        {
            "id": "m1",
            "channel": "chat",
            "subject": "",
            "body": "My SnapScan payment failed",
            "from_name": "A",
            "from_email": "",
            "category": "ignored",
        }
    ),
    json.dumps(
        {"id": 2, "channel": "email", "subject": "Wagwoord", "body": "Ek kan nie aanmeld nie"}
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [[], ["--rules-only"]])
def test_categorise_command_output_format(tmp_path, mode: list[str]) -> None:  # type: ignore[no-untyped-def]
    load_default_rules()
    path = _write_messages(tmp_path, GOOD_LINES)

    stdout, stderr = run("categorise", str(path), *mode)

    rows = [json.loads(line) for line in stdout.splitlines()]
    assert stderr == ""
    assert [set(row) for row in rows] == [{"id", "category", "reason"}] * 2
    assert [row["id"] for row in rows] == ["m1", 2]
    assert [row["category"] for row in rows] == ["Payment Issues", "Account Problems"]
    assert '"snapscan"' in rows[0]["reason"]
    assert '"aanmeld"' in rows[1]["reason"]


@pytest.mark.django_db
def test_categorise_command_reports_bad_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    load_default_rules()
    lines = [
        GOOD_LINES[0],
        "{not json",
        '{"body": "no id"}',
        "[1]",
        '{"id": "x", "body": 3}',
        GOOD_LINES[1],
    ]
    path = _write_messages(tmp_path, lines)
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(CommandError, match="4 line"):
        call_command("categorise", str(path), "--rules-only", stdout=stdout, stderr=stderr)

    assert [json.loads(line)["id"] for line in stdout.getvalue().splitlines()] == ["m1", 2]
    errors = stderr.getvalue().splitlines()
    assert [error.split(":")[0] for error in errors] == ["line 2", "line 3", "line 4", "line 5"]
    assert "invalid JSON" in errors[0]
    assert 'missing "id"' in errors[1]


@pytest.mark.django_db
def test_categorise_command_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="File not found"):
        run("categorise", str(tmp_path / "absent.jsonl"))


@pytest.mark.django_db
def test_categorise_command_uses_database_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    load_default_rules()
    path = _write_messages(tmp_path, [GOOD_LINES[0]])
    before, _ = run("categorise", str(path), "--rules-only")

    CategoryRule.objects.filter(category=PAYMENT).update(enabled=False)
    CategoryRule.objects.create(category="technical_support", phrase="payment failed", weight=9.0)
    after, _ = run("categorise", str(path), "--rules-only")

    assert json.loads(before)["category"] == "Payment Issues"
    assert json.loads(after)["category"] == "Technical Support"


@pytest.mark.django_db
def test_train_categoriser_saves_model(tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CATEGORISER_MODEL_PATH = str(tmp_path / "model.joblib")

    stdout, _ = run("train_categoriser", "--folds", "3")

    assert "Cross-validated accuracy (3 folds, " in stdout
    assert "default rules" in stdout
    assert (tmp_path / "model.joblib").is_file()
    loaded = current_classifier()
    assert isinstance(loaded, TextClassifier)
    assert loaded is not default_classifier()


@pytest.mark.django_db
def test_train_categoriser_rejects_unlabelled_file(tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CATEGORISER_MODEL_PATH = str(tmp_path / "model.joblib")
    path = _write_messages(tmp_path, [json.dumps({"id": "a", "body": "x", "category": "Nonsense"})])

    with pytest.raises(CommandError, match="unknown category"):
        run("train_categoriser", "--data", str(path))
    assert not (tmp_path / "model.joblib").exists()


def test_corrupt_saved_model_falls_back(tmp_path, settings, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.joblib"
    path.write_bytes(b"not a pickle")
    settings.CATEGORISER_MODEL_PATH = str(path)

    first = current_classifier()
    second = current_classifier()

    assert first is default_classifier()
    assert second is default_classifier()
    assert len([r for r in caplog.records if "Cannot use the saved" in r.message]) == 1


@pytest.mark.django_db
def test_categorise_text_uses_hints_rules_and_classifier(tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CATEGORISER_MODEL_PATH = str(tmp_path / "absent.joblib")
    load_default_rules()

    hinted = categorise_text(subject="", body="card declined", hints=["login"])
    by_text = categorise_text(channel="chat", subject="", body="My card was declined twice")

    assert hinted.category == Category.ACCOUNT
    assert hinted.method == "hint"
    assert by_text.category == Category.PAYMENT
    assert by_text.method == "rules"
