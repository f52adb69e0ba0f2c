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
# Shapes: a digit as a high-resolution ink coverage map in [0, 1]


def upscale(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bicubic resize of a float image to ``height`` x ``width`` (square when width is None)."""
    width = height if width is None else width
    resized = Image.fromarray(image.astype(np.float32), "F").resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def crisp_ink(soft: np.ndarray, level: float, edge: float = 0.08) -> np.ndarray:
    """Turn a blurry upscaled digit into pen-like coverage: a steep ramp around ``level``."""
    return np.clip((soft - level) / edge + 0.5, 0.0, 1.0)


def thin_to_skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to one-pixel-wide lines (vectorised)."""
    skel = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for first_pass in (True, False):
            p = skel
            n = [
                np.roll(p, shift, axis=(0, 1))
                for shift in [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)]
            ]
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            count = sum(x.astype(np.uint8) for x in n)
            ring = n + [p2]
            transitions = sum(
                (~a & b).astype(np.uint8) for a, b in zip(ring, ring[1:], strict=False)
            )
            if first_pass:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = p & (count >= 2) & (count <= 6) & (transitions == 1) & cond
            if remove.any():
                skel = skel & ~remove
                changed = True
        if not changed:
            return skel[1:-1, 1:-1]


def restroke(coverage: np.ndarray, width: float) -> np.ndarray:
    """Redraw a digit with a round pen ``width`` pixels wide along its skeleton (anti-aliased)."""
    skeleton = thin_to_skeleton(coverage > 0.5)
    if not skeleton.any():
        return coverage
    distance = ndi.distance_transform_edt(~skeleton)
    return np.clip(width / 2.0 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def mnist_shape(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit redrawn crisply at ``height`` pixels, its stroke width varied a little."""
    soft = upscale(digit, height)
    return crisp_ink(soft, level=rng.uniform(0.3, 0.6), edge=rng.uniform(0.05, 0.3))


def warp(coverage: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """Rotate by ``angle`` degrees and shear horizontally, growing the canvas to fit."""
    h, w = coverage.shape
    pad = int(0.6 * max(h, w) * abs(shear)) + int(0.3 * max(h, w) * abs(np.sin(np.radians(angle))))
    padded = np.pad(coverage, pad + 2)
    image = Image.fromarray(padded.astype(np.float32), "F")
    if shear:
        ph = padded.shape[0]
        image = image.transform(
            image.size, Image.AFFINE, (1, shear, -shear * ph / 2, 0, 1, 0), Image.BILINEAR
        )
    if angle:
        image = image.rotate(angle, Image.BILINEAR)
    return np.clip(np.asarray(image), 0.0, 1.0)


def tight(coverage: np.ndarray, margin: int = 2) -> np.ndarray:
    """Crop a coverage map to its ink plus ``margin`` pixels."""
    rows = np.flatnonzero(coverage.max(axis=1) > 0.02)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.02)
    if rows.size == 0:
        return coverage
    y0, y1 = max(rows[0] - margin, 0), rows[-1] + margin + 1
    x0, x1 = max(cols[0] - margin, 0), cols[-1] + margin + 1
    return coverage[y0:y1, x0:x1]


# ---------------------------------------------------------------------------------------------
# Scenes: paper, lighting and camera


def place(coverage: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paste ``coverage`` at a random (often off-centre) position on a blank canvas."""
    canvas = np.zeros((height, width), np.float32)
    ch, cw = coverage.shape
    ch, cw = min(ch, height), min(cw, width)
    y = int(rng.integers(0, height - ch + 1))
    x = int(rng.integers(0, width - cw + 1))
    canvas[y : y + ch, x : x + cw] = coverage[:ch, :cw]
    return canvas


def lighting(height: int, width: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A multiplicative light field: linear gradient, vignetting and perhaps a soft shadow."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / height - 0.5, xx / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + strength * rng.uniform(0.2, 1.0) * (np.cos(angle) * xx + np.sin(angle) * yy)
    light -= strength * rng.uniform(0.0, 0.8) * (xx**2 + yy**2)
    if rng.random() < 0.5:  # a soft shadow over part of the sheet (a hand, a phone)
        a = rng.uniform(0, 2 * np.pi)
        edge = np.cos(a) * xx + np.sin(a) * yy - rng.uniform(-0.1, 0.35)
        softness = rng.uniform(0.02, 0.15)
        shadow = 1.0 / (1.0 + np.exp(-edge / softness))
        light *= 1.0 - rng.uniform(0.15, 0.45) * shadow
    return np.clip(light, 0.2, 1.3).astype(np.float32)


def paint(
    coverage: np.ndarray, paper: np.ndarray, ink: np.ndarray, light: np.ndarray | float = 1.0
) -> np.ndarray:
    """RGB float image: ink colour over paper colour by coverage, then lit."""
    c = coverage[..., None]
    rgb = paper[None, None, :] * (1 - c) + ink[None, None, :] * c
    return rgb * (light[..., None] if isinstance(light, np.ndarray) else light)


def camera(rgb: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Optical blur and sensor noise, clipped to [0, 1]."""
    if blur > 0:
        rgb = ndi.gaussian_filter(rgb, sigma=(blur, blur, 0))
    rgb = rgb + rng.normal(0.0, noise, rgb.shape[:2])[..., None]
    return np.clip(rgb, 0.0, 1.0)


def random_paper(rng: np.random.Generator) -> np.ndarray:
    """Off-white, cream, grey or pastel-tinted paper."""
    base = rng.uniform(0.72, 0.98)
    tint = rng.normal(0.0, 0.04, 3)
    return np.clip(base + tint, 0.5, 1.0).astype(np.float32)


def random_ink(rng: np.random.Generator) -> np.ndarray:
    """Black, blue, red-ish ballpoint or pencil grey."""
    choices = [(0.05, 0.05, 0.08), (0.1, 0.15, 0.5), (0.45, 0.1, 0.12), (0.35, 0.35, 0.38)]
    ink = np.array(choices[rng.integers(len(choices))], np.float32)
    return np.clip(ink + rng.uniform(-0.05, 0.1), 0.0, 1.0)


def ruled_lines(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Faint ruled-paper lines as extra coverage (a real-world distractor)."""
    lines = np.zeros((height, width), np.float32)
    gap = int(rng.integers(max(height // 12, 8), max(height // 5, 10)))
    lines[int(rng.integers(0, gap)) :: gap, :] = rng.uniform(0.08, 0.18)
    return lines


# ---------------------------------------------------------------------------------------------
# Encoding: file bytes in many formats and modes


def encode(rgb: np.ndarray, fmt: str, mode: str, rng: np.random.Generator, **save) -> bytes:
    """Encode a float RGB(A) image in [0, 1] as ``fmt`` bytes in PIL ``mode``."""
    channels = "RGBA" if rgb.shape[2] == 4 else "RGB"
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), channels)
    if mode == "I;16":
        grey = np.asarray(image.convert("L"), np.uint16) * 257
        image = Image.fromarray(grey.astype(np.uint16))
    elif mode == "1":  # a 1-bit scan is thresholded, not dithered
        image = image.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1")
    elif mode == "P":
        image = image.convert("P", palette=Image.ADAPTIVE, colors=int(rng.integers(16, 256)))
    elif mode != channels:
        image = image.convert(mode)
    if fmt == "JPEG":
        save.setdefault("quality", int(rng.integers(50, 96)))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def with_exif_orientation(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Store the pixels rotated as a phone sensor does, with the EXIF tag that undoes it."""
    orientation = int(rng.choice([1, 3, 6, 8]))
    turns = {1: 0, 3: 2, 6: 1, 8: 3}[orientation]  # stored pixels: k quarter-turns anticlockwise
    stored = np.rot90(rgb, k=turns) if turns else rgb
    exif = Image.Exif()
    exif[0x0112] = orientation
    return np.ascontiguousarray(stored), {"exif": exif.tobytes()}


# ---------------------------------------------------------------------------------------------
# Kinds


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


# ---------------------------------------------------------------------------------------------
# A sheet of paper on a desk


def desk_surface(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A darker surface around the sheet: wood grain, a plain dark table or fabric (RGB)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    surface = str(rng.choice(["wood", "wood", "table", "fabric"]))
    if surface == "wood":
        angle = rng.uniform(0, np.pi)
        across = np.cos(angle) * xx + np.sin(angle) * yy  # the grain runs perpendicular
        wobble = smooth_noise(height, width, rng, cell=max(height, width) // 6) * 12.0
        period = rng.uniform(0.015, 0.05) * max(height, width)
        rings = 0.5 + 0.5 * np.sin(2 * np.pi * (across + wobble) / period)
        fibres = np.interp(across, np.arange(-width - height, width + height),
                           rng.normal(0, 1, 2 * (width + height)))  # fmt: skip
        shade = 0.85 + 0.12 * rings + 0.04 * fibres
        base = np.array([0.55, 0.37, 0.22], np.float32) * rng.uniform(0.45, 1.0)
    elif surface == "table":
        shade = 1.0 + 0.03 * smooth_noise(height, width, rng, cell=max(height, width) // 4)
        base = np.full(3, rng.uniform(0.06, 0.35), np.float32) + rng.normal(0, 0.03, 3)
    else:  # a lap: woven cloth with soft folds
        weave = np.sin(xx * rng.uniform(0.8, 1.6)) * np.sin(yy * rng.uniform(0.8, 1.6))
        folds = smooth_noise(height, width, rng, cell=max(height, width) // 5)
        shade = 0.9 + 0.05 * weave + 0.12 * folds
        base = np.clip(rng.uniform(0.08, 0.5, 3), 0.05, 0.5).astype(np.float32)
    return np.clip(shade[..., None] * base, 0.0, 1.0).astype(np.float32)


def smooth_noise(height: int, width: int, rng: np.random.Generator, cell: int) -> np.ndarray:
    """Smooth random field of about unit amplitude varying over ``cell`` pixels."""
    cell = max(cell, 2)
    coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2)).astype(np.float32)
    return upscale_free(coarse, height + 2 * cell, width + 2 * cell)[cell:-cell, cell:-cell][
        :height, :width
    ]


def upscale_free(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a float image without clipping its values."""
    resized = Image.fromarray(image.astype(np.float32), "F").resize((width, height), Image.BICUBIC)
    return np.asarray(resized)


def perspective_coefficients(source: np.ndarray, target: np.ndarray) -> tuple[float, ...]:
    """PIL ``PERSPECTIVE`` data mapping the 4 ``target`` points (output) to ``source`` (input)."""
    rows = []
    for (u, v), (x, y) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -x * u, -y * u])
        rows.append([0, 0, 0, x, y, 1, -x * v, -y * v])
    return tuple(np.linalg.solve(np.array(rows, float), source.reshape(-1).astype(float)))


def map_points(coefficients: tuple[float, ...], points: np.ndarray) -> np.ndarray:
    """Apply PIL perspective ``coefficients`` to (x, y) points."""
    a, b, c, d, e, f, g, h = coefficients
    x, y = points[:, 0], points[:, 1]
    den = g * x + h * y + 1
    return np.stack([(a * x + b * y + c) / den, (d * x + e * y + f) / den], axis=1)


def project(
    layer: np.ndarray, coefficients: tuple[float, ...], size: tuple[int, int]
) -> np.ndarray:
    """Warp a float layer from sheet coordinates into the photo (``size`` is width, height)."""
    image = Image.fromarray(layer.astype(np.float32), "F")
    warped = image.transform(size, Image.PERSPECTIVE, coefficients, Image.BILINEAR)
    return np.clip(np.asarray(warped), 0.0, 1.0)


def sheet_layers(
    sheet_h: int, sheet_w: int, pad: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Masks in sheet coordinates (sheet plus ``pad`` on every side): paper, board, clip."""
    h, w = sheet_h + 2 * pad, sheet_w + 2 * pad
    paper = np.zeros((h, w), np.float32)
    paper[pad : pad + sheet_h, pad : pad + sheet_w] = 1.0
    layers = {"paper": paper}
    if rng.random() < 0.3:  # notebook spiral holes along one side: the desk shows through
        radius = rng.uniform(0.008, 0.014) * max(sheet_h, sheet_w)
        gap = radius * rng.uniform(2.6, 3.6)
        inset = radius * rng.uniform(1.5, 2.5)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        side = int(rng.integers(4))
        along, across = (yy, xx) if side < 2 else (xx, yy)
        length = sheet_h if side < 2 else sheet_w
        edge = pad + inset if side % 2 == 0 else pad + (sheet_w if side < 2 else sheet_h) - inset
        phase = (along - pad) % gap - gap / 2
        inside = (along > pad) & (along < pad + length)
        holes = inside & (phase**2 + (across - edge) ** 2 <= radius**2)
        paper[holes] = 0.0
    if rng.random() < 0.25:  # a clipboard: a board under the sheet, a metal clip at its top
        board = np.zeros((h, w), np.float32)
        board[pad // 3 : h - pad // 3, pad // 3 : w - pad // 3] = 1.0
        clip = np.zeros((h, w), np.float32)
        clip_w = int(sheet_w * rng.uniform(0.25, 0.45))
        left = pad + (sheet_w - clip_w) // 2
        clip[pad // 3 : pad + int(0.07 * sheet_h), left : left + clip_w] = 1.0
        layers.update(board=board, clip=clip)
    return layers


def hand_mask(
    height: int, width: int, avoid: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray | None:
    """A hand (palm and fingers) reaching in from one edge of the photo, clear of ``avoid``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    size = min(height, width)
    x0, y0, x1, y1 = avoid
    for side in rng.permutation(4):
        inward = {0: (0, 1), 1: (0, -1), 2: (1, 0), 3: (-1, 0)}[int(side)]  # (dx, dy)
        t = rng.uniform(0.15, 0.85)
        cx, cy = {0: (t * width, 0), 1: (t * width, height), 2: (0, t * height),
                  3: (width, t * height)}[int(side)]  # fmt: skip
        mask = ellipse(xx, yy, cx, cy, inward, 0.11 * size, 0.17 * size)
        for k in range(4):
            offset = (k - 1.5) * 0.045 * size
            fx = cx + inward[0] * 0.15 * size - inward[1] * offset
            fy = cy + inward[1] * 0.15 * size + inward[0] * offset
            mask = np.maximum(mask, ellipse(xx, yy, fx, fy, inward, 0.07 * size, 0.02 * size))
        box = mask[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1]
        if box.size and not box.any():
            return ndi.gaussian_filter(mask, 1.5)
    return None


def ellipse(xx, yy, cx, cy, direction, along: float, across: float) -> np.ndarray:
    """A filled ellipse with its ``along`` radius pointing in ``direction`` (a unit vector)."""
    dx, dy = xx - cx, yy - cy
    u = dx * direction[0] + dy * direction[1]
    v = -dx * direction[1] + dy * direction[0]
    return ((u / along) ** 2 + (v / across) ** 2 <= 1.0).astype(np.float32)


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


def desk_scene(
    shape: np.ndarray, photo_shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A lit RGB photo of ``shape`` (ink coverage) written on a sheet lying on a desk.

    Returns the photo and the sheet's four corners, (x, y) in the photo's pixels.
    """
    h, w = photo_shape
    sheet_aspect = rng.choice([1.414, 1.294])  # A4 or letter, portrait or landscape
    sheet_h = int(min(h, w / sheet_aspect) * rng.uniform(0.55, 0.95))
    sheet_w = int(sheet_h * sheet_aspect)
    if rng.random() < 0.4:
        sheet_h, sheet_w = sheet_w, sheet_h
    sheet_h = max(sheet_h, int(1.5 * shape.shape[0]))
    sheet_w = max(sheet_w, int(1.5 * shape.shape[1]))
    pad = int(0.1 * max(sheet_h, sheet_w))
    layers = sheet_layers(sheet_h, sheet_w, pad, rng)
    top = pad + int(0.1 * sheet_h) if "clip" in layers else pad  # write below the clip
    pose, (x, y), seen = pose_with_digit_in_view(shape.shape, (sheet_h, sheet_w), pad, top,
                                                 (h, w), rng)  # fmt: skip
    ink_layer = np.zeros_like(layers["paper"])
    ink_layer[y : y + shape.shape[0], x : x + shape.shape[1]] = shape
    if rng.random() < 0.15:
        ink_layer = np.maximum(ink_layer, ruled_lines(*ink_layer.shape, rng) * layers["paper"])
    rgb = photograph_sheet(layers, ink_layer, pose.to_sheet, (h, w), rng)
    if rng.random() < 0.3:
        rgb = add_hand(rgb, seen, rng)
    rgb = rgb * lighting(h, w, rng, 0.4)[..., None]
    corners = np.array([[pad, pad], [pad + sheet_w, pad], [pad + sheet_w, pad + sheet_h],
                        [pad, pad + sheet_h]], float)  # fmt: skip
    return rgb, map_points(pose.to_photo, corners)


@dataclass(frozen=True)
class SheetPose:
    """Where the sheet lies in the photo, as PIL perspective data each way."""

    to_sheet: tuple[float, ...]  # photo (x, y) -> sheet (x, y), what PIL's transform wants
    to_photo: tuple[float, ...]  # sheet (x, y) -> photo (x, y)


def pose_with_digit_in_view(
    digit_shape: tuple[int, int],
    sheet_shape: tuple[int, int],
    pad: int,
    top: int,
    photo_shape: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[SheetPose, tuple[int, int], tuple[float, float, float, float]]:
    """A pose of the sheet and a place on it for the digit such that the digit is in view.

    Returns the pose, the digit's (x, y) on the sheet and its box in the photo.
    """
    (dh, dw), (sheet_h, sheet_w), (h, w) = digit_shape, sheet_shape, photo_shape
    margin = 0.03 * min(h, w)
    for attempt in range(40):
        cut_off = attempt < 30 and rng.random() < 0.35  # then give up on cutting the sheet
        pose = sheet_pose(sheet_h, sheet_w, pad, h, w, rng, cut_off)
        # Written inside the sheet's margins (a tenth of it), as people do.
        y = top + int(0.1 * sheet_h + rng.random() * (pad + 0.8 * sheet_h - top - dh))
        x = pad + int(0.1 * sheet_w + rng.random() * (0.8 * sheet_w - dw))
        corners = np.array([[x, y], [x + dw, y], [x, y + dh], [x + dw, y + dh]], float)
        seen = map_points(pose.to_photo, corners)
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        if x0 >= margin and y0 >= margin and x1 <= w - margin and y1 <= h - margin:
            break
    return pose, (x, y), (x0, y0, x1, y1)


def sheet_pose(
    sheet_h: int, sheet_w: int, pad: int, h: int, w: int, rng: np.random.Generator, cut_off: bool
) -> SheetPose:
    """A random pose of the sheet in the photo: rotated, a little skewed, perhaps cut off."""
    angle = np.radians(rng.uniform(-16, 16))
    sheet = np.array([[pad, pad], [pad + sheet_w, pad], [pad + sheet_w, pad + sheet_h],
                      [pad, pad + sheet_h]], float)  # fmt: skip
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    photo = (sheet - sheet.mean(axis=0)) @ rotation.T
    photo += rng.normal(0, 0.025, photo.shape) * max(sheet_h, sheet_w)  # perspective skew
    centre = np.array([w / 2, h / 2]) + rng.normal(0, 0.06, 2) * np.array([w, h])
    if cut_off:  # part of the sheet lies outside the frame
        centre += rng.choice([-1, 1], 2) * rng.uniform(0.0, 0.3, 2) * np.array([w, h])
    photo += centre
    return SheetPose(perspective_coefficients(sheet, photo), perspective_coefficients(photo, sheet))


def photograph_sheet(
    layers: dict[str, np.ndarray],
    ink_layer: np.ndarray,
    coefficients: tuple[float, ...],
    photo_shape: tuple[int, int],
    rng: np.random.Generator,
) -> np.ndarray:
    """The desk with the (clipboard and) sheet and its ink on it, in RGB."""
    h, w = photo_shape
    rgb = desk_surface(h, w, rng)
    paper = project(layers["paper"], coefficients, (w, h))
    # The sheet's soft shadow on the desk
    shadow = ndi.gaussian_filter(np.roll(paper, (3, 3), axis=(0, 1)), 0.01 * max(h, w))
    rgb *= (1.0 - rng.uniform(0.1, 0.4) * shadow * (1 - paper))[..., None]
    if "board" in layers:
        board = project(layers["board"], coefficients, (w, h))[..., None]
        board_colour = np.array([0.5, 0.35, 0.2], np.float32) * rng.uniform(0.6, 1.0)
        rgb = rgb * (1 - board) + board_colour * board
    paper_colour = np.clip(rng.uniform(0.78, 0.98) + rng.normal(0.0, 0.03, 3), 0.6, 1.0)
    rgb = rgb * (1 - paper[..., None]) + paper_colour * paper[..., None]
    coverage = (project(ink_layer, coefficients, (w, h)) * paper)[..., None]
    rgb = rgb * (1 - coverage) + random_ink(rng) * coverage
    if "clip" in layers:
        clip = project(layers["clip"], coefficients, (w, h))[..., None]
        metal = rng.uniform(0.35, 0.7) * (0.9 + 0.2 * np.linspace(0, 1, w, dtype=np.float32))
        rgb = rgb * (1 - clip) + metal[None, :, None] * clip
    return rgb.astype(np.float32)


def add_hand(
    rgb: np.ndarray, avoid: tuple[float, float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """A skin-coloured hand reaching in from an edge, away from the digit's box ``avoid``."""
    h, w = rgb.shape[:2]
    hand = hand_mask(h, w, avoid, rng)
    if hand is None:
        return rgb
    skin = np.array([(0.87, 0.67, 0.55), (0.7, 0.5, 0.38), (0.45, 0.3, 0.22),
                     (0.95, 0.8, 0.7)][rng.integers(4)], np.float32)  # fmt: skip
    shading = 0.85 + 0.1 * smooth_noise(h, w, rng, cell=min(h, w) // 8)
    return rgb * (1 - hand[..., None]) + (skin * shading[..., None]) * hand[..., None]


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
