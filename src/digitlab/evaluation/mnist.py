"""Metrics on MNIST's official 10,000 test images, the comparison table, and plots.

Every figure is computed from a model's answers with scikit-learn's metrics; nothing
here is typed in by hand. ``metrics_path(id)`` is where training stores the latest
figures, which the app reads without recomputing them.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from digitlab.data.mnist import load_mnist
from digitlab.errors import ModelError
from digitlab.evaluation.metrics import accuracy
from digitlab.evaluation.tables import markdown_table, percent
from digitlab.models import artifacts, registry
from digitlab.models.registry import display_name, load_model, model_ids

LATENCY_RUNS = 50
MAX_METRICS_BYTES = 4 << 20  # the figures and every test-set mistake: tens of KB


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, macro P/R/F1, per-class report and confusion matrix (rows = true digit)."""
    predicted = probabilities.argmax(1)
    digits = list(range(10))
    p, r, f, s = precision_recall_fscore_support(labels, predicted, labels=digits, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(
        labels, predicted, labels=digits, average="macro", zero_division=0
    )
    return {
        "accuracy": accuracy(predicted, labels),
        "precision_macro": float(mp),
        "recall_macro": float(mr),
        "f1_macro": float(mf),
        "per_class": {
            str(d): {
                "precision": float(p[d]),
                "recall": float(r[d]),
                "f1": float(f[d]),
                "support": int(s[d]),
            }
            for d in digits
        },  # fmt: skip
        "confusion_matrix": confusion_matrix(labels, predicted, labels=digits).tolist(),
    }


def misclassified(labels: np.ndarray, probabilities: np.ndarray) -> list[dict]:
    """Test-set indices the model got wrong, with its answer and confidence."""
    predicted = probabilities.argmax(1)
    wrong = np.flatnonzero(predicted != labels)
    return [
        {"index": int(i), "true": int(labels[i]), "predicted": int(predicted[i]),
         "confidence": round(float(probabilities[i].max()), 4)}
        for i in wrong
    ]  # fmt: skip


def best_of(runs: int, fn) -> tuple[float, object]:
    """Fastest wall time (s) of ``runs`` calls of ``fn`` (the least disturbed by other
    processes), and the last call's result: how the benchmarks time a whole run."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def median_latency_ms(model, image: np.ndarray, runs: int = LATENCY_RUNS) -> float:
    """Median wall time of ``predict_proba`` on one already-preprocessed image."""
    batch = image[None]
    model.predict_proba(batch)  # warm-up: lazy index build, first-call allocations
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_proba(batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def artifact_bytes(model_id: str, weights_dir: Path | None = None) -> int:
    weights_dir = weights_dir or registry.weights_dir(model_id)
    return sum(
        p.stat().st_size for p in weights_dir.glob(f"{model_id}.*") if "metrics" not in p.name
    )


def metrics_path(model_id: str, weights_dir: Path | None = None) -> Path:
    """``ID.metrics.json`` in ``weights_dir`` (default: the model's own weights folder)."""
    weights_dir = weights_dir or registry.weights_dir(model_id)
    return weights_dir / f"{model_id}.metrics.json"


def stored_metrics(model_id: str, weights_dir: Path | None = None) -> dict | None:
    """The figures training stored for a model (None if it was never trained).

    They are checked like the weights: the file's SHA-256 must match the one training recorded
    in the manifest, and it must be a JSON object. An edited, damaged or unrecorded file is a
    ModelError (one sentence), never figures shown as measured."""
    path = metrics_path(model_id, weights_dir)
    if not path.is_file():
        return None
    raw = artifacts.verified_bytes(path.parent, path.name, MAX_METRICS_BYTES)
    metrics = artifacts.load_shallow_json(raw, f"The metrics file {path}")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("accuracy"), (int, float)):
        raise ModelError(f"The metrics file {path} holds no accuracy; {artifacts.RESTORE}")
    return metrics


def evaluate_model(model_id: str, weights_dir: Path | None = None, model=None) -> dict:
    """Evaluate a trained model on the official test set: metrics, latency, sizes."""
    model = model or load_model(model_id, weights_dir)
    images, labels = load_mnist("test")
    probabilities = model.predict_proba(images)
    result = {"model": model_id, "display_name": display_name(model_id)}
    result |= classification_metrics(labels, probabilities)
    result["latency_ms"] = round(median_latency_ms(model, images[0]), 3)
    result["artifact_bytes"] = artifact_bytes(model_id, weights_dir)
    try:
        stored = stored_metrics(model_id, weights_dir) or {}
    except ModelError:  # training is about to replace it; evaluating needs only its time
        stored = {}
    result["train_seconds"] = stored.get("train_seconds")
    result["misclassified"] = misclassified(labels, probabilities)
    return result


def ratio(value: float) -> str:
    """Every ratio (accuracy, precision, recall, F1) in one format: a percentage, 2 decimals."""
    return percent(value, 2)


def comparison_rows(results: list[dict]) -> list[dict]:
    """The models side by side, as the README, the CLI and the app's Evaluate page show them."""
    return [
        {"Model": display_name(r["model"]), "Accuracy": ratio(r["accuracy"]),
         "Macro F1": ratio(r["f1_macro"]),
         "Train time": "-" if r.get("train_seconds") is None else f"{r['train_seconds']:.0f} s",
         "Latency (1 image)": f"{r['latency_ms']:.2f} ms",
         "Artifact size": f"{r['artifact_bytes'] / 1024:.0f} KiB"}
        for r in results
    ]  # fmt: skip


def per_class_rows(result: dict) -> list[dict]:
    return [
        {"Digit": d, "Precision": ratio(c["precision"]), "Recall": ratio(c["recall"]),
         "F1": ratio(c["f1"]), "Support": c["support"]}
        for d, c in result["per_class"].items()
    ]  # fmt: skip


def per_class_table(result: dict) -> str:
    return markdown_table(per_class_rows(result))


def confusion_table(result: dict) -> str:
    """The confusion matrix as a Markdown table: rows are the true digit, columns the answer.
    (The app's Evaluate page draws it; a terminal gets the counts.)"""
    rows = [
        {"true \\ said": t, **{str(p): count for p, count in enumerate(counts)}}
        for t, counts in enumerate(result["confusion_matrix"])
    ]
    return markdown_table(rows)


def all_model_ids(model: str) -> tuple[str, ...]:
    return model_ids() if model == "all" else (model,)
