"""How often the models refuse real digits ("not a digit"), per kind of input, and how often
they refuse what is not a digit.

The target: at most ``DIGITS_REFUSED_TARGET`` of real digits refused on every kind, while
refusing at least ``NOT_DIGITS_REFUSED_TARGET`` of non-digits. Every share here is of *all*
the images of a kind, those the pipeline finds blank or cannot read included (they are
counted apart, as ``blank``), so the shares of one kind add up with the answers that were
right. ``benchmarks/bench_refusals.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from digitlab.answers.inference import Prediction, predict_preprocessed_batch
from digitlab.synth.negatives import paper_photo, through_pipeline

DIGITS_REFUSED_TARGET = 0.005
NOT_DIGITS_REFUSED_TARGET = 0.90


def read_uploads(uploads: Iterable[bytes]) -> list[np.ndarray | None]:
    """Each upload through our pipeline: its 28x28, or None when blank or unusable."""
    return [through_pipeline(data) for data in uploads]


def tally_digits(predictions: Sequence[Prediction], labels: Sequence[int], blank: int) -> dict:
    """Shares of one kind's real digits: ``predictions`` of the readable images with their
    ``labels``, and ``blank`` more images the pipeline found blank or could not read.

    ``refused``: the model says "not a digit"; ``misread``: it answers a wrong digit;
    ``refused_right``: refused although its likeliest digit was the right one.
    """
    n = len(predictions) + blank
    refused = [p.digit is None for p in predictions]
    right = [int(np.argmax(p.probabilities)) == label
             for p, label in zip(predictions, labels, strict=True)]  # fmt: skip
    misread = sum(not r and p.digit != label
                  for r, p, label in zip(refused, predictions, labels, strict=True))  # fmt: skip
    refused_right = sum(r and ok for r, ok in zip(refused, right, strict=True))
    return {
        "n": n,
        "blank": share(blank, n),
        "refused": share(sum(refused), n),
        "misread": share(misread, n),
        "refused_right": share(refused_right, n),
    }


def tally_not_digits(predictions: Sequence[Prediction], found_nothing: int = 0) -> dict:
    """Shares of non-digits refused: by the pipeline (``found_nothing``, no digit found), by
    the model (of the ``predictions`` made on the rest), and both together."""
    n = len(predictions) + found_nothing
    by_model = share(sum(p.digit is None for p in predictions), n)
    by_pipeline = share(found_nothing, n)
    return {"n": n, "pipeline": by_pipeline, "model": by_model, "refused": by_pipeline + by_model}


def share(count: int, n: int) -> float:
    return count / n if n else 0.0


def measure_digits(images: Sequence[np.ndarray | None], labels: Sequence[int], model) -> dict:
    """``tally_digits`` of ``model`` on images read by ``read_uploads`` (None = blank)."""
    readable = [i for i, image in enumerate(images) if image is not None]
    predictions = answers([images[i] for i in readable], model)
    return tally_digits(predictions, [labels[i] for i in readable], len(images) - len(readable))


def measure_not_digits(images: Sequence[np.ndarray | None], model) -> dict:
    """``tally_not_digits`` of ``model`` on non-digit images (None = the pipeline found none)."""
    readable = [image for image in images if image is not None]
    return tally_not_digits(answers(readable, model), len(images) - len(readable))


def answers(images: list[np.ndarray], model) -> list[Prediction]:
    return predict_preprocessed_batch(images, model) if images else []


def paper_photos(n: int, seed: int) -> list[np.ndarray | None]:
    """``n`` photos of paper without a digit (shadows, edges, lines, textures), read by our
    pipeline as an upload is; None where it finds nothing."""
    rng = np.random.default_rng(seed)
    return read_uploads(paper_photo(rng) for _ in range(n))


def meets_target(digit_shares: Iterable[float], not_digit_shares: Iterable[float]) -> bool:
    """At most 0.5% of real digits refused on every kind, at least 90% of non-digits."""
    return all(s <= DIGITS_REFUSED_TARGET for s in digit_shares) and all(
        s >= NOT_DIGITS_REFUSED_TARGET for s in not_digit_shares
    )
