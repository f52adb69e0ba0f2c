"""Print the comparison table of the four shipped models and the k-NN speed ratio.

    .venv/bin/python benchmarks/bench_models.py

Everything is measured in this run on the official 10,000 MNIST test images: accuracy,
macro F1, median one-image latency; train time comes from the stored training metrics.
The k-NN speed target is a ratio against scikit-learn's KNeighborsClassifier(3) on raw
pixels, timed in the same process on the same machine, so machine speed cancels out.
"""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime

import torch
from sklearn.neighbors import KNeighborsClassifier

from digitlab.data import load_mnist
from digitlab.evaluate import comparison_rows, evaluate_model, markdown_table
from digitlab.models.registry import MODEL_IDS, load_model


def best_of(runs: int, fn) -> tuple[float, object]:
    """Fastest wall time of ``runs`` calls (the least disturbed by other processes)."""
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


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


def main() -> None:
    print(f"# DigitLab benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"Python {platform.python_version()}, torch {torch.__version__}\n")  # fmt: skip
    results = [evaluate_model(m) for m in MODEL_IDS]
    print(markdown_table(comparison_rows(results)))
    s = knn_speed()
    print(
        f"\nk-NN on the 10,000 test images: ours {s['ours_seconds']:.2f} s "
        f"({s['ours_accuracy']:.2%}) vs scikit-learn KNeighborsClassifier(3) on raw pixels "
        f"{s['sklearn_seconds']:.2f} s ({s['sklearn_accuracy']:.2%}): {s['speedup']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
