"""Why did a model answer what it did? One honest view per model, as pure functions.

Each view shows what the model actually computes, not a generic picture:

- ``occlusion_map`` (any model): grey out a small patch, see how much the probability of the
  answer drops. Model-agnostic and easy to read: red = ink the answer needs.
- ``gradient_times_input`` (neural nets): for a ReLU network this splits the class score into
  per-pixel contributions around this input (exact for the linear pieces the input lies on).
- ``nearest_training_digits`` (k-NN): the training digits that voted, with labels and distances.
- ``logreg_evidence`` (Logistic Regression): the class's weight template and, pixel by pixel,
  template x (deskewed) input: the class score is exactly their sum plus a bias.

``VIEWS`` names each as an ``Explanation`` (pictures and a caption) that the app draws; a
model's registry entry lists the views it shows. Every function takes a 28x28 image (uint8
0-255 or float in [0, 1]) as the model saw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from digitlab.data.mnist import SPLIT_SIZES
from digitlab.imaging.features import as_image28

MNIST_TRAIN_SIZE = SPLIT_SIZES["train"]
OCCLUSION_PATCH = 6  # a patch about one stroke wide and a third of the digit's 20 px height
OCCLUSION_STRIDE = 2


@dataclass(frozen=True)
class Neighbour:
    """One digit of k-NN's index near the input: its index (below 60,000: its position in
    ``load_mnist("train")``; above: a styled digit made from training digits), label, distance.
    """

    index: int
    label: int
    distance: float
    image: np.ndarray | None
    styled: bool = False


@dataclass(frozen=True)
class LogregEvidence:
    """A class's weight template, the deskewed input the model scores, and their product."""

    template: np.ndarray
    deskewed: np.ndarray
    contribution: np.ndarray


def occlusion_map(
    model,
    image: np.ndarray,
    digit: int,
    patch: int = OCCLUSION_PATCH,
    stride: int = OCCLUSION_STRIDE,
) -> np.ndarray:
    """How much the probability of ``digit`` drops when each pixel is hidden (28x28 float).

    A ``patch`` x ``patch`` square is set to the background (0) at every ``stride`` step; each
    pixel gets the mean drop over the patches covering it. Positive: hiding it hurts the
    answer; negative: hiding it helps (ink that looks like another digit). All patches go
    through ``model.predict_proba`` in one batch, so this works for every model.
    """
    x = as_image28(image)
    starts = range(0, 28 - patch + 1, stride)
    positions = [(r, c) for r in starts for c in starts]
    batch = np.repeat(x[None], len(positions), axis=0)
    for i, (r, c) in enumerate(positions):
        batch[i, r : r + patch, c : c + patch] = 0.0
    base = float(model.predict_proba(x[None])[0, digit])
    drops = base - model.predict_proba(batch)[:, digit]
    total = np.zeros((28, 28), np.float64)
    count = np.zeros((28, 28), np.float64)
    for (r, c), drop in zip(positions, drops, strict=True):
        total[r : r + patch, c : c + patch] += drop
        count[r : r + patch, c : c + patch] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def gradient_times_input(model, image: np.ndarray, digit: int) -> np.ndarray:
    """gradient x input of the class score: signed per-pixel contributions (28x28).

    ``model`` has ``input_gradient(image, digit)`` (the neural nets). Only lit pixels can
    contribute; blank background reads 0 by construction.
    """
    x = as_image28(image)
    return model.input_gradient(x, digit) * x


def nearest_training_digits(
    knn_model, image: np.ndarray, train_images: np.ndarray | None = None, k: int | None = None
) -> list[Neighbour]:
    """The ``k`` (default: the model's k) digits of k-NN's index nearest to ``image``, closest
    first.

    ``train_images`` (``load_mnist("train")[0]``) adds each neighbour's picture; a styled digit
    (only its features ship) is pictured as the model sees it: deskewed and blurred, rebuilt
    from its PCA features.
    """
    distances, positions, labels = knn_model.kneighbors(as_image28(image)[None], k=k)
    styled_features = knn_model.styled_features()
    neighbours = []
    for d, i, lab in zip(distances[0], positions[0], labels[0], strict=True):
        styled = int(i) >= MNIST_TRAIN_SIZE
        if train_images is None:
            picture = None
        elif styled:
            rebuilt = knn_model.mean + styled_features[i - MNIST_TRAIN_SIZE] @ knn_model.components
            picture = np.clip(rebuilt, 0, 1).reshape(28, 28)
        else:
            picture = train_images[i]
        neighbours.append(Neighbour(int(i), int(lab), float(d), picture, styled))
    return neighbours


