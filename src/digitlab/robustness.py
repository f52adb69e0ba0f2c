"""Accuracy on user-like images, per model and per kind, next to the naive baseline.

Images come from ``digitlab.userlike`` (MNIST *test* digits and other writers' 8x8 digits,
encoded as files). Each is read twice: by ``digitlab.preprocess`` and by ``naive_preprocess``
(resize the upload to 28x28, as most tutorials do). An image the pipeline refuses or finds
blank counts as wrong. Run::

    python -m digitlab.robustness --models all --n 300 --seed 0
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from digitlab.errors import DigitLabError
from digitlab.preprocess import naive_preprocess, preprocess
from digitlab.userlike import KINDS, generate

ALL_MODELS = ("logreg", "knn", "ann", "cnn")
PIPELINES = ("ours", "naive")


def read_kind(kind: str, n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The images of one kind through both pipelines ([n,28,28] each) and their labels."""
    items = generate(kind, n, seed)
    ours, naive = [], []
    for item in items:
        ours.append(preprocess_or_blank(item.data))
        naive.append(naive_preprocess(item.data))
    labels = np.array([item.label for item in items])
    return {"ours": np.stack(ours), "naive": np.stack(naive)}, labels


def preprocess_or_blank(data: bytes) -> np.ndarray:
    """Our pipeline's 28x28, or a blank image (a sure miss) when it finds no digit."""
    try:
        return preprocess(data)
    except DigitLabError:
        return np.zeros((28, 28), np.float32)


def evaluate_robustness(
    model_ids: list[str] | tuple[str, ...], n_per_kind: int = 300, seed: int = 0
) -> dict:
    """Accuracy per model, pipeline and kind: ``result["accuracy"][model][pipeline][kind]``."""
    from digitlab.models.registry import load_model

    models = {model_id: load_model(model_id) for model_id in model_ids}
    accuracy = {m: {p: {} for p in PIPELINES} for m in model_ids}
    for kind in KINDS:
        images, labels = read_kind(kind, n_per_kind, seed)
        for model_id, model in models.items():
            for pipeline in PIPELINES:
                predicted = np.argmax(model.predict_proba(images[pipeline]), axis=1)
                accuracy[model_id][pipeline][kind] = float(np.mean(predicted == labels))
    return {"kinds": list(KINDS), "n_per_kind": n_per_kind, "seed": seed, "accuracy": accuracy}


def format_table(result: dict) -> str:
    """A Markdown table: one row per model and pipeline, one column per kind (accuracy %)."""
    kinds = result["kinds"]
    header = "| model | pipeline | " + " | ".join(kinds) + " |"
    lines = [header, "|" + "---|" * (len(kinds) + 2)]
    for model_id, by_pipeline in result["accuracy"].items():
        for pipeline, by_kind in by_pipeline.items():
            cells = " | ".join(f"{100 * by_kind[k]:.1f}" for k in kinds)
            lines.append(f"| {model_id} | {pipeline} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all", help="'all' or ids separated by commas")
    parser.add_argument("--n", type=int, default=300, help="images per kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model_ids = ALL_MODELS if args.models == "all" else tuple(args.models.split(","))
    result = evaluate_robustness(model_ids, args.n, args.seed)
    print(f"python -m digitlab.robustness --models {args.models} --n {args.n} --seed {args.seed}")
    print(f"accuracy (%), {args.n} images per kind\n")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
