"""A generator of user-like digit images: what people really upload, built from held-out digits.

Every image is made from an MNIST *test* digit (never a training image), except the ``lowres``
kind, which uses scikit-learn's bundled ``load_digits()``: 8x8 digits with 17 grey levels
written by other people than MNIST's writers. Each image comes back as encoded file bytes, so
evaluating on them exercises decoding too. Generation is deterministic given ``seed``.

Kinds (``KINDS``):

* ``photo``   phone photo of ink on paper: tinted paper, lighting gradient, vignetting, shadow,
  blur, sensor noise, JPEG, EXIF orientation, a small digit off-centre on a big canvas;
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
* ``coarse16`` MNIST test digits reduced to 16x16 with 4-8 grey levels.

The transformations are deliberately broader than the pipeline needs, so the figures are not
flattered by a generator that mirrors ``digitlab.preprocess``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

KINDS = ("photo", "scan", "dark", "canvas", "thin", "thick", "slant", "lowres", "coarse16")
MNIST_KINDS = ("photo", "scan", "dark", "canvas", "thin", "thick", "slant", "coarse16")


@dataclass(frozen=True)
class UserImage:
    """One generated upload: encoded ``data`` bytes, true ``label``, ``kind`` and file format."""

    data: bytes
    label: int
    kind: str
    file_format: str


def generate(kind: str, n: int, seed: int = 0) -> list[UserImage]:
    """``n`` user-like images of ``kind``, deterministic given ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; choose from {', '.join(KINDS)}.")
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    images, labels = source_digits(kind)
    picks = rng.choice(len(images), size=n, replace=n > len(images))
    make = RENDERERS[kind]
    return [make(images[i], int(labels[i]), rng) for i in picks]


def source_digits(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits a kind is made from: sklearn's 8x8 digits or the MNIST test split."""
    return other_writers_digits() if kind == "lowres" else mnist_test_digits()


@lru_cache(maxsize=1)
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images as float32 [N, 28, 28] in [0, 1] (white on black) and labels."""
    from digitlab.data import load_mnist

    images, labels = load_mnist("test")
    return images.astype(np.float32) / 255.0, labels


@lru_cache(maxsize=1)
def other_writers_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (17 grey levels) as float32 in [0, 1] and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype(np.float32), digits.target


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


RENDERERS = {
    "photo": make_photo,
    "scan": make_scan,
    "dark": make_dark,
    "canvas": make_canvas,
    "thin": lambda d, y, r: make_pen(d, y, r, thick=False),
    "thick": lambda d, y, r: make_pen(d, y, r, thick=True),
    "slant": make_slant,
    "lowres": lambda d, y, r: make_coarse(d, y, r, "lowres"),
    "coarse16": lambda d, y, r: make_coarse(d, y, r, "coarse16"),
}
