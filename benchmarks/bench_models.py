"""Print the comparison table of the four shipped models and the k-NN speed ratio.

    .venv/bin/python benchmarks/bench_models.py

Everything is measured in this run on the official 10,000 MNIST test images: accuracy,
macro F1, median one-image latency; train time comes from the stored training metrics. The
figures are written into each ``weights/<model>.metrics.json``, which the README's table
(``benchmarks/update_readme.py``) and the app's Evaluate page both read.
The k-NN speed target is a ratio against scikit-learn's KNeighborsClassifier(3) on raw
pixels, timed in the same process on the same machine, so machine speed cancels out.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime

import torch
from sklearn.neighbors import KNeighborsClassifier

from digitlab.data.mnist import load_mnist, write_atomic
from digitlab.evaluation.mnist import best_of, evaluate_model, metrics_path, stored_metrics
from digitlab.evaluation.report import render_mnist
from digitlab.models import artifacts
from digitlab.models.registry import load_model, model_ids

COMMAND = ".venv/bin/python benchmarks/bench_models.py"


def knn_speed(runs: int = 3) -> dict:
    train_x, train_y = load_mnist("train")
    test_x, test_y = load_mnist("test")
    reference = KNeighborsClassifier(3).fit(train_x.reshape(60_000, -1), train_y)
    ref_s, ref_pred = best_of(runs, lambda: reference.predict(test_x.reshape(10_000, -1)))
    ours = load_model("knn")
    ours.predict_proba(test_x[:1])  # the index is built/loaded once, outside the timing
    our_s, probs = best_of(runs, lambda: ours.predict_proba(test_x))
    return {
        "sklearn_seconds": ref_s, "sklearn_accuracy": float((ref_pred == test_y).mean()),
        "ours_seconds": our_s, "ours_accuracy": float((probs.argmax(1) == test_y).mean()),
        "speedup": ref_s / our_s,
    }  # fmt: skip


def store(result: dict, extra: dict | None = None) -> None:
    """Write this run's figures into the model's metrics JSON (what the README and the app
    show), keeping what training recorded there (train time, validation figures)."""
    path = metrics_path(result["model"])
    record = (stored_metrics(result["model"]) or {}) | result | (extra or {})
    write_atomic(path, (json.dumps(record, indent=1) + "\n").encode())
    artifacts.record_in_manifest(path.parent, [path.name])  # checked by stored_metrics


def main() -> None:
    print(f"# DigitLab benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"Python {platform.python_version()}, torch {torch.__version__}\n")  # fmt: skip
    results = [evaluate_model(m) for m in model_ids()]
    speed = knn_speed() | {"measured_at": f"{datetime.now(UTC):%Y-%m-%d}", "command": COMMAND}
    for result in results:
        store(result, {"speed_vs_sklearn": speed} if result["model"] == "knn" else None)
    print(render_mnist())


if __name__ == "__main__":
    main()
