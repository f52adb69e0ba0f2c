"""The figures on a run's result card, and the same figures for a shipped model beside it.

- validation accuracy and confusion matrix (the 5,000 validation digits no model trained on);
- accuracy on user-like *test* renders (``digitlab.synth.userlike``, a few of each kind),
  through our preprocessing or the naive tutorial one;
- accuracy on the app's single-digit examples.

Accuracy counts a refusal ("not a digit") as wrong, everywhere in this module.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from digitlab.contract import decide
from digitlab.data.derived import cached_arrays
from digitlab.data.splits import validation_digits
from digitlab.evaluation.renders import read_kind
from digitlab.imaging.pipeline import naive_preprocess, output_version
from digitlab.synth.examples import NAMES as EXAMPLE_NAMES
from digitlab.synth.examples import example
from digitlab.synth.userlike import KINDS

RENDERS_PER_KIND = 20  # 200 test renders: a result card in seconds, not a benchmark
RENDER_SEED = 0


def accuracy(answers: np.ndarray, labels: np.ndarray) -> float:
    """Share of right answers; a refusal (-1) counts as wrong."""
    return float(np.mean(np.asarray(answers) == np.asarray(labels))) if len(labels) else 0.0


def confusion(answers: np.ndarray, labels: np.ndarray) -> list[list[int]]:
    """[10][11] counts: true digit by answer (column 10: refused as not a digit)."""
    matrix = np.zeros((10, 11), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.where(answers < 0, 10, answers)), 1)
    return matrix.tolist()


@cache
def _renders(pipeline: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The user-like test renders as ``pipeline`` preprocesses them, their labels and kinds
    (kept in the user's cache: they take a while to make and never change for a pipeline)."""

    def make():
        xs, ys = [], []
        for kind in KINDS:
            images, labels = read_kind(kind, RENDERS_PER_KIND, RENDER_SEED, split="test")
            xs.append(images[pipeline])
            ys.append(labels)
        kinds = np.repeat(np.array(KINDS), RENDERS_PER_KIND)
        return np.concatenate(xs), np.concatenate(ys), kinds

    key = f"lab-renders2-{pipeline}-{RENDERS_PER_KIND}-{RENDER_SEED}-{output_version()}"
    return cached_arrays(key, make)


@cache
def _examples(pipeline: str) -> tuple[np.ndarray, np.ndarray]:
    """The app's single-digit examples as ``pipeline`` preprocesses them, and their digits
    (kept in the user's cache, as the renders are)."""

    def make():
        from digitlab.evaluation.renders import preprocess_or_blank

        read = preprocess_or_blank if pipeline == "ours" else naive_preprocess
        singles = [e for e in (example(n) for n in EXAMPLE_NAMES) if not e.is_number]
        return np.stack([read(e.data) for e in singles]), np.array([int(e.text) for e in singles])

    return cached_arrays(f"lab-examples-{pipeline}-{output_version()}", make)


def result_card(model, pipeline: str = "ours") -> dict:
    """A model's card: validation accuracy and confusion, user-like and example accuracy."""
    val_x, val_y = validation_digits()
    val = decide(model.predict_proba_all(val_x), model.config).digit
    rx, ry, rkinds = _renders(pipeline)
    renders = decide(model.predict_proba_all(rx), model.config).digit
    ex, ey = _examples(pipeline)
    examples = decide(model.predict_proba_all(ex), model.config).digit
    return {
        "val_accuracy": accuracy(val, val_y),
        "val_confusion": confusion(val, val_y),
        "userlike_accuracy": accuracy(renders, ry),
        "userlike_n": len(ry),
        "userlike_by_kind": {
            str(k): accuracy(renders[rkinds == k], ry[rkinds == k]) for k in np.unique(rkinds)
        },
        "examples_accuracy": accuracy(examples, ey),
        "examples_n": len(ey),
        "pipeline": pipeline,
    }