def logreg_evidence(logreg_model, image: np.ndarray, digit: int) -> LogregEvidence:
    """The weight template of ``digit`` and its pixel-wise product with the deskewed input.

    The model deskews its input first (``digitlab.features.deskew``), so the template is
    matched against the deskewed digit, which is shown here as well.
    """
    from digitlab.imaging.features import deskew

    deskewed = deskew(as_image28(image)[None])[0]
    template = np.asarray(logreg_model.templates()[digit], np.float32)
    return LogregEvidence(template, deskewed, template * deskewed)


# --- the views the app shows ----------------------------------------------------------------


@dataclass(frozen=True)
class Picture:
    """One picture of a view: ``values`` [28,28] drawn as a signed ``"heatmap"`` (red for,
    blue against; over the grey ``under`` image if given) or as a grey ``"digit"``."""

    values: np.ndarray
    caption: str
    kind: str = "heatmap"
    under: np.ndarray | None = None


@dataclass(frozen=True)
class Explanation:
    pictures: list[Picture]
    caption: str


def occlusion_view(model, image: np.ndarray, digit: int) -> Explanation:
    patch = OCCLUSION_PATCH
    occlusion = occlusion_map(model, image, digit)
    return Explanation(
        [Picture(occlusion, f"Occlusion: hiding red lowers P({digit})", under=as_image28(image))],
        f"The occlusion map greys out a {patch}x{patch} patch at a time and measures how much "
        f"the probability of {digit} drops: red is ink the answer depends on, blue is ink that "
        "looks more like another digit. A CNN's filters look for strokes wherever they are, "
        "so hiding whole pieces of stroke is the question to ask it; the map needs only the "
        "model's answers, so any model can show it.",
    )


def gradient_view(model, image: np.ndarray, digit: int) -> Explanation:
    contribution = gradient_times_input(model, image, digit)
    return Explanation(
        [Picture(contribution, f"Gradient x input for {digit}", under=as_image28(image))],
        f"Gradient x input splits the network's score for {digit} among the lit pixels, to "
        f"first order: red pushed towards {digit}, blue away from it. A multilayer perceptron "
        "weighs 784 separate pixels, not strokes, so a per-pixel account is its own story.",
    )


@cache
def _training_images() -> np.ndarray:
    from digitlab.data.mnist import load_mnist

    return load_mnist("train")[0]


def neighbours_view(model, image: np.ndarray, digit: int) -> Explanation:
    found = nearest_training_digits(model, image, _training_images())
    pictures = [
        Picture(n.image, f"{n.label} (distance {n.distance:.2f}"
                f"{', a styled digit made here' if n.styled else ''})", kind="digit")
        for n in found
    ]  # fmt: skip
    votes = sum(n.label == digit for n in found)
    return Explanation(
        pictures,
        f"The {len(found)} training digits closest to yours, closest first; {votes} of them "
        f"are {digit}s. Closer digits get bigger votes (weight 1/distance). Distances are "
        "measured after deskewing, blurring and projecting onto the main PCA directions, "
        "forgiving small moves of your digit (see How it works).",
    )


def template_view(model, image: np.ndarray, digit: int) -> Explanation:
    evidence = logreg_evidence(model, image, digit)
    return Explanation(
        [
            Picture(evidence.template, f"Weight template of {digit}"),
            Picture(evidence.deskewed, "Your digit, deskewed", kind="digit"),
            Picture(evidence.contribution, "Template x digit", under=evidence.deskewed),
        ],
        "Logistic Regression scores each digit by one weight per pixel: red pixels count for "
        f"{digit}, blue against. The model deskews its input first (straightens the slant), so "
        "the template is matched against the deskewed digit; the score is the sum of the "
        "right-hand picture plus a bias.",
    )


VIEWS = {
    "occlusion": occlusion_view,
    "gradient": gradient_view,
    "neighbours": neighbours_view,
    "template": template_view,
}
