"""A generator of user-like digit images: what people really upload, built from held-out digits.

Images are made from digits no model was trained on, from one of two splits:

* ``split="val"`` (the default, for development and tuning): MNIST *validation* digits, exactly
  the 5,000 training images every model holds out (``digitlab.data.splits``);
* ``split="test"`` (for the final figures only): MNIST *test* digits.

The ``lowres`` kind uses scikit-learn's bundled ``load_digits()`` instead: 8x8 digits with 17
grey levels written by other people than MNIST's writers, split at random into two fixed halves,
one per split. Each image comes back as encoded file bytes, so evaluating on them exercises
decoding too. Generation is deterministic given ``seed`` and ``split``.

Kinds (``KINDS``):

* ``photo``   phone photo of ink on paper: tinted paper, lighting gradient, vignetting, shadow,
  blur, sensor noise, JPEG, EXIF orientation, a small digit off-centre on a big canvas;
* ``desk``    phone photo of a sheet lying rotated on a darker desk (wood, a dark table, a lap,
  a clipboard with its clip), sometimes cut by the frame, with a hand at an edge or notebook
  spiral holes, a little perspective, lighting, noise, JPEG; the digit 8-30% of the height;
* ``scan``    flatbed scan: white-ish paper, dust specks, a dark scanner edge, formats and modes
  from 1-bit TIFF to 16-bit and CMYK;
* ``dark``    light ink on dark: chalk on a board (textured strokes, smudges) or a dark-mode
  screenshot;
* ``canvas``  drawing-app exports: RGBA/LA/P PNGs, WebP or GIF with a transparent background,
  strokes redrawn with a uniform round brush;
* ``thin``    a thin pen (1-3 px at 100-300 px digit height);
* ``thick``   a thick marker (stroke 10-22% of the digit's height);
* ``slant``   strongly slanted writing (shear of 15-30 degrees);
* ``lowres``  other writers' 8x8 digits with few grey levels, raw or enlarged blockily;
* ``coarse16`` MNIST digits reduced to 16x16 with 4-8 grey levels.

The transformations are deliberately broader than the pipeline needs, so the figures are not
flattered by a generator that mirrors ``digitlab.preprocess``. Two kinds are *not* out of
distribution for the neural models (``IMITATED_BY_TRAINING``): their training augmentation
(``digitlab.synth.augment``) imitates coarse low-resolution scans, both by averaging digits down to
8-14 pixels with 17 grey levels and by a pool of training digits reduced to 8x8, 12x12 or 16x16
scans and sent through the pipeline, which is what ``lowres`` and ``coarse16`` are.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

# The steps each kind combines; tests and the app's examples import them from here too.
from digitlab.synth.desk import desk_scene
from digitlab.synth.encoding import encode, with_exif_orientation
from digitlab.synth.scenes import (
    camera,
    lighting,
    paint,
    place,
    random_ink,
    random_paper,
    ruled_lines,
)
from digitlab.synth.shapes import mnist_shape, restroke, tight, warp

KINDS = (
    "photo", "desk", "scan", "dark", "canvas", "thin", "thick", "slant", "lowres", "coarse16",
)  # fmt: skip
# Kinds the neural models' training augmentation imitates (coarse scans,
# ``digitlab.synth.augment``):
# their columns are not out-of-distribution figures.
IMITATED_BY_TRAINING = ("lowres", "coarse16")
SPLITS = ("val", "test")
OTHER_WRITERS_SPLIT_SEED = 0  # fixes which half of sklearn's 8x8 digits each split uses


@dataclass(frozen=True)
class UserImage:
    """One generated upload: encoded ``data`` bytes, true ``label``, ``kind`` and file format."""

    data: bytes
    label: int
    kind: str
    file_format: str


def generate(kind: str, n: int, seed: int = 0, split: str = "val") -> list[UserImage]:
    """``n`` user-like images of ``kind`` from ``split``'s digits, deterministic given ``seed``.

    ``split="val"`` for development and tuning, ``split="test"`` for final figures only.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; choose from {', '.join(KINDS)}.")
    # Seeded by the kind's name, so adding a kind does not change the others' images.
    rng = np.random.default_rng([seed, zlib.crc32(kind.encode())])
    images, labels = source_digits(kind, split)
    picks = rng.choice(len(images), size=n, replace=n > len(images))
    make = RENDERERS[kind]
    return [make(images[i], int(labels[i]), rng) for i in picks]


