"""Validation figures of the writing styles and of "not a digit", per shipped model.

Digits drawn in each style are made from MNIST *validation* digits with a seed training
never used; negatives likewise. Prints, per model: accuracy on each style, on plain
validation digits, how many validation 7s lean to 1, and the share of validation digits and
negatives refused as "not a digit". No shipped model saw the validation digits. The
figures are stored in ``src/digitlab/results/styles.json``, from which the README's table
is rendered (``benchmarks/update_readme.py``). Run::

    .venv/bin/python benchmarks/bench_styles.py
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from digitlab.contract import split_not_digit
from digitlab.evaluation.report import render_styles, write_results
from digitlab.models.registry import load_model, model_ids
from digitlab.synth.negatives import not_digit_images
from digitlab.synth.styles import STYLES, as_mnist
from digitlab.training.data import VALIDATION_SEED_OFFSET, training_data

COMMAND = ".venv/bin/python benchmarks/bench_styles.py"

PER_STYLE = 300
# A validation 7 "leans to 1" when the model gives 1 more than this probability: the flagged
# 1s sit next to the 7s, and this counts how far they pull MNIST's own 7s.
LEANING = 0.01


def style_sets(data) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each style's digits made from validation digits, with their labels (a style drawn from
    any class, source None, keeps each digit's own label)."""
    rng = np.random.default_rng(VALIDATION_SEED_OFFSET)
    sets = {}
    for name, (source, label, make) in STYLES.items():
        sources = (
            np.arange(len(data.val_y)) if source is None else np.flatnonzero(data.val_y == source)
        )
        made, made_labels = [], []
        for index in sources[:PER_STYLE]:
            shape = make(data.val_x[index], rng)
            rendered = None if shape is None else as_mnist(shape)
            if rendered is not None:
                made.append(rendered)
                made_labels.append(data.val_y[index] if label is None else label)
        sets[name] = (np.stack(made), np.array(made_labels))
    return sets


def refused(model, images: np.ndarray) -> np.ndarray:
    probs = model.predict_proba_all(images)
    _, score = split_not_digit(probs)
    return score > model.config.get("not_digit_threshold", 1.0)


def main() -> None:
    data = training_data()
    sets = style_sets(data)
    negatives = not_digit_images(data.val_x, 2000, VALIDATION_SEED_OFFSET + 1)
    rows = []
    for model_id in model_ids():
        model = load_model(model_id)
        probs = model.predict_proba(data.val_x)
        sevens = probs[data.val_y == 7]
        rows.append({
            "model": model_id,
            "styles": {name: float((model.predict_proba(x).argmax(1) == y).mean())
                       for name, (x, y) in sets.items()},
            "val_plain": float((probs.argmax(1) == data.val_y).mean()),
            "sevens_leaning_to_1": int((sevens[:, 1] > LEANING).sum()),
            "sevens": len(sevens),
            "val_digits_refused": float(refused(model, data.val_x).mean()),
            "val_negatives_refused": float(refused(model, negatives).mean()),
        })  # fmt: skip
    write_results("styles", {
        "measured_at": f"{datetime.now(UTC):%Y-%m-%d}", "command": COMMAND,
        "style_sizes": {name: len(x) for name, (x, _) in sets.items()}, "models": rows,
    })  # fmt: skip
    print(render_styles())


if __name__ == "__main__":
    main()
