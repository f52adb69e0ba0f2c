"""Print a SHA-256 of each synthesised set the shipped nets and k-NN train on.

    .venv/bin/python benchmarks/hash_training_sets.py

Run it on two versions of the code (two checkouts): equal hashes mean a change to the
preprocessing pipeline leaves every training digit and negative as it was, so trained nets
may have their pipeline stamp moved (``restamped`` in their ``.json``) instead of being trained
again. The sets are the pipeline-rendered pools (seeds 0 and 1: the pair's nets) and the styled
digits with negatives, at the sizes the shipped models use. Takes a few minutes.
"""

from __future__ import annotations

import hashlib

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


def main() -> None:
    data = training_data()
    for styled, negative, seed in EXTRA:
        x, y = extra_examples(data.train_x, data.train_y, styled, negative, seed)
        print(f"styled {styled} negative {negative} seed {seed}: {digest(x, y)}", flush=True)
    for pipeline, coarse, seed in RENDERED:
        x, y = rendered_pool(data.train_x, data.train_y, pipeline, coarse, seed)
        print(f"rendered {pipeline} coarse {coarse} seed {seed}: {digest(x, y)}", flush=True)


if __name__ == "__main__":
    main()
