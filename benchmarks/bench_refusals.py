"""How often each model refuses real digits as "not a digit", per kind of input, and how often
it refuses what is not a digit.

    .venv/bin/python benchmarks/bench_refusals.py [--n 200] [--seeds 0,1] [--negatives 1000] [DIR]

The target: at most 0.5% of real digits refused on every kind, while refusing at least 90% of
non-digits (``digitlab.evaluation.refusals``). Measured on:

- user-like *validation* renders of every kind (``digitlab.synth.userlike``, ``split="val"``;
  N per kind and seed, pooled over the seeds): MNIST validation digits that no model trained
  on, read by our pipeline as uploads are. Per kind: the share the pipeline finds blank or
  cannot read (``blank``), refused by the model, misread (a wrong digit), and refused though
  the model's likeliest digit was right;
- non-digits made by ``digitlab.synth.negatives`` from a seed neither training (0) nor
  validation (10,000) uses: 28x28 negatives (letters, words, scribbles, shapes, several
  validation digits, paper), and photos of paper without a digit sent through our pipeline,
  where the pipeline's own refusals (no digit found) are counted apart from the model's;
- DIR, a labelled folder (as ``digitlab evaluate-folder`` reads it), per its ``kind`` column.

Each kind's images are read once and answered by every model (logistic regression never
refuses: its row shows it). Stores ``results/refusals.json``; ``benchmarks/update_readme.py``
renders it. Measurement only: nothing is tuned here.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np

from digitlab.data.splits import validation_digits
from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation.refusals import (
    measure_digits,
    measure_not_digits,
    paper_photos,
    read_uploads,
)
from digitlab.evaluation.report import render_refusals, write_results
from digitlab.models.registry import load_model, model_ids
from digitlab.synth.negatives import not_digit_images
from digitlab.synth.userlike import KINDS, generate

SCRIPT = ".venv/bin/python benchmarks/bench_refusals.py"
NOT_DIGIT_SEED = 777  # neither training's (0) nor validation's (10,000) negatives
DEFAULTS = {"n": 200, "seeds": "0,1", "negatives": 1000}

Images = list[np.ndarray | None]  # None: the pipeline found no digit, or could not read it


def userlike_kinds(n: int, seeds: list[int]) -> dict[str, tuple[Images, list[int]]]:
    """Each kind's validation renders (``n`` per seed, pooled), read by our pipeline."""
    kinds = {}
    for kind in KINDS:
        items = [item for seed in seeds for item in generate(kind, n, seed, split="val")]
        kinds[kind] = read_uploads(item.data for item in items), [item.label for item in items]
    return kinds


def folder_kinds(folder: Path) -> dict[str, tuple[Images, list[int]]]:
    """A labelled folder's images per its ``kind`` column, read by our pipeline."""
    kinds: dict[str, tuple[Images, list[int]]] = {}
    for item in folder_eval.load_labelled_folder(folder):
        images, labels = kinds.setdefault(item.kind, ([], []))
        images.append(folder_eval.read_image(item).image28)
        labels.append(item.label)
    return kinds


def not_digit_kinds(n: int) -> dict[str, Images]:
    """28x28 negatives (made from validation digits) and paper photos through the pipeline."""
    digits, _ = validation_digits()
    return {
        "negatives": list(not_digit_images(digits, n, NOT_DIGIT_SEED)),
        "paper_photos": paper_photos(n, NOT_DIGIT_SEED),
    }


def command(args: argparse.Namespace) -> str:
    """The command that reproduces this run (DIR stands for the folder, never named)."""
    options = [f" --{name} {getattr(args, name)}" for name, default in DEFAULTS.items()
               if str(getattr(args, name)) != str(default)]  # fmt: skip
    return SCRIPT + "".join(options) + (" DIR" if args.folder else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="a labelled folder (optional)")
    parser.add_argument("--n", type=int, default=DEFAULTS["n"], help="renders per kind and seed")
    parser.add_argument("--seeds", default=DEFAULTS["seeds"], help="seeds, comma-separated")
    parser.add_argument("--negatives", type=int, default=DEFAULTS["negatives"],
                        help="negatives, and paper photos, each")  # fmt: skip
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    start = time.perf_counter()
    userlike = userlike_kinds(args.n, seeds)
    people = folder_kinds(args.folder) if args.folder else None
    not_digits = not_digit_kinds(args.negatives)
    print(f"read every image in {time.perf_counter() - start:.0f} s")
    models = {}
    for model_id in model_ids():
        model = load_model(model_id)
        models[model_id] = {
            "userlike": {k: measure_digits(*kind, model) for k, kind in userlike.items()},
            "not_digits": {k: measure_not_digits(ims, model) for k, ims in not_digits.items()},
        }
        if people is not None:
            models[model_id]["folder"] = {
                k: measure_digits(*kind, model) for k, kind in people.items()
            }
    seconds = time.perf_counter() - start
    write_results("refusals", {
        "measured_at": datetime.date.today().isoformat(),
        "command": command(args),
        "split": "val",
        "n_per_kind": args.n,
        "seeds": seeds,
        "not_digit_seed": NOT_DIGIT_SEED,
        "kinds": list(KINDS),
        "folder_kinds": None if people is None else sorted(people),
        "seconds": round(seconds),
        "models": models,
    })  # fmt: skip
    print(render_refusals())
    print(f"in {seconds:.0f} s")


if __name__ == "__main__":
    main()
