"""Teaching your handwriting: what a profile does for each writer of a folder, per model.

    .venv/bin/python benchmarks/bench_profiles.py DIR [--ks 1 3 5]

DIR is a folder like ``writers-dev`` (``labels.csv``: ``file,label,writer[,kind]``), other
people's digits lent for measuring only: nothing here is tuned on them (the blend was chosen
on simulated writers, ``benchmarks/choose_profile_blend.py``). For every writer:

- *first k*: the first k images of each digit are taught, the rest predicted, next to the
  same rest predicted with no profile (k = 1, 3, 5);
- *online*: the writer's images predicted in order; after each mistake the right digit is
  taught (what "Wrong? It's a ..." does in the app);
- per writer, the change of error at the largest k (no writer should lose more than 1 point);
  the taught images read back through the profile; MNIST's test set read through each
  writer's profile (the cost must stay within 0.2 point);
- timing: one image predicted through a 200-digit profile, next to the base model in the
  same run; teaching one digit to a profile on disk, from the image file.

Prints the table and stores its figures (never the folder's name or path) in
``src/digitlab/results/profiles.json``, rendered into the README by
``benchmarks/update_readme.py``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlab.answers.inference import predict_preprocessed
from digitlab.contract import answered_digits
from digitlab.data.mnist import load_mnist
from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation.mnist import best_of
from digitlab.evaluation.report import render_profiles, write_results
from digitlab.models.registry import load_model, model_ids, model_spec
from digitlab.profiles.adapt import with_profile
from digitlab.profiles.store import Profile
from digitlab.synth.writers import first_k_of_each

COMMAND = ".venv/bin/python benchmarks/bench_profiles.py DIR"
TIMED_PROFILE = 200
TIMING_RUNS = 200


def writers_of(folder: Path, items: list) -> list[str]:
    """The ``writer`` column of the folder's labels.csv, in the order of ``items``."""
    with open(folder / "labels.csv", newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(items) or "writer" not in rows[0]:
        raise SystemExit(f"{folder.name}/labels.csv needs a writer column for every image")
    return [row["writer"].strip() for row in rows]


def first_k(labels: np.ndarray, usable: np.ndarray, k: int) -> np.ndarray:
    """The first k images of each digit in order, among the usable ones (taught)."""
    taught = np.zeros(len(labels), bool)
    taught[usable] = first_k_of_each(labels[usable], k)
    return taught


class Folder:
    """The folder read once: 28x28 images (zeros where unusable), labels, writers."""

    def __init__(self, folder: Path):
        items = folder_eval.load_labelled_folder(folder)
        self.writers = np.array(writers_of(folder, items))
        self.labels = np.array([item.label for item in items])
        read = [folder_eval.read_image(item) for item in items]
        self.usable = np.array([r.image28 is not None for r in read])
        self.images = np.stack([r.image28 if r.image28 is not None else
                                np.zeros((28, 28), np.float32) for r in read])  # fmt: skip
        self.paths = [item.path for item in items]

    def writer_rows(self) -> dict[str, np.ndarray]:
        return {w: np.flatnonzero(self.writers == w) for w in dict.fromkeys(self.writers)}


def errors(model, images, labels, usable) -> np.ndarray:
    """Per image: wrong (a wrong digit, a refusal, or an unusable image)."""
    wrong = np.ones(len(labels), bool)
    if usable.any():
        answers = answered_digits(model.predict_proba_all(images[usable]), model.config)
        wrong[usable] = answers != labels[usable]
    return wrong


def first_k_figures(model, data: Folder, ks) -> dict:
    """Per k: pooled error without and with the profile, per-writer changes, taught back."""
    out = {}
    for k in ks:
        base_wrong = adapted_wrong = rest_n = back = taught_n = 0
        changes = []
        for rows in data.writer_rows().values():
            labels, usable = data.labels[rows], data.usable[rows]
            taught = first_k(labels, usable, k)
            profile = Profile.in_memory("bench")
            profile.teach_preprocessed(data.images[rows][taught], labels[taught])
            profiled = with_profile(model, profile)
            rest = ~taught
            without = errors(model, data.images[rows][rest], labels[rest], usable[rest])
            with_ = errors(profiled, data.images[rows][rest], labels[rest], usable[rest])
            back += int((~errors(profiled, data.images[rows][taught], labels[taught],
                                 usable[taught])).sum())  # fmt: skip
            taught_n += int(taught.sum())
            base_wrong, adapted_wrong = base_wrong + without.sum(), adapted_wrong + with_.sum()
            rest_n += int(rest.sum())
            changes.append(float(with_.mean() - without.mean()))
        out[str(k)] = {"n": rest_n, "error_without": float(base_wrong / rest_n),
                       "error_with": float(adapted_wrong / rest_n),
                       "worst_writer_change": max(changes),
                       "writers_worse_by_1pt": sum(c > 0.01 for c in changes),
                       "taught_back": back / taught_n}  # fmt: skip
    return out


def online_figures(model, data: Folder) -> dict:
    """Predict each writer's images in order; teach the right digit after each mistake.

    Base answers and embeddings are computed once; each step is ``ProfiledModel.adapt``,
    the step ``predict_proba_all`` takes after the base model's work."""
    probs, embedded = model.predict_proba_all(data.images), model.embed(data.images)
    wrong_base = wrong = taught = 0
    for rows in data.writer_rows().values():
        profiled = with_profile(model, Profile.in_memory("online"))
        for i in rows:
            label = data.labels[i]
            if not data.usable[i]:
                wrong_base, wrong = wrong_base + 1, wrong + 1
                continue
            wrong_base += answered_digits(probs[i : i + 1], model.config)[0] != label
            adapted = profiled.adapt(probs[i : i + 1], embedded[i : i + 1])
            if answered_digits(adapted, model.config)[0] != label:
                wrong += 1
                profiled.profile.teach_preprocessed([data.images[i]], [label])
        taught += len(profiled.profile)
    n = len(data.labels)
    return {"error_without": float(wrong_base / n), "error_with": float(wrong / n),
            "taught": taught}  # fmt: skip


def mnist_cost(model, data: Folder, k: int, test: tuple) -> dict:
    """MNIST's test set read through each writer's profile (first k of each digit)."""
    images, labels = test
    probs, embedded = model.predict_proba_all(images), model.embed(images)
    base = float((answered_digits(probs, model.config) == labels).mean())
    costs = []
    for rows in data.writer_rows().values():
        taught = rows[first_k(data.labels[rows], data.usable[rows], k)]
        profiled = with_profile(model, Profile.in_memory("mnist"))
        profiled.profile.teach_preprocessed(data.images[taught], data.labels[taught])
        adapted = profiled.adapt(probs, embedded)
        costs.append(base - float((answered_digits(adapted, model.config) == labels).mean()))
    return {"accuracy_without": base, "worst_cost": max(costs), "mean_cost": statistics.mean(costs)}


def per_image_ms(models: list, image: np.ndarray) -> list[float]:
    """For each model, the fastest of ``TIMING_RUNS`` predictions of one image (the least
    disturbed by other processes, as ``evaluate.best_of`` times the other benchmarks); the
    models take turns, so a busy moment of the machine slows them alike."""
    best = [float("inf")] * len(models)
    for model in models:
        predict_preprocessed(image, model)  # warm-up: the taught digits are embedded once
    for _ in range(TIMING_RUNS):
        for i, model in enumerate(models):
            seconds, _ = best_of(1, lambda m=model: predict_preprocessed(image, m))
            best[i] = min(best[i], seconds * 1000)
    return best


def timing(model, data: Folder) -> dict:
    """ms per image without and with a 200-digit profile; teaching one digit from its file
    to a profile on disk (a temporary XDG_DATA_HOME), then the next answer."""
    usable = np.flatnonzero(data.usable)
    taught, probe = usable[:TIMED_PROFILE], usable[TIMED_PROFILE]
    profile = Profile.in_memory("timing")
    profile.teach_preprocessed(data.images[taught], data.labels[taught])
    base_ms, profile_ms = per_image_ms([model, with_profile(model, profile)], data.images[probe])
    with tempfile.TemporaryDirectory() as home:
        os.environ["XDG_DATA_HOME"] = home
        on_disk = Profile.open("timing")
        on_disk.teach_preprocessed(data.images[taught[:-1]], data.labels[taught[:-1]])
        profiled = with_profile(model, on_disk)
        predict_preprocessed(data.images[probe], profiled)
        start = time.perf_counter()
        on_disk.teach(data.paths[taught[-1]], int(data.labels[taught[-1]]))
        predict_preprocessed(data.images[probe], profiled)
        teach_ms = (time.perf_counter() - start) * 1000
        del os.environ["XDG_DATA_HOME"]
    return {"ms_without": base_ms, "ms_with": profile_ms, "ratio": profile_ms / base_ms,
            "teach_ms": teach_ms}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", metavar="DIR")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5])
    args = parser.parse_args()
    folder = Path(args.dir)
    data = Folder(folder)
    test = load_mnist("test")
    results = []
    for model_id in model_ids():
        model = load_model(model_id)
        figures = {"model": model_id, "first_k": first_k_figures(model, data, args.ks),
                   "online": online_figures(model, data),
                   "mnist_test": mnist_cost(model, data, max(args.ks), test),
                   "timing": timing(model, data)}  # fmt: skip
        results.append(figures)
        print(f"{model_id}: done", flush=True)
    record = {"measured_at": f"{datetime.now(UTC):%Y-%m-%d}", "command": COMMAND,
              "writers": len(set(data.writers)),
              "images": len(data.labels), "unusable": int((~data.usable).sum()),
              "ks": args.ks, "timed_profile": TIMED_PROFILE,
              "blend": {m: model_spec(m).blend for m in model_ids()},
              "results": results}  # fmt: skip
    write_results("profiles", record)
    print(render_profiles())


if __name__ == "__main__":
    main()
