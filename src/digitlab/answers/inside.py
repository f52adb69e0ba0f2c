"""Look inside a model: what its layers hold, and what they make of one digit, as numpy.

What each model has to show follows from its structure, not its name (``inside_views``):

- a network with convolutions (``net`` holds a ``Conv2d``): its feature maps stage by stage
  (``cnn_stages``) and its first layer's filters (``first_layer_filters``);
- a network of dense layers (``net`` starts with a ``Linear``): its first layer's weights,
  one 28x28 picture per neuron (``ann_first_layer``);
- a model with ``templates()`` (Logistic Regression): one weight template per digit
  (``logreg_templates``);
- k-NN has nothing inside but its training digits: the *Why* view shows its neighbours.

A learner's run also keeps its first layer after each epoch (``run_snapshots``), so a
student can watch the filters form. ``tile`` lays any stack of small images out as one
mosaic for display. Every function here is pure (the snapshots read one verified file).
"""

from __future__ import annotations

import re
import zipfile
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from digitlab.errors import ModelError
from digitlab.imaging.features import as_image28
from digitlab.models import artifacts, runs
from digitlab.models.torchnet import to_tensor

SNAPSHOTS_FILE = "snapshots.npz"
SNAPSHOT_KEY = re.compile(r"epoch([1-9][0-9]*)")
ANN_UNITS_SHOWN = 32  # the first dense layer has 1024 neurons: a screenful is enough to see
POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten)
# What a view needs: "stages" the current digit, the others only the weights.
NEEDS_IMAGE = ("stages",)


class Stage(NamedTuple):
    """One stage of a convolutional network: a name for people and its maps [channels,H,W]."""

    name: str
    maps: np.ndarray


def network(model) -> nn.Sequential | None:
    """The model's ``nn.Sequential`` (the ANN's and the CNN's ``net``), else None."""
    net = getattr(model, "net", None)
    return net if isinstance(net, nn.Sequential) else None


def inside_views(model) -> list[str]:
    """The *Look inside* views ``model`` supports, decided from its structure:
    ``["stages", "filters"]`` for a convolutional net, ``["weights"]`` for a dense one,
    ``["templates"]`` for a model with weight templates, ``[]`` for the rest (k-NN)."""
    net = network(model)
    if net is not None:
        if any(isinstance(m, nn.Conv2d) for m in net.modules()):
            return ["stages", "filters"]
        if any(isinstance(m, nn.Linear) for m in net.modules()):
            return ["weights"]
        return []
    if callable(getattr(model, "templates", None)):
        return ["templates"]
    return []


def as_unit_images(weights: np.ndarray) -> np.ndarray:
    """First-layer weights as one small image per unit: conv filters [units,channels,k,k]
    (averaged over the input channels; the first layer has one, the grey digit) or dense rows
    [units,side*side] -> [units,side,side]. ``ValueError`` for any other shape."""
    w = np.asarray(weights, np.float32)
    if w.ndim == 4 and w.shape[2] == w.shape[3]:
        return w.mean(axis=1)
    if w.ndim == 3 and w.shape[1] == w.shape[2]:
        return w
    side = round(np.sqrt(w.shape[1])) if w.ndim == 2 else 0
    if w.ndim == 2 and side * side == w.shape[1]:
        return w.reshape(len(w), side, side)
    raise ValueError(f"Weights of shape {w.shape} are not filters or 28x28 rows.")


def _require_network(model, kind: type[nn.Module]) -> nn.Sequential:
    net = network(model)
    if net is None or not any(isinstance(m, kind) for m in net.modules()):
        raise ModelError(f"This model has no {kind.__name__} layer to look inside.")
    return net


