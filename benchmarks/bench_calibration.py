"""How far each shipped model's confidence can be trusted, on the 5,000 validation digits
(held out of training; the shipped models never saw them), and on a labelled folder of
people's images beside them.

    .venv/bin/python benchmarks/bench_calibration.py [DIR]

For each model, through ``predict_preprocessed_batch`` as every answer is made
(``digitlab.evaluation.calibration.measure``):

- the expected calibration error (ECE): the digits' top probability against how often that
  digit is right, in 15 equal bins of confidence, weighted by how many answers fall in each;
- the share of answers shown as sure (a digit, not flagged unsure) and how often those are
  wrong, and the same for the answers flagged unsure: what the "unsure" flag means;
- the share of these real digits refused as "not a digit";
- for a net with a fitted temperature (``temperature`` in its config), the ECE it would have
  at temperature 1, the softmax as trained: what the scaling fixed.

DIR (for the README, ``../shared/realworld-dev``: lent for measuring only, never trained or
tuned on) adds the ECE on those images, read by our pipeline; images with no digit found are
left out of it. It stores ``results/calibration.json`` with each bin (the Evaluate page's
reliability diagram) and the SHA-256s of the weights measured; ``benchmarks/update_readme.py``
renders it. Measurement only: nothing is tuned here.
"""

from __future__ import annotations

import copy
import datetime
import sys
from pathlib import Path

import numpy as np

from digitlab.answers.inference import predict_preprocessed_batch
from digitlab.data.splits import validation_digits
from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation.calibration import BINS, measure, weights_digest
from digitlab.evaluation.report import render_calibration, write_results
from digitlab.models.registry import load_model, model_ids

COMMAND = ".venv/bin/python benchmarks/bench_calibration.py DIR"


def people_images(folder: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The preprocessed images of a labelled folder in which a digit was found, and labels."""
    items = folder_eval.load_labelled_folder(folder)
    read = [folder_eval.read_image(item) for item in items]
    kept = [(r.image28, item.label) for r, item in zip(read, items, strict=True)
            if r.image28 is not None]  # fmt: skip
    return [image for image, _ in kept], np.array([label for _, label in kept])


def untempered(model):
    """The same model at temperature 1 (its nets shared; the loaded model left as it is)."""
    raw = copy.copy(model)
    raw.config = model.config | {"temperature": 1.0}
    return raw


def main() -> None:
    if len(sys.argv) > 2:
        sys.exit(f"usage: {COMMAND}")
    images, labels = validation_digits()
    people = people_images(Path(sys.argv[1])) if len(sys.argv) == 2 else None
    models = {}
    for model_id in model_ids():
        model = load_model(model_id)
        m = measure(predict_preprocessed_batch(list(images), model), labels)
        m["weights"] = weights_digest(model_id)
        if people is not None:
            m["people"] = measure(predict_preprocessed_batch(people[0], model), people[1])
        if "temperature" in model.config:
            raw = untempered(model)
            before = measure(predict_preprocessed_batch(list(images), raw), labels)
            m["temperature"] = model.config["temperature"]
            m["untempered"] = {"ece": before["ece"], "bins": before["bins"]}
            if people is not None:
                after = predict_preprocessed_batch(people[0], raw)
                m["untempered"]["people_ece"] = measure(after, people[1])["ece"]
        models[model_id] = m
        print(f"{model_id}: ECE {m['ece']:.2%}, shown as sure {m['sure_share']:.1%} "
              f"(wrong {m['sure_wrong']:.2%}), unsure wrong {m['unsure_wrong']:.1%}, "
              f"refused {m['refused']:.2%}")  # fmt: skip
    write_results("calibration", {
        "measured_at": datetime.date.today().isoformat(),
        "command": COMMAND if people is not None else COMMAND.removesuffix(" DIR"),
        "digits": len(labels),
        "people_images": None if people is None else len(people[1]),
        "bins": BINS,
        "models": models,
    })  # fmt: skip
    print(render_calibration())


if __name__ == "__main__":
    main()
