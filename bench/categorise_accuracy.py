"""Measure the categoriser's accuracy and speed on the shipped labelled messages.

Run from the repository root:

    python bench/categorise_accuracy.py [--errors]

It uses only the pure core with the shipped default rules, so it needs no database. The
classifier is fitted on the training split. The held-out split and, separately, the
reference examples are then scored for rules alone, the classifier alone and both combined.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tickets.categorisation import categorise, default_rules  # noqa: E402
from tickets.categorisation.categories import LABELS, UNCATEGORISED  # noqa: E402
from tickets.categorisation.dataset import (  # noqa: E402
    LABELLED_PATH,
    LabelledMessage,
    heldout_set,
    load_labelled,
    reference_examples,
    training_set,
)
from tickets.categorisation.training import cross_validate, train_classifier  # noqa: E402
from tickets.categorisation.types import Decision  # noqa: E402

ABBREVIATIONS = {
    "donation_issues": "DON",
    "payment_issues": "PAY",
    "account_problems": "ACC",
    "technical_support": "TEC",
    "charity_questions": "CHA",
    UNCATEGORISED: "UNC",
}
Decide = Callable[[LabelledMessage], Decision]


def accuracy(items: Sequence[LabelledMessage], decide: Decide) -> float:
    return sum(decide(item).category == item.category for item in items) / len(items)


def print_per_category(items: Sequence[LabelledMessage], decide: Decide) -> None:
    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for item in items:
        totals[item.category] += 1
        correct[item.category] += decide(item).category == item.category
    print("| Category | Messages | Correct | Accuracy |")
    print("|---|---:|---:|---:|")
    for category in LABELS:
        if totals[category]:
            share = correct[category] / totals[category]
            print(
                f"| {LABELS[category]} | {totals[category]} | {correct[category]} | {share:.1%} |"
            )


def print_confusion(items: Sequence[LabelledMessage], decide: Decide) -> None:
    cells: Counter[tuple[str, str]] = Counter()
    for item in items:
        cells[(item.category, decide(item).category)] += 1
    header = " | ".join(ABBREVIATIONS[c] for c in LABELS)
    print(f"| labelled \\ decided | {header} |")
    print("|---" * (len(LABELS) + 1) + "|")
    for actual in LABELS:
        row = " | ".join(str(cells[(actual, decided)]) for decided in LABELS)
        print(f"| {ABBREVIATIONS[actual]} | {row} |")


def print_errors(items: Sequence[LabelledMessage], decide: Decide) -> None:
    for item in items:
        decision = decide(item)
        if decision.category != item.category:
            print(
                f"- {item.id}: labelled {LABELS[item.category]}, decided "
                f"{LABELS[decision.category]} ({decision.method}): {decision.reason}"
            )


@dataclass(frozen=True)
class Timing:
    """Best wall-clock and best CPU seconds over several runs of the same work.

    CPU seconds count only this process, so they change little when other processes
    compete for the machine; wall-clock seconds are what a caller waits.
    """

    wall: float
    cpu: float


def time_best(work: Callable[[], object], repeats: int) -> Timing:
    wall = cpu = float("inf")
    for _ in range(repeats):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        work()
        wall = min(wall, time.perf_counter() - wall_started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return Timing(wall, cpu)


def measure_throughput(items: Sequence[LabelledMessage], decide: Decide, repeats: int) -> str:
    """Return messages per second over one pass, by wall clock and by CPU time."""

    def one_pass() -> None:
        for item in items:
            decide(item)

    timing = time_best(one_pass, repeats)
    return f"{len(items) / timing.wall:,.0f}/s wall, {len(items) / timing.cpu:,.0f}/s CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--errors", action="store_true", help="list every held-out message decided wrongly"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed runs of fitting and of each pass; the best is reported (default 5)",
    )
    args = parser.parse_args()

    rules = default_rules()
    train = training_set()
    heldout = heldout_set()
    examples = reference_examples()
    own_heldout = [item for item in heldout if item not in examples]
    batches = sorted({item.batch for item in own_heldout})

    classifier = train_classifier(train)
    fit = time_best(lambda: train_classifier(train), args.repeats)

    def combined(item: LabelledMessage) -> Decision:
        return categorise(item.message, rules=rules, classifier=classifier)

    def rules_only(item: LabelledMessage) -> Decision:
        return categorise(item.message, rules=rules, classifier=None)

    def classifier_only(item: LabelledMessage) -> Decision:
        return categorise(item.message, rules=(), classifier=classifier)

    processor = platform.processor() or "unknown CPU"
    print(f"Python {platform.python_version()} on {platform.machine()}, {processor}")
    print(
        f"{len(rules)} default rules; {len(train)} training messages; "
        f"fitted in {fit.wall * 1000:.0f} ms wall, {fit.cpu * 1000:.0f} ms CPU "
        f"(best of {args.repeats})"
    )
    print()
    print("| Set | Messages | Rules only | Classifier only | Combined |")
    print("|---|---:|---:|---:|---:|")
    for name, items in (
        ("Held-out, all", heldout),
        ("Held-out, own split", own_heldout),
        *(
            (f"Held-out, own, batch {batch}", [i for i in own_heldout if i.batch == batch])
            for batch in batches
        ),
        ("Reference examples", examples),
    ):
        print(
            f"| {name} | {len(items)} | {accuracy(items, rules_only):.1%} | "
            f"{accuracy(items, classifier_only):.1%} | {accuracy(items, combined):.1%} |"
        )

    print("\nCombined, per category (all held-out):\n")
    print_per_category(heldout, combined)
    print("\nCombined, confusion matrix (all held-out):\n")
    print_confusion(heldout, combined)
    print("\nRules only, confusion matrix (all held-out):\n")
    print_confusion(heldout, rules_only)

    validation = cross_validate(train, rules=rules)
    print(
        f"\n{validation.folds}-fold cross-validation on the training split: classifier "
        f"{validation.classifier_accuracy:.1%}, combined {validation.combined_accuracy:.1%}"
    )

    everything = load_labelled(LABELLED_PATH) + examples
    first = measure_throughput(everything, combined, repeats=1)
    combined_rate = measure_throughput(everything, combined, repeats=args.repeats)
    rules_rate = measure_throughput(everything, rules_only, repeats=args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nThroughput over {len(everything)} messages, best of {args.repeats} passes:")
    print(f"- combined: {combined_rate} ({first} on the first pass after fitting)")
    print(f"- rules only: {rules_rate}")
    print(f"- load average over the last minute: {load:.1f} on {os.cpu_count()} CPUs")

    if args.errors:
        print("\nHeld-out messages decided wrongly (combined):\n")
        print_errors(heldout, combined)


if __name__ == "__main__":
    main()
