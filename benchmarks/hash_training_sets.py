"""Print a SHA-256 of each synthesised set the shipped nets and k-NN train on.

    .venv/bin/python benchmarks/hash_training_sets.py [--save FILE] [--against FILE]

Run it on two versions of the code (two checkouts): equal hashes mean a change to the
preprocessing pipeline leaves every training digit and negative as it was, so trained nets
may have their pipeline stamp moved (``restamped`` in their ``.json``) instead of being trained
again. The sets are the pipeline-rendered pools (seeds 0 and 1: the pair's nets) and the styled
digits with negatives, at the sizes the shipped models use. Takes a few minutes.

Where the hashes differ, say how much: ``--save FILE`` on one checkout writes a digest of every
item (image and label) of every set, and ``--against FILE`` on the other prints, per set, how
many items differ and the first that does (the negatives are drawn by rejection sampling, so
after one changed item the rest of the stream may shift). FILE holds digests only, never images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from digitlab.synth.augment import rendered_pool
from digitlab.training.data import extra_examples, training_data

# (styled, negative, seed) and (pipeline, coarse, seed): the nets' pools (ann.json, cnn.json)
# and k-NN's extra digits (knn.json).
EXTRA = [(6000, 8000, 0), (6000, 8000, 1), (500, 4000, 0)]
RENDERED = [(8000, 6000, 0), (8000, 6000, 1)]


def digest(*arrays: np.ndarray) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()[:16]


def item_digests(x: np.ndarray, y: np.ndarray) -> list[str]:
    """One digest per item: its image and its label."""
    return [digest(image, label) for image, label in zip(x, y, strict=True)]


def differences(before: list[str], after: list[str]) -> str:
    """A line saying how many items of a set changed between two runs, and the first."""
    if len(before) != len(after):
        return f"{len(before)} items before, {len(after)} now"
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    if not changed:
        return f"all {len(after)} items the same"
    return f"{len(changed)} of {len(after)} items differ, the first at {changed[0]}"


def training_sets():
    """(name, images, labels) of every set the shipped models train on."""
    data = training_data()
    for styled, negative, seed in EXTRA:
        x, y = extra_examples(data.train_x, data.train_y, styled, negative, seed)
        yield f"styled {styled} negative {negative} seed {seed}", x, y
    for pipeline, coarse, seed in RENDERED:
        x, y = rendered_pool(data.train_x, data.train_y, pipeline, coarse, seed)
        yield f"rendered {pipeline} coarse {coarse} seed {seed}", x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write every item's digest to this file")
    parser.add_argument("--against", type=Path, help="compare with a file --save wrote")
    args = parser.parse_args()
    before = json.loads(args.against.read_text()) if args.against else {}
    saved = {}
    for name, x, y in training_sets():
        line = f"{name}: {digest(x, y)}"
        if args.save or args.against:
            saved[name] = item_digests(x, y)
        if args.against:
            line += " (" + (differences(before[name], saved[name]) if name in before
                            else "not in the file compared with") + ")"  # fmt: skip
        print(line, flush=True)
    if args.save:
        args.save.write_text(json.dumps(saved))


if __name__ == "__main__":
    main()
