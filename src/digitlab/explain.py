"""Why did a model answer what it did? One honest view per model, as pure functions.

Each view shows what the model actually computes, not a generic picture:

- ``occlusion_map`` (any model, shown for the CNN): grey out a small patch, see how much the
  probability of the answer drops. Model-agnostic and easy to read: red = ink the answer needs.
- ``gradient_times_input`` (the ANN): for a ReLU network this splits the class score into
  per-pixel contributions around this input (exact for the linear pieces the input lies on).
- ``saliency_map`` (neural nets): the size of the class score's gradient, per pixel.
- ``nearest_training_digits`` (k-NN): the training digits that voted, with labels and distances.
- ``logreg_evidence`` (Logistic Regression): the class's weight template and, pixel by pixel,
  template x (deskewed) input: the class score is exactly their sum plus a bias.

Every function takes a 28x28 image (uint8 0-255 or float in [0, 1]) as the model saw it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitlab.features import as_float_images

OCCLUSION_PATCH = 6  # a patch about one stroke wide and a third of the digit's 20 px height
OCCLUSION_STRIDE = 2


@dataclass(frozen=True)
class Neighbour:
    """One digit of k-NN's index near the input: its index (below 60,000: in
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


def as_image28(image: np.ndarray) -> np.ndarray:
    """One float32 [28, 28] image in [0, 1] (accepts uint8 or float, [28,28] or [1,28,28])."""
    x = as_float_images(image)
    if len(x) != 1:
        raise ValueError(f"Expected one 28x28 image, got {len(x)}.")
    return x[0]


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


def _input_gradient(net, image: np.ndarray, digit: int) -> tuple[np.ndarray, np.ndarray]:
    """(d logit[digit] / d input, input), both [28, 28], for a torch net in eval mode."""
    import torch

    x = torch.from_numpy(as_image28(image))[None, None].requires_grad_(True)
    net.eval()
    with torch.enable_grad():
        net(x)[0, digit].backward()
    return x.grad[0, 0].numpy().astype(np.float32), x.detach()[0, 0].numpy()


def saliency_map(net, image: np.ndarray, digit: int) -> np.ndarray:
    """|gradient| of the class score (logit) with respect to each input pixel (28x28, >= 0)."""
    gradient, _ = _input_gradient(net, image, digit)
    return np.abs(gradient)


def gradient_times_input(net, image: np.ndarray, digit: int) -> np.ndarray:
    """gradient x input of the class score: signed per-pixel contributions (28x28).

    Only lit pixels can contribute; blank background reads 0 by construction.
    """
    gradient, x = _input_gradient(net, image, digit)
    return gradient * x


def nearest_training_digits(
    knn_model, image: np.ndarray, train_images: np.ndarray | None = None, k: int | None = None
) -> list[Neighbour]:
    """The ``k`` (default: the model's k) digits of k-NN's index nearest to ``image``, closest
    first.

    ``train_images`` (``load_mnist("train")[0]``) adds each neighbour's picture; a styled digit
    (only its features ship) is pictured as the model sees it: deskewed and blurred, rebuilt
    from its PCA features.
    """
    distances, indices, labels = knn_model.kneighbors(as_image28(image)[None], k=k)
    mnist_count = len(knn_model.mnist_index()[1])
    index_features = knn_model.index()[0]
    neighbours = []
    for d, i, lab in zip(distances[0], indices[0], labels[0], strict=True):
        styled = int(i) >= mnist_count
        if train_images is None:
            picture = None
        elif styled:
            rebuilt = knn_model.mean + index_features[i] @ knn_model.components
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
    from digitlab.features import deskew

    deskewed = deskew(as_image28(image)[None])[0]
    template = np.asarray(logreg_model.templates()[digit], np.float32)
    return LogregEvidence(template, deskewed, template * deskewed)
