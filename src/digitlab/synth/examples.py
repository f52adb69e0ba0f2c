"""Example images for a demo, made here from MNIST validation digits: nobody else's pictures.

Each example is drawn with the user-like generator's own pieces (``digitlab.synth.userlike``:
shapes, paper, lighting, camera, encoding) from a fixed seed, so the same bytes come back every
time:
a phone photo, a flatbed scan, chalk on a board, a drawing-app export (white ink on a
transparent background) and a row of digits for *Read a number*.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SEED = 2026  # any fixed value: the examples only have to be the same on every machine


@dataclass(frozen=True)
class Example:
    """One example upload: a file ``name``, its encoded ``data`` and the digits it shows."""

    name: str
    data: bytes
    text: str

    @property
    def is_number(self) -> bool:
        return len(self.text) > 1


def _digit(label: int, rng: np.random.Generator) -> np.ndarray:
    """A validation digit showing ``label``, picked by ``rng``."""
    from digitlab.synth import userlike  # here: the app imports this module on its first page

    images, labels = userlike.mnist_validation_digits()
    return images[rng.choice(np.flatnonzero(labels == label))]


def _from_generator(kind: str, label: int) -> bytes:
    from digitlab.synth import userlike  # here: the app imports this module on its first page

    rng = np.random.default_rng([SEED, label])
    maker = {"photo": userlike.make_photo, "scan": userlike.make_scan}[kind]
    return maker(_digit(label, rng), label, rng).data


def _chalkboard(label: int) -> bytes:
    from digitlab.synth import userlike  # here: the app imports this module on its first page

    rng = np.random.default_rng([SEED, label, 1])
    shape = userlike.tight(userlike.mnist_shape(_digit(label, rng), 260, rng))
    coverage = userlike.place(shape, 360, 480, rng)
    board = np.array([0.12, 0.2, 0.15], np.float32)
    chalk = np.array([0.92, 0.92, 0.85], np.float32)
    rgb = userlike.paint(coverage, board, chalk, userlike.lighting(360, 480, rng, 0.3))
    rgb = userlike.camera(rgb, rng, blur=0.8, noise=0.02)
    return userlike.encode(rgb, "JPEG", "RGB", rng)


def _transparent_drawing(label: int) -> bytes:
    from digitlab.synth import userlike  # here: the app imports this module on its first page

    rng = np.random.default_rng([SEED, label, 2])
    shape = userlike.tight(userlike.mnist_shape(_digit(label, rng), 220, rng))
    coverage = userlike.restroke(userlike.place(shape, 300, 300, rng), 22)
    rgba = np.ones((300, 300, 4), np.float32)  # white ink, transparent everywhere else
    rgba[..., 3] = coverage
    return userlike.encode(rgba, "PNG", "RGBA", rng)


def row_of_digits(text: str) -> bytes:
    """A photo of ``text`` (digits) written on paper, the same bytes on every call."""
    from digitlab.synth import userlike  # here: the app imports this module on its first page

    rng = np.random.default_rng([SEED, int(text)])
    shapes = [userlike.tight(userlike.mnist_shape(_digit(int(c), rng), 150, rng)) for c in text]
    gap = 40
    width = sum(s.shape[1] for s in shapes) + gap * (len(shapes) + 1)
    coverage = np.zeros((230, width), np.float32)
    x = gap
    for shape in shapes:
        y = 40 + int(rng.integers(0, 20))
        coverage[y : y + shape.shape[0], x : x + shape.shape[1]] = shape
        x += shape.shape[1] + gap
    paper = np.array([0.97, 0.96, 0.92], np.float32)
    ink = np.array([0.1, 0.12, 0.35], np.float32)
    rgb = userlike.paint(coverage, paper, ink, userlike.lighting(*coverage.shape, rng, 0.3))
    rgb = userlike.camera(rgb, rng, blur=0.7, noise=0.01)
    return userlike.encode(rgb, "JPEG", "RGB", rng)


# Display name -> (file name, how it is made, the digits it shows)
MAKERS = {
    "Photo": ("photo-3.jpg", lambda: _from_generator("photo", 3), "3"),
    "Scan": ("scan-7.png", lambda: _from_generator("scan", 7), "7"),
    "Chalkboard": ("chalkboard-4.jpg", lambda: _chalkboard(4), "4"),
    "Drawing": ("drawing-2.png", lambda: _transparent_drawing(2), "2"),
    "Row of digits": ("number-2026.jpg", lambda: row_of_digits("2026"), "2026"),
}
NAMES = tuple(MAKERS)


@lru_cache(maxsize=len(MAKERS))
def example(name: str) -> Example:
    """The example called ``name`` (one of ``NAMES``), the same bytes on every call and machine."""
    file_name, make, text = MAKERS[name]
    return Example(file_name, make(), text)
