"""How far a model's confidence can be trusted: calibration error, reliability bins, and what
its "unsure" flag means as a measured error rate.

``measure`` looks at answers as every answer is made (``predict_preprocessed_batch``): the
expected calibration error (ECE) compares each answer's top probability with how often such
answers are right, over equal bins of confidence. ``benchmarks/bench_calibration.py`` stores
the figures of the shipped weights in ``results/calibration.json`` with the SHA-256 of the
files they were measured on, so ``trust`` (the app's sentences and the Evaluate page's
reliability diagram) gives figures only for the weights that are really loaded.
"""

from __future__ import annotations

import numpy as np

from digitlab.errors import DigitLabError
from digitlab.evaluation.report import read_results
from digitlab.models.artifacts import WEIGHTS_DIR, read_manifest

BINS = 15


def reliability(
    confidence: np.ndarray, correct: np.ndarray, bins: int = BINS
) -> tuple[float, list[dict]]:
    """ECE and the non-empty bins it is made of (lower edge, count, mean confidence, accuracy)."""
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, bool)
    if len(confidence) == 0:
        return 0.0, []
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if n == 0:
            continue
        conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += n / len(confidence) * abs(acc - conf)
        out.append({"from": round(float(edges[b]), 4), "count": n,
                    "confidence": round(conf, 5), "accuracy": round(acc, 5)})  # fmt: skip
    return ece, out


def measure(answers: list, labels: np.ndarray) -> dict:
    """Calibration figures of ``answers`` (``Prediction``s of one model) against ``labels``.

    The ECE is over every answer's top probability among the ten digits (a refused digit too:
    its digits' probabilities still say how sure the model was); ``sure_wrong`` and
    ``unsure_wrong`` are the error rates of the answers shown as sure and as unsure; a refusal
    is neither, and is counted in ``refused``.
    """
    labels = np.asarray(labels)
    probabilities = np.stack([a.probabilities for a in answers])
    ece, bins = reliability(probabilities.max(1), probabilities.argmax(1) == labels)
    digit = np.array([-1 if a.digit is None else a.digit for a in answers])
    answered = digit != -1
    unsure = answered & np.array([bool(a.low_confidence) for a in answers])
    sure = answered & ~unsure
    return {
        "ece": round(ece, 5),
        "sure_share": round(float(sure.mean()), 5),
        "sure_wrong": round(float((digit[sure] != labels[sure]).mean()) if sure.any() else 0, 5),
        "unsure_share": round(float(unsure.mean()), 5),
        "unsure_wrong": round(
            float((digit[unsure] != labels[unsure]).mean()) if unsure.any() else 0, 5
        ),
        "refused": round(float((~answered).mean()), 5),
        "bins": bins,
    }


def weights_digest(model_id: str) -> str:
    """The SHA-256s of a shipped model's files, as the manifest records them, in one string."""
    manifest = read_manifest(WEIGHTS_DIR)
    return ",".join(
        f"{name}={digest}"
        for name, digest in sorted(manifest.items())
        if name.startswith(f"{model_id}.") and ".metrics." not in name
    )


def trust(model_id: str) -> dict | None:
    """The stored validation figures of a shipped model, or None when there are none for the
    weights loaded now (a learner's run, retrained weights, or no stored figures)."""
    try:
        record = read_results("calibration")
        figures = record["models"][model_id]
        if figures.get("weights") != weights_digest(model_id):
            return None
    except (OSError, KeyError, ValueError, TypeError, DigitLabError):
        return None
    return figures | {"digits": record.get("digits")}


def trust_sentence(model_id: str, name: str) -> str:
    """What an "unsure" flag means for this model, as measured on validation; "" without
    figures for these weights."""
    figures = trust(model_id)
    if figures is None:
        return ""
    return (
        f"On {figures['digits']:,} validation digits it never trained on, {name}'s unsure "
        f"answers were wrong {figures['unsure_wrong']:.0%} of the time, and the answers it "
        f"gave as sure {figures['sure_wrong']:.2%}."
    )