def cnn_stages(model, image28: np.ndarray) -> list[Stage]:
    """The CNN's feature maps for one preprocessed 28x28 digit, stage by stage.

    The layers of ``model.net`` run one by one; the activations after each ReLU that comes
    just before a pooling layer or the flatten are kept: the end of each block of
    convolutions, e.g. ``"block 1: 32 maps of 28x28"``. Each stage's maps are
    float32 [channels,H,W], non-negative (after the ReLU)."""
    net = _require_network(model, nn.Conv2d)
    layers = list(net)
    x = to_tensor(as_image28(image28)[None])
    stages: list[Stage] = []
    net.eval()
    with torch.inference_mode():
        for layer, after in zip(layers, [*layers[1:], None], strict=True):
            x = layer(x)
            if isinstance(layer, nn.ReLU) and isinstance(after, POOLING) and x.ndim == 4:
                maps = x[0].float().numpy().copy()
                c, h, w = maps.shape
                stages.append(Stage(f"block {len(stages) + 1}: {c} maps of {h}x{w}", maps))
    return stages


def first_layer_filters(model) -> np.ndarray:
    """The first convolution's filters as float32 [units,k,k] (3x3 for DigitLab's CNN)."""
    net = _require_network(model, nn.Conv2d)
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    return as_unit_images(conv.weight.detach().float().cpu().numpy())


def ann_first_layer(model, count: int = ANN_UNITS_SHOWN) -> np.ndarray:
    """The dense net's first-layer weights as float32 [count,28,28], one image per neuron.

    The first layer has far more neurons (1024) than fit on a screen: the ``count`` with the
    largest weights (L2 norm of their 784 weights) are shown, strongest first."""
    net = _require_network(model, nn.Linear)
    dense = next(m for m in net.modules() if isinstance(m, nn.Linear))
    rows = dense.weight.detach().float().cpu().numpy()
    strongest = np.argsort(-np.linalg.norm(rows, axis=1), kind="stable")[:count]
    return as_unit_images(rows[strongest])


def logreg_templates(model) -> np.ndarray:
    """Logistic Regression's ten weight templates, [10,28,28] (positive = evidence for)."""
    return np.asarray(model.templates(), np.float32)


def run_snapshots(run_name: str) -> list[tuple[int, np.ndarray]]:
    """A learner's run's first layer after each epoch: [(epoch, images [units,k,k]), ...].

    Read from the run's ``snapshots.npz`` through its manifest (SHA-256 checked); conv
    filters come back as 3x3 images, dense rows as 28x28. A run without the file (a model
    with no layers, such as k-NN) gives ``[]``; a damaged file raises ``ModelError``."""
    folder = runs.run_path(run_name)
    if not (folder / SNAPSHOTS_FILE).is_file():
        return []
    damaged = f"The weight snapshots of the run {run_name!r} are damaged; retrain the run."
    try:
        arrays = artifacts.load_npz(folder, SNAPSHOTS_FILE)
        epochs = {}
        for key, weights in arrays.items():
            match = SNAPSHOT_KEY.fullmatch(key)
            if match is None:
                raise ValueError(f"unexpected key {key!r}")
            epochs[int(match.group(1))] = as_unit_images(weights)
    except (ModelError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise runs.RunError(damaged) from err
    return sorted(epochs.items())


def normalise(image: np.ndarray, signed: bool = False) -> np.ndarray:
    """One image scaled to [0, 1] for display: its lowest value black and its highest white;
    ``signed`` (weights): zero mid-grey and the largest magnitude black or white. Flat: black
    (signed: mid-grey)."""
    x = np.asarray(image, np.float32)
    if signed:
        peak = float(np.abs(x).max())
        return 0.5 + x / (2 * peak) if peak > 1e-12 else np.full_like(x, 0.5)
    low, high = float(x.min()), float(x.max())
    if high - low < 1e-12:
        return np.zeros_like(x)
    return (x - low) / (high - low)


def tile(images: np.ndarray, columns: int, gap: float = 0.5, signed: bool = False) -> np.ndarray:
    """Lay ``images`` [N,H,W] out as one float32 mosaic, ``columns`` wide, each image
    normalised on its own to [0, 1] (``normalise``) with a 1-pixel ``gap`` between them (and
    in the last row's empty places); a NaN ``gap`` lets the caller colour the gaps."""
    images = np.asarray(images, np.float32)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError("tile needs a non-empty stack of 2-D images [N,H,W].")
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    mosaic = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), gap, np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * (h + 1), c * (w + 1)
        mosaic[top : top + h, left : left + w] = normalise(image, signed)
    return mosaic