def source_digits(kind: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits a kind is made from: half of sklearn's 8x8 digits for ``lowres``,
    else MNIST's validation digits (``"val"``) or its test digits (``"test"``)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; choose from {', '.join(SPLITS)}.")
    if kind == "lowres":
        return other_writers_digits(split)
    return mnist_validation_digits() if split == "val" else mnist_test_digits()


@lru_cache(maxsize=1)
def mnist_validation_digits() -> tuple[np.ndarray, np.ndarray]:
    """The validation digits every model holds out of training, float32 [N, 28, 28] in
    [0, 1] (white on black), and labels."""
    from digitlab.data.splits import validation_digits

    return validation_digits()


@lru_cache(maxsize=1)
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images as float32 [N, 28, 28] in [0, 1] (white on black) and labels."""
    from digitlab.data.mnist import load_mnist

    images, labels = load_mnist("test")
    return images.astype(np.float32) / 255.0, labels


@lru_cache(maxsize=2)
def other_writers_digits(split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """One fixed half of scikit-learn's bundled 8x8 digits (17 grey levels) as float32 in
    [0, 1] and labels: the first half of a seeded shuffle for ``"val"``, the rest for
    ``"test"``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(OTHER_WRITERS_SPLIT_SEED).permutation(len(digits.target))
    half = len(order) // 2
    chosen = order[:half] if split == "val" else order[half:]
    return (digits.images[chosen] / 16.0).astype(np.float32), digits.target[chosen]


# ---------------------------------------------------------------------------------------------
# Kinds: each combines a shape (``shapes``), a scene (``scenes``, ``desk``) and an encoding


def make_photo(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    long_side = int(rng.integers(640, 1600))
    aspect = rng.choice([4 / 3, 3 / 2, 16 / 9])
    h, w = (long_side, int(long_side / aspect))
    if rng.random() < 0.5:
        h, w = w, h
    digit_h = int(min(h, w) * rng.uniform(0.12, 0.45))
    shape = tight(warp(mnist_shape(digit, digit_h, rng), rng.uniform(-6, 6), 0.0))
    coverage = place(shape, h, w, rng)
    if rng.random() < 0.2:
        coverage = np.maximum(coverage, ruled_lines(h, w, rng))
    rgb = paint(coverage, random_paper(rng), random_ink(rng), lighting(h, w, rng, 0.5))
    rgb = camera(rgb, rng, blur=rng.uniform(0.3, 1.5) * digit_h / 150, noise=rng.uniform(0, 0.03))
    fmt = str(rng.choice(["JPEG", "JPEG", "JPEG", "WEBP", "PNG"]))
    rgb, save = with_exif_orientation(rgb, rng) if fmt == "JPEG" else (rgb, {})
    return UserImage(encode(rgb, fmt, "RGB", rng, **save), label, "photo", fmt)


def make_scan(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    digit_h = int(rng.integers(60, 260))
    shape = tight(warp(mnist_shape(digit, digit_h, rng), rng.uniform(-3, 3), 0.0))
    h = int(digit_h * rng.uniform(1.3, 4.0))
    w = int(h * rng.uniform(0.7, 1.6))
    coverage = place(shape, h, max(w, shape.shape[1] + 2), rng)
    h, w = coverage.shape
    specks = (rng.random((h, w)) < rng.uniform(0, 4e-4)).astype(np.float32)
    coverage = np.maximum(coverage, ndi.maximum_filter(specks, size=2) * rng.uniform(0.3, 1))
    if rng.random() < 0.3 and not coverage[:, : w // 10].any():  # the scanner lid's edge
        band = int(rng.integers(2, max(w // 25, 3)))
        coverage[:, :band] = np.maximum(coverage[:, :band], 0.8)
    paper = np.full(3, rng.uniform(0.88, 1.0), np.float32) + rng.normal(0, 0.015, 3)
    rgb = paint(coverage, paper, random_ink(rng), lighting(h, w, rng, 0.08))
    rgb = camera(rgb, rng, blur=rng.uniform(0.0, 0.8), noise=rng.uniform(0, 0.015))
    fmt, mode = [
        ("PNG", "L"), ("PNG", "RGB"), ("TIFF", "1"), ("TIFF", "L"), ("TIFF", "I;16"),
        ("TIFF", "CMYK"), ("JPEG", "L"), ("JPEG", "CMYK"), ("BMP", "RGB"), ("GIF", "P"),
    ][int(rng.integers(10))]  # fmt: skip
    return UserImage(encode(rgb, fmt, mode, rng), label, "scan", fmt)


def make_dark(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    size = int(rng.integers(200, 900))
    digit_h = int(size * rng.uniform(0.25, 0.8))
    shape = tight(warp(mnist_shape(digit, digit_h, rng), rng.uniform(-5, 5), 0.0))
    coverage = place(shape, size, int(size * rng.uniform(0.8, 1.5)), rng)
    h, w = coverage.shape
    if rng.random() < 0.5:  # chalk: broken, textured strokes and smudges on a board
        texture = ndi.gaussian_filter(rng.random((h, w)), 1.0)
        coverage = coverage * np.clip(0.4 + 1.5 * (texture - 0.5) * 3, 0.2, 1.0)
        smudge = ndi.gaussian_filter(rng.random((h // 8 + 1, w // 8 + 1)), 2) - 0.5
        smudge = np.clip(np.kron(smudge, np.ones((8, 8)))[:h, :w] * rng.uniform(0, 0.6), 0, 1)
        board = np.array(
            [(0.12, 0.2, 0.15), (0.1, 0.1, 0.1), (0.2, 0.22, 0.25)][rng.integers(3)], np.float32
        )
        chalk = np.array([0.92, 0.92, rng.uniform(0.6, 0.92)], np.float32)
        rgb = paint(np.maximum(coverage, smudge), board, chalk, lighting(h, w, rng, 0.4))
        rgb = camera(rgb, rng, blur=rng.uniform(0.3, 1.2), noise=rng.uniform(0.005, 0.03))
        fmt = str(rng.choice(["JPEG", "PNG", "WEBP"]))
    else:  # dark-mode screenshot: flat dark background, light anti-aliased strokes
        bg = np.full(3, rng.uniform(0.0, 0.2), np.float32)
        pen = np.clip(rng.uniform(0.6, 1.0, 3) + 0.2, 0, 1).astype(np.float32)
        rgb = paint(restroke(coverage, rng.uniform(0.06, 0.14) * digit_h), bg, pen)
        fmt = str(rng.choice(["PNG", "WEBP", "JPEG"]))
    return UserImage(encode(rgb, fmt, "RGB", rng), label, "dark", fmt)


def make_canvas(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    size = int(rng.integers(200, 700))
    digit_h = int(size * rng.uniform(0.4, 0.9))
    shape = tight(mnist_shape(digit, digit_h, rng))
    brush = rng.uniform(0.05, 0.16) * digit_h
    coverage = restroke(place(shape, size, size, rng), brush)
    ink = random_ink(rng) if rng.random() < 0.7 else np.ones(3, np.float32)
    rgba = np.zeros((size, size, 4), np.float32)
    rgba[..., :3] = ink if rng.random() < 0.7 else 0.0  # transparent pixels often black
    rgba[..., :3] = np.where(coverage[..., None] > 0, ink, rgba[..., :3])
    rgba[..., 3] = coverage
    fmt, mode = [("PNG", "RGBA"), ("PNG", "RGBA"), ("PNG", "LA"), ("WEBP", "RGBA"), ("PNG", "P")][
        int(rng.integers(5))
    ]
    if mode == "P":  # palette with one transparent entry, as GIF-like exports do
        return UserImage(encode_palette_transparent(coverage, ink), label, "canvas", "PNG")
    if mode == "LA" and ink.mean() > 0.9:
        mode = "RGBA"
    return UserImage(encode(rgba, fmt, mode, rng, lossless=True), label, "canvas", fmt)


def encode_palette_transparent(coverage: np.ndarray, ink: np.ndarray) -> bytes:
    """A P-mode PNG: index 0 transparent, index 1 the ink (no anti-aliasing, like GIF art)."""
    indices = (coverage > 0.5).astype(np.uint8)
    image = Image.fromarray(indices, "P")
    colour = [int(c * 255) for c in ink]
    image.putpalette([0, 0, 0, *colour] + [0] * (256 * 3 - 6))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def make_pen(digit: np.ndarray, label: int, rng: np.random.Generator, thick: bool) -> UserImage:
    digit_h = int(rng.integers(100, 300))
    shape = tight(mnist_shape(digit, digit_h, rng), margin=int(digit_h * 0.15))
    width = rng.uniform(0.10, 0.22) * digit_h if thick else rng.uniform(1.0, 3.0)
    coverage = restroke(shape, width)
    h, w = int(digit_h * rng.uniform(1.3, 2.5)), int(digit_h * rng.uniform(1.3, 2.5))
    coverage = place(coverage, max(h, coverage.shape[0]), max(w, coverage.shape[1]), rng)
    h, w = coverage.shape
    rgb = paint(coverage, random_paper(rng), random_ink(rng), lighting(h, w, rng, 0.3))
    rgb = camera(rgb, rng, blur=rng.uniform(0, 0.8), noise=rng.uniform(0, 0.02))
    fmt = str(rng.choice(["PNG", "JPEG", "WEBP"]))
    kind = "thick" if thick else "thin"
    return UserImage(encode(rgb, fmt, "RGB", rng, quality=90), label, kind, fmt)


def make_slant(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    digit_h = int(rng.integers(80, 300))
    shear = rng.choice([-1, 1]) * rng.uniform(0.27, 0.58)  # 15 to 30 degrees
    shape = tight(warp(mnist_shape(digit, digit_h, rng), rng.uniform(-4, 4), shear))
    h, w = int(shape.shape[0] * rng.uniform(1.1, 2.0)), int(shape.shape[1] * rng.uniform(1.1, 2.0))
    coverage = place(shape, h, w, rng)
    rgb = paint(coverage, random_paper(rng), random_ink(rng), lighting(h, w, rng, 0.3))
    rgb = camera(rgb, rng, blur=rng.uniform(0, 1.0), noise=rng.uniform(0, 0.02))
    fmt = str(rng.choice(["PNG", "JPEG"]))
    return UserImage(encode(rgb, fmt, "RGB", rng), label, "slant", fmt)


def make_coarse(digit: np.ndarray, label: int, rng: np.random.Generator, kind: str) -> UserImage:
    """A coarse digit (8x8 of other writers, or MNIST reduced to 16x16) with few grey levels."""
    if kind == "coarse16":
        digit = np.asarray(Image.fromarray(digit, "F").resize((16, 16), Image.BOX))
    levels = int(rng.integers(4, 17))
    grey = np.round(np.clip(digit, 0, 1) * (levels - 1)) / (levels - 1)
    if rng.random() < 0.3:  # a margin of blank paper around the digit
        grey = np.pad(grey, int(rng.integers(1, 4)))
    if rng.random() < 0.6:  # dark ink on light paper, as such scans are usually shown
        grey = 1.0 - grey
    factor = int(rng.choice([1, 1, 2, 4, 8, 16, 32]))
    image = Image.fromarray((grey * 255 + 0.5).astype(np.uint8), "L")
    if factor > 1:
        resample = Image.NEAREST if rng.random() < 0.7 else Image.BILINEAR
        image = image.resize((image.width * factor, image.height * factor), resample)
    fmt = str(rng.choice(["PNG", "BMP", "GIF", "JPEG", "TIFF"]))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return UserImage(buffer.getvalue(), label, kind, fmt)


def make_desk(digit: np.ndarray, label: int, rng: np.random.Generator) -> UserImage:
    """A phone photo of a sheet lying rotated on a darker desk, the digit written on it."""
    long_side = int(rng.integers(640, 1400))
    h, w = long_side, int(long_side / rng.choice([4 / 3, 3 / 2, 16 / 9]))
    if rng.random() < 0.5:
        h, w = w, h
    digit_h = int(h * rng.uniform(0.08, 0.30))  # the ink's height: 20 of MNIST's 28 pixels
    shape = tight(warp(mnist_shape(digit, int(digit_h * 28 / 20), rng), rng.uniform(-3, 3), 0.0))
    rgb, _ = desk_scene(shape, (h, w), rng)
    rgb = camera(rgb, rng, blur=rng.uniform(0.3, 1.2) * max(digit_h, 60) / 150,
                 noise=rng.uniform(0, 0.03))  # fmt: skip
    fmt = str(rng.choice(["JPEG", "JPEG", "JPEG", "WEBP", "PNG"]))
    rgb, save = with_exif_orientation(rgb, rng) if fmt == "JPEG" else (rgb, {})
    return UserImage(encode(rgb, fmt, "RGB", rng, **save), label, "desk", fmt)


RENDERERS = {
    "photo": make_photo,
    "desk": make_desk,
    "scan": make_scan,
    "dark": make_dark,
    "canvas": make_canvas,
    "thin": lambda d, y, r: make_pen(d, y, r, thick=False),
    "thick": lambda d, y, r: make_pen(d, y, r, thick=True),
    "slant": make_slant,
    "lowres": lambda d, y, r: make_coarse(d, y, r, "lowres"),
    "coarse16": lambda d, y, r: make_coarse(d, y, r, "coarse16"),
}
