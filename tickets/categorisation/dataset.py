"""The shipped labelled messages: loading, and the train and held-out splits.

data/labelled.jsonl contains messages written for this project, each with a "split" field
("train" or "heldout") and a "batch" field. Batch 2 is a held-out set written after the
first accuracy measurement and before any change made in response to it, so its figures
are the only ones untouched by that revision. data/examples.jsonl contains reviewed reference
examples; they are always held out, so neither the rules nor the classifier learn from them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .categories import value_for_label
from .types import MessageText

DATA_DIR = Path(__file__).resolve().parent / "data"
LABELLED_PATH = DATA_DIR / "labelled.jsonl"
EXAMPLES_PATH = DATA_DIR / "examples.jsonl"

MESSAGE_KEYS = ("channel", "subject", "body", "from_name", "from_email")


@dataclass(frozen=True)
class LabelledMessage:
    id: str
    message: MessageText
    category: str  # a category value such as "payment_issues"
    split: str
    batch: int = 1


class InvalidRecord(ValueError):
    """A JSON line that is not a message record."""


def message_from_record(record: object) -> MessageText:
    """Build a MessageText from a decoded JSON object, or raise InvalidRecord if malformed.

    Missing text fields count as empty, and keys other than the message fields are ignored.
    """
    if not isinstance(record, dict):
        raise InvalidRecord(f"expected a JSON object, got {type(record).__name__}")
    values: dict[str, str] = {}
    for key in MESSAGE_KEYS:
        value = record.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidRecord(f"field {key!r} must be a string, got {type(value).__name__}")
        values[key] = value
    return MessageText(**values)


def _read_jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidRecord(f"{path}:{number}: invalid JSON: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise InvalidRecord(f"{path}:{number}: expected a JSON object")
            yield record


def load_labelled(path: Path, *, split: str | None = None) -> list[LabelledMessage]:
    """Read labelled messages from a JSON Lines file, or raise InvalidRecord on a bad line.

    `split` overrides the file's own "split" field, which is how the reference examples
    are all marked held-out.
    """
    labelled = []
    for position, record in enumerate(_read_jsonl(path), start=1):
        if "id" not in record:
            raise InvalidRecord(f'{path}: record {position} has no "id" field')
        try:
            category = value_for_label(str(record["category"]))
        except KeyError as exc:
            raise InvalidRecord(
                f"{path}: record {record.get('id')!r} has a missing or unknown category"
            ) from exc
        batch = record.get("batch", 1)
        if not isinstance(batch, int):
            raise InvalidRecord(f"{path}: record {record.get('id')!r} has a non-integer batch")
        labelled.append(
            LabelledMessage(
                id=str(record["id"]),
                message=message_from_record(record),
                category=category,
                split=split or str(record.get("split", "train")),
                batch=batch,
            )
        )
    return labelled


def training_set() -> list[LabelledMessage]:
    """Return the shipped messages the rules and classifier may learn from."""
    return [item for item in load_labelled(LABELLED_PATH) if item.split == "train"]


def heldout_set() -> list[LabelledMessage]:
    """Return every held-out message: the own held-out split plus all reference examples."""
    own = [item for item in load_labelled(LABELLED_PATH) if item.split == "heldout"]
    return own + reference_examples()


def reference_examples() -> list[LabelledMessage]:
    return load_labelled(EXAMPLES_PATH, split="heldout")
