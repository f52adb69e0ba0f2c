"""How far each shipped model's confidence can be trusted, on the 5,000 validation digits
(held out of training; the shipped models never saw them).

    .venv/bin/python benchmarks/bench_calibration.py

For each model, through ``predict_preprocessed_batch`` as every answer is made:

- the expected calibration error (ECE): the digits' top probability against how often that
  digit is right, in 15 equal bins of confidence, weighted by how many answers fall in each;
- the share of answers shown as sure (a digit, not flagged unsure) and how often those are
  wrong, which is what the "unsure" threshold promises;
- the share of these real digits refused as "not a digit".

It stores ``results/calibration.json`` (with each bin, for a reliability diagram);
``benchmarks/update_readme.py`` renders it. Measurement only: nothing is tuned here.
"""

from __future__ import annotations

import datetime

import numpy as np

from digitlab.answers.inference import predict_preprocessed_batch
from digitlab.data.splits import validation_digits
from digitlab.evaluation.report import write_results
from digitlab.models.registry import load_model, model_ids

BINS = 15


def reliability(confidence: np.ndarray, correct: np.ndarray) -> tuple[float, list[dict]]:
    """ECE and the bins it is made of (lower edge, count, mean confidence, accuracy)."""
    edges = np.linspace(0.0, 1.0, BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, BINS - 1)
    bins, ece = [], 0.0
    for b in range(BINS):
        inside = which == b
        n = int(inside.sum())
        if n == 0:
            continue
        conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
        ece += n / len(confidence) * abs(acc - conf)
        bins.append({"from": round(float(edges[b]), 4), "count": n,
                     "confidence": round(conf, 5), "accuracy": round(acc, 5)})  # fmt: skip
    return ece, bins


def measure(model_id: str, images: np.ndarray, labels: np.ndarray) -> dict:
    answers = predict_preprocessed_batch(list(images), load_model(model_id))
    probabilities = np.stack([a.probabilities for a in answers])
    guess = probabilities.argmax(1)
    ece, bins = reliability(probabilities.max(1), guess == labels)
    digit = np.array([-1 if a.digit is None else a.digit for a in answers])
    sure = np.array([a.digit is not None and not a.low_confidence for a in answers])
    return {
        "ece": round(ece, 5),
        "sure_share": round(float(sure.mean()), 5),
        "sure_wrong": round(float((digit[sure] != labels[sure]).mean()), 5),
        "refused": round(float((digit == -1).mean()), 5),
        "bins": bins,
    }


def main() -> None:
    images, labels = validation_digits()
    models = {}
    for model_id in model_ids():
        models[model_id] = measure(model_id, images, labels)
        m = models[model_id]
        print(f"{model_id}: ECE {m['ece']:.2%}, shown as sure {m['sure_share']:.1%} "
              f"(wrong {m['sure_wrong']:.2%}), refused {m['refused']:.2%}")  # fmt: skip
    write_results("calibration", {
        "measured_at": datetime.date.today().isoformat(),
        "command": ".venv/bin/python benchmarks/bench_calibration.py",
        "digits": len(labels),
        "bins": BINS,
        "models": models,
    })  # fmt: skip


if __name__ == "__main__":
    main()
