"""Accuracy on user-like images, per model and per kind, next to the naive baseline.

Images come from ``digitlab.synth.userlike``, encoded as files. Each is read twice: by
``digitlab.preprocess`` and by ``naive_preprocess`` (resize the upload to 28x28, as most
tutorials do). An image the pipeline refuses or finds blank counts as wrong. Every figure is
the mean over several seeds (different images), with its spread (min-max) across them.

Which digits: ``split="val"`` (the default) renders MNIST *validation* digits, the ones every
model holds out of training; it is the split to develop and tune on, so its figures are
development figures. ``split="test"`` renders MNIST *test* digits: run it once, for the final
figures. ``lowres`` uses one half of scikit-learn's 8x8 digits per split.

Not every column is out of distribution: the neural models' (ann, cnn) training augmentation
imitates coarse low-resolution scans (``digitlab.synth.augment``: digits averaged down to 8-14
pixels with 17 grey levels, and training digits reduced to 8x8, 12x12 or 16x16 scans sent
through the pipeline), which is what the ``IMITATED_BY_TRAINING`` kinds (``lowres``,
``coarse16``) are. Run::

    python -m digitlab.evaluation.renders --models all --n 300 --split val --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from digitlab.errors import DigitLabError
from digitlab.evaluation.metrics import accuracy
from digitlab.evaluation.tables import compact_table
from digitlab.imaging.pipeline import naive_preprocess, preprocess
from digitlab.models import registry
from digitlab.synth.userlike import IMITATED_BY_TRAINING, KINDS, SPLITS, generate

PIPELINES = ("ours", "naive")
DEFAULT_SEEDS = (0, 1, 2)
SPLIT_HELP = "val: validation digits, to develop and tune on; test: for the final figures only"
SEEDS_HELP = "seeds separated by commas: the mean and min-max over them (default 0,1,2)"


def read_kind(
    kind: str, n: int, seed: int, split: str = "val"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The images of one kind through both pipelines ([n,28,28] each) and their labels."""
    items = generate(kind, n, seed, split)
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
    model_ids: list[str] | tuple[str, ...],
    n_per_kind: int = 300,
    seeds: list[int] | tuple[int, ...] = DEFAULT_SEEDS,
    split: str = "val",
) -> dict:
    """Accuracy per model, pipeline and kind, over ``seeds``.

    ``result["accuracy"][model][pipeline][kind]`` is the mean over the seeds,
    ``result["per_seed"][...][kind]`` the accuracy of each seed (same order as ``seeds``),
    and ``result["min"]`` / ``result["max"]`` its spread.
    """
    from digitlab.models.registry import load_model

    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose from {', '.join(SPLITS)}.")
    models = {model_id: load_model(model_id) for model_id in model_ids}
    per_seed = {m: {p: {k: [] for k in KINDS} for p in PIPELINES} for m in model_ids}
    for kind in KINDS:
        for seed in seeds:
            images, labels = read_kind(kind, n_per_kind, seed, split)
            for model_id, model in models.items():
                for pipeline in PIPELINES:
                    predicted = np.argmax(model.predict_proba(images[pipeline]), axis=1)
                    per_seed[model_id][pipeline][kind].append(accuracy(predicted, labels))
    return {
        "split": split,
        "kinds": list(KINDS),
        "imitated_by_training": list(IMITATED_BY_TRAINING),
        "n_per_kind": n_per_kind,
        "seeds": list(seeds),
        "accuracy": summarise(per_seed, np.mean),
        "min": summarise(per_seed, np.min),
        "max": summarise(per_seed, np.max),
        "per_seed": per_seed,
    }


def summarise(per_seed: dict, statistic) -> dict:
    """``statistic`` (mean, min, max) of each model x pipeline x kind's list of accuracies."""
    return {
        model_id: {
            pipeline: {kind: float(statistic(values)) for kind, values in by_kind.items()}
            for pipeline, by_kind in by_pipeline.items()
        }
        for model_id, by_pipeline in per_seed.items()
    }


def format_table(result: dict) -> str:
    """A Markdown table: one row per model and pipeline, one column per kind.

    Each cell is the mean accuracy in % and, when there are several seeds, its min-max
    across them. Kinds the neural models' training imitates are marked with ``*``.
    """
    kinds = result["kinds"]
    imitated = set(result.get("imitated_by_training", ()))
    names = [f"{k}*" if k in imitated else k for k in kinds]
    rows = [
        [model_id, pipeline, *(format_cell(result, model_id, pipeline, k) for k in kinds)]
        for model_id, by_pipeline in result["accuracy"].items()
        for pipeline in by_pipeline
    ]
    return compact_table(["model", "pipeline", *names], rows)


def format_cell(result: dict, model_id: str, pipeline: str, kind: str) -> str:
    """``mean`` or ``mean (min-max)`` in %."""
    mean = f"{100 * result['accuracy'][model_id][pipeline][kind]:.1f}"
    if len(result.get("seeds", ())) < 2:
        return mean
    low = 100 * result["min"][model_id][pipeline][kind]
    high = 100 * result["max"][model_id][pipeline][kind]
    return f"{mean} ({low:.1f}-{high:.1f})"


def table_header(result: dict) -> str:
    """What the table shows: split, images, seeds, and which columns are not out of
    distribution for the neural models."""
    seeds = ",".join(str(s) for s in result["seeds"])
    digits = {"val": "MNIST validation digits (held out of training; a development figure)",
              "test": "MNIST test digits (the final figure)"}[result["split"]]  # fmt: skip
    imitated = ", ".join(result.get("imitated_by_training", ()))
    return (
        f"accuracy (%) on user-like images: mean (min-max) over seeds {seeds}, "
        f"{result['n_per_kind']} images per kind and seed, from {digits}.\n"
        f"* {imitated}: imitated by the neural models' (ann, cnn) training augmentation "
        "(coarse low-resolution scans), so not out of distribution for them."
    )


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> (0, 1, 2)."""
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        message = f"seeds are integers separated by commas, not {text!r}"
        raise argparse.ArgumentTypeError(message) from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="all", help="'all' or ids separated by commas")
    parser.add_argument("--n", type=int, default=300, help="images per kind and seed")
    parser.add_argument("--split", choices=SPLITS, default="val", help=SPLIT_HELP)
    parser.add_argument("--seeds", type=parse_seeds, default=DEFAULT_SEEDS, help=SEEDS_HELP)
    args = parser.parse_args(argv)
    every = registry.model_ids()
    model_ids = every if args.models == "all" else tuple(args.models.split(","))
    result = evaluate_robustness(model_ids, args.n, args.seeds, args.split)
    seeds = ",".join(str(s) for s in args.seeds)
    command = "python -m digitlab.evaluation.renders"
    print(f"{command} --models {args.models} --n {args.n} --split {args.split} --seeds {seeds}")
    print(table_header(result) + "\n")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
