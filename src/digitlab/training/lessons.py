"""Guided experiments: each trains a few runs with one thing changed, and says what changed
in the figures those runs measured (never a sentence written in advance).

    lesson = LESSONS["augmentation"]
    plan = lesson.plan()                 # [(run name, RunSettings), ...] for the trainer
    ...                                  # train them (``digitlab.training.jobs``)
    lesson.outcome(records)              # records: {run name: run.json record}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from digitlab.training.runs import RunSettings, run_settings

PHOTO_KINDS = ("photo", "desk")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _card(records: dict, name: str) -> dict:
    return records[name]["card"]


def _photos(card: dict) -> float:
    kinds = card.get("userlike_by_kind", {})
    shares = [kinds[k] for k in PHOTO_KINDS if k in kinds]
    return sum(shares) / len(shares) if shares else card["userlike_accuracy"]


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    question: str
    runs: tuple[tuple[str, Callable[[], RunSettings]], ...]
    summarise: Callable[[dict], str]
    minutes: str  # about how long, on a 2-core laptop CPU

    def plan(self) -> list[tuple[str, RunSettings]]:
        return [(name, make()) for name, make in self.runs]

    def outcome(self, records: dict) -> str:
        """What the runs measured, in a sentence or two; says so if a run is missing."""
        missing = [name for name, _ in self.runs if name not in records]
        if missing:
            return f"Train the lesson first: {', '.join(missing)} not found."
        return self.summarise(records)


def _naive(records: dict) -> str:
    ours, naive = _card(records, "lesson-pipeline-ours"), _card(records, "lesson-pipeline-naive")
    return (
        f"The same quick CNN read {_pct(_photos(ours))} of the user-like phone photos through "
        f"DigitLab's preprocessing, and {_pct(_photos(naive))} through the naive tutorial one "
        f"(grey, resize to 28x28). On MNIST's own validation digits both read "
        f"{_pct(ours['val_accuracy'])}: the model is the same, only what it is shown differs."
    )


def _augmentation(records: dict) -> str:
    on, off = _card(records, "lesson-augment-on"), _card(records, "lesson-augment-off")
    return (
        f"With augmentation: {_pct(on['val_accuracy'])} of validation digits and "
        f"{_pct(on['userlike_accuracy'])} of the user-like images. Without: "
        f"{_pct(off['val_accuracy'])} and {_pct(off['userlike_accuracy'])}. Distorted and "
        "synthesised training digits matter most on images unlike MNIST's."
    )


CURVE_SIZES = (500, 2000, 10_000, 55_000)


def _curve(records: dict) -> str:
    points = [
        f"{size:,} digits: {_pct(_card(records, f'lesson-curve-{size}')['val_accuracy'])}"
        for size in CURVE_SIZES
    ]
    return (
        "Validation accuracy of the quick CNN by training set size: "
        + "; ".join(points)
        + ". (55,000 is the whole training split: MNIST's other 5,000 training digits are "
        "the validation set.)"
    )


def _budget(records: dict) -> str:
    lr, cnn = records["lesson-budget-logreg"], records["lesson-budget-cnn"]
    return (
        f"Logistic regression trained in {lr['train_seconds']:.0f} s on 10,000 digits and reads "
        f"{_pct(lr['card']['val_accuracy'])} of validation digits; the CNN, given about the "
        f"same time ({cnn['train_seconds']:.0f} s on 2,000 digits), reads "
        f"{_pct(cnn['card']['val_accuracy'])}. On the user-like images: "
        f"{_pct(lr['card']['userlike_accuracy'])} vs {_pct(cnn['card']['userlike_accuracy'])}."
    )


LESSONS = {
    lesson.id: lesson
    for lesson in (
        Lesson(
            "pipeline",
            "Why preprocessing matters",
            "Train a quick CNN, then show it phone photos through the naive tutorial pipeline "
            "and through DigitLab's. Which reads them?",
            (
                ("lesson-pipeline-ours", lambda: run_settings("cnn", "quick")),
                ("lesson-pipeline-naive", lambda: run_settings("cnn", "quick", pipeline="naive")),
            ),
            _naive,
            "about 2 minutes",
        ),
        Lesson(
            "augmentation",
            "With vs without augmentation",
            "Two quick CNNs, one trained on distorted and synthesised digits, one on plain "
            "MNIST. Which reads people's images better?",
            (
                ("lesson-augment-on", lambda: run_settings("cnn", "quick")),
                ("lesson-augment-off", lambda: run_settings("cnn", "quick", augment=False)),
            ),
            _augmentation,
            "about 2 minutes",
        ),
        Lesson(
            "curve",
            "A learning curve",
            "The same CNN trained on 500, 2,000, 10,000 and 55,000 digits: how much does more "
            "data buy?",
            tuple(
                (
                    f"lesson-curve-{size}",
                    lambda size=size: run_settings("cnn", "quick", train_size=size),
                )
                for size in CURVE_SIZES
            ),  # fmt: skip
            _curve,
            "about 5 minutes",
        ),
        Lesson(
            "budget",
            "Logistic regression vs a CNN on the same time budget",
            "Logistic regression on 10,000 digits, and a CNN on as many digits as it can learn "
            "from in about the same time. Which wins?",
            (
                ("lesson-budget-logreg", lambda: run_settings("logreg", "quick")),
                ("lesson-budget-cnn", lambda: run_settings("cnn", "quick", train_size=2000)),
            ),
            _budget,
            "about 1 minute",
        ),
    )
}
