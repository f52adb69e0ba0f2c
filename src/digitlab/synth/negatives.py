"""Images that are not a single digit, made here, so the models can learn to say so.

A model trained on digits alone answers a digit for anything: blank paper with a shadow, a
letter, a doodle. DigitLab's models get an eleventh class, "not a digit", learnt from these
negatives (all made by this module, nothing downloaded):

* ``letter``   letters of the Latin, Greek, Cyrillic and Hebrew alphabets and symbols, from the
  fonts on this machine (or Pillow's own), slanted and distorted like handwriting;
* ``word``     short words of such letters;
* ``scribble`` smooth random pen strokes;
* ``shape``    triangles, squares, stars, arrows, crosses, grids, zigzags, spirals, smileys;
* ``face``     faces of every kind: a ring (neat, wobbly or none) with eyes and a mouth inside;
* ``several``  two or three training digits side by side (a number, not one digit);
* ``paper``    photos of blank or marked paper (shadows, edges, dark corners, lighting, lines,
  textures, a desk), sent through ``digitlab.preprocess`` so the models see exactly what the
  pipeline makes of them.

Glyphs that look like digits (O, l, I, S, Z, B, g, q, Cyrillic З and Ч, ...) are left out:
refusing them would teach the models to refuse real digits. Every negative is rendered as
``digitlab.preprocess`` renders people's digits: binary at high resolution, stroke width in
MNIST's range, fitted in 20x20 and centred by mass.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitlab.errors import DigitLabError
from digitlab.imaging.pipeline import preprocess
from digitlab.imaging.render import center_by_mass, fit_20x20, normalise_stroke_width

# Left out as digit look-alikes: O o Q D l I i j J t y S s Z z B b G g q (0 1 2 5 6 8 9),
# Greek/Cyrillic/Hebrew letters shaped like 0, 3, 4, 6, 7 or a slashed zero (ο θ Θ φ Φ ε ζ
# ξ σ З Ч Э б ф ס ו ז י ר ד ל ע), and up/down arrows, ∫, ∂, £ and ♪.
LATIN = "ACEFHKMNPRTUVWXYacdefhkmnpruvwx"
GREEK = "ΓΔΛΞΠΣΨΩαβγηλμπρχψω"
CYRILLIC = "ДЖИЙКЛПЦШЩЫЮЯджийклпцшщыюя"
HEBREW = "אבגהחטכמנפצקשת"
SYMBOLS = "@#%*+=~€¥©®∞√∑Ω→←↔★☆♥♦♣♠♫☺✓✗※¤¶÷×≠≈∆"
GLYPHS = LATIN + GREEK + CYRILLIC + HEBREW + SYMBOLS
WORD_LETTERS = "acdefhkmnpruvwxACEFHKMNPRTUVWXY"
FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed-Bold.ttf",
)
FINE = 112  # drawing canvas side, as in ``digitlab.synth.styles``


@cache
def fonts(size: int) -> tuple:
    """The fonts found on this machine at ``size``, or Pillow's own scalable font."""
    found = []
    for name in FONT_NAMES:
        try:
            found.append(ImageFont.truetype(name, size))
        except OSError:
            continue
    return tuple(found) or (ImageFont.load_default(size),)


def as_mnist(shape: np.ndarray) -> np.ndarray | None:
    """A binary drawing rendered as the pipeline renders a digit; None when (nearly) empty."""
    if shape.sum() < 30:
        return None
    return center_by_mass(fit_20x20(normalise_stroke_width(shape)))


def slanted(shape: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random rotation and shear, as handwriting varies."""
    image = Image.fromarray(shape.astype(np.uint8) * 255)
    shear = rng.uniform(-0.35, 0.35)
    image = image.transform(image.size, Image.AFFINE, (1, shear, -shear * image.size[1] / 2,
                                                         0, 1, 0), Image.BILINEAR)  # fmt: skip
    image = image.rotate(rng.uniform(-15, 15), Image.BILINEAR, expand=True)
    return np.asarray(image) > 127


def text_shape(text: str, rng: np.random.Generator) -> np.ndarray:
    size = int(rng.integers(48, 80))
    choices = fonts(size)
    font = choices[int(rng.integers(len(choices)))]
    canvas = Image.new("L", (size * (len(text) + 2), size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 3), text, fill=255, font=font)
    return slanted(np.asarray(canvas) > 127, rng)


def letter(rng: np.random.Generator) -> np.ndarray:
    return text_shape(GLYPHS[int(rng.integers(len(GLYPHS)))], rng)


def word(rng: np.random.Generator) -> np.ndarray:
    length = int(rng.integers(2, 6))
    return text_shape("".join(rng.choice(list(WORD_LETTERS), length)), rng)


def pen(rng: np.random.Generator) -> tuple[Image.Image, ImageDraw.ImageDraw, int]:
    canvas = Image.new("L", (FINE, FINE), 0)
    return canvas, ImageDraw.Draw(canvas), int(rng.integers(5, 10))


def scribble(rng: np.random.Generator) -> np.ndarray:
    """One to three smooth random strokes."""
    canvas, draw, width = pen(rng)
    for _ in range(int(rng.integers(1, 4))):
        point = rng.uniform(25, 87, 2)
        heading = rng.uniform(0, 2 * np.pi)
        points = [tuple(point)]
        for _ in range(int(rng.integers(8, 30))):
            heading += rng.normal(0, 0.6)
            point = np.clip(point + 6 * np.array([np.cos(heading), np.sin(heading)]), 5, 107)
            points.append(tuple(point))
        draw.line(points, fill=255, width=width, joint="curve")
    return np.asarray(canvas) > 127


def polygon(rng: np.random.Generator, corners: int, star: bool = False) -> list[tuple]:
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners)) if not star else None
    if star:
        angles = np.linspace(0, 2 * np.pi, 2 * corners, endpoint=False) + rng.uniform(0, 1)
    radii = rng.uniform(30, 48, len(angles))
    if star:
        radii[1::2] *= rng.uniform(0.35, 0.55)
    points = [(56 + r * np.cos(a), 56 + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)]
    return [*points, points[0]]


def shape(rng: np.random.Generator) -> np.ndarray:
    """A drawn shape or symbol (never a plain ellipse: that is a 0)."""
    canvas, draw, width = pen(rng)
    kind = rng.choice(["triangle", "square", "star", "arrow", "cross", "grid", "zigzag",
                       "spiral", "smiley", "plus", "box-x"])  # fmt: skip
    if kind in ("triangle", "square"):
        draw.line(polygon(rng, 3 if kind == "triangle" else 4), fill=255, width=width)
    elif kind == "star":
        draw.line(polygon(rng, int(rng.integers(5, 7)), star=True), fill=255, width=width)
    elif kind == "arrow":
        y = rng.uniform(40, 72)
        draw.line([(15, y), (97, y)], fill=255, width=width)
        draw.line([(75, y - 20), (97, y), (75, y + 20)], fill=255, width=width)
    elif kind in ("cross", "plus", "box-x"):
        if kind != "plus":
            draw.line([(20, 20), (92, 92)], fill=255, width=width)
            draw.line([(92, 20), (20, 92)], fill=255, width=width)
        if kind == "plus":
            draw.line([(56, 15), (56, 97)], fill=255, width=width)
            draw.line([(15, 56), (97, 56)], fill=255, width=width)
        if kind == "box-x":
            draw.rectangle((20, 20, 92, 92), outline=255, width=width)
    elif kind == "grid":
        for step in (40, 72):
            draw.line([(step, 10), (step, 102)], fill=255, width=width)
            draw.line([(10, step), (102, step)], fill=255, width=width)
    elif kind == "zigzag":
        xs = np.linspace(12, 100, int(rng.integers(4, 8)))
        draw.line([(x, 35 if i % 2 else 77) for i, x in enumerate(xs)], fill=255, width=width)
    elif kind == "spiral":
        t = np.linspace(0, rng.uniform(3, 5) * np.pi, 80)
        r = 4 + 12 * t / np.pi
        draw.line(list(zip(56 + r * np.cos(t), 56 + r * np.sin(t), strict=True)), fill=255,
                  width=width)  # fmt: skip
    else:  # smiley: a face with eyes and a mouth
        draw_face(draw, rng, width)
    return slanted(np.asarray(canvas) > 127, rng)


def face(rng: np.random.Generator) -> np.ndarray:
    """A drawn face: a ring (round or oval, neat or wobbly, sometimes none) with eyes and a
    mouth inside. A ring with marks inside is the non-digit most often read as a 0."""
    canvas, draw, width = pen(rng)
    draw_face(draw, rng, width)
    return slanted(np.asarray(canvas) > 127, rng)


def draw_face(draw: ImageDraw.ImageDraw, rng: np.random.Generator, width: int) -> None:
    """Draw a face centred on the 112-pixel canvas with a pen ``width`` wide."""
    cx, cy = 56 + rng.uniform(-4, 4, 2)
    rx, ry = rng.uniform(32, 50), rng.uniform(32, 50)
    outline = rng.choice(["neat", "wobbly", "none"], p=[0.5, 0.35, 0.15])
    if outline == "neat":
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), outline=255, width=width)
    elif outline == "wobbly":  # a hand-drawn loop, a little uneven, closed
        t = np.linspace(0, 2 * np.pi, 60)
        wobble = 1 + sum(rng.uniform(-0.06, 0.06) * np.sin(k * t + rng.uniform(0, 6.3))
                         for k in (2, 3, 5))  # fmt: skip
        points = list(zip(cx + rx * wobble * np.cos(t), cy + ry * wobble * np.sin(t), strict=True))
        draw.line(points, fill=255, width=width, joint="curve")
    eye_dx, eye_y = rng.uniform(0.28, 0.45) * rx, cy - rng.uniform(0.15, 0.4) * ry
    eye = rng.choice(["dot", "ring", "dash", "cross"])
    size = rng.uniform(5, 9)  # eyes and mouth plainly drawn: a 0 with a speck inside is a 0
    thin = max(3, width // 2)
    for ex in (cx - eye_dx, cx + eye_dx):
        box = (ex - size, eye_y - size, ex + size, eye_y + size)
        if eye == "dot":
            draw.ellipse(box, fill=255)
        elif eye == "ring":
            draw.ellipse(box, outline=255, width=thin)
        elif eye == "dash":
            draw.line([(ex, eye_y - 1.5 * size), (ex, eye_y + 1.5 * size)], fill=255, width=width)
        else:
            draw.line([box[:2], box[2:]], fill=255, width=thin)
            draw.line([(box[0], box[3]), (box[2], box[1])], fill=255, width=thin)
    if rng.random() < 0.3:  # a nose
        draw.line([(cx, cy - 0.1 * ry), (cx, cy + 0.1 * ry)], fill=255, width=width)
    half, mouth_y = rng.uniform(0.4, 0.65) * rx, cy + rng.uniform(0.2, 0.5) * ry
    mouth = rng.choice(["smile", "frown", "flat", "open"], p=[0.5, 0.2, 0.15, 0.15])
    if mouth == "smile":
        draw.arc((cx - half, mouth_y - half, cx + half, mouth_y + 0.5 * half), 20, 160,
                 fill=255, width=width)  # fmt: skip
    elif mouth == "frown":
        draw.arc((cx - half, mouth_y, cx + half, mouth_y + half), 200, 340, fill=255, width=width)
    elif mouth == "flat":
        draw.line([(cx - half, mouth_y), (cx + half, mouth_y)], fill=255, width=width)
    else:
        draw.ellipse((cx - 0.4 * half, mouth_y - 0.3 * half, cx + 0.4 * half, mouth_y + 0.3 * half),
                     outline=255, width=thin)  # fmt: skip


def several(digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two or three training digits side by side, as a number is written."""
    count = int(rng.integers(2, 4))
    pieces = [digits[int(rng.integers(len(digits)))] > 0.5 for _ in range(count)]
    gap = int(rng.integers(-2, 4))
    row = pieces[0]
    for piece in pieces[1:]:
        row = np.concatenate([row, np.zeros((28, max(gap, 0)), bool), piece], 1)
    big = Image.fromarray(row.astype(np.uint8) * 255).resize((row.shape[1] * 4, 112))
    return np.asarray(big) > 127


def paper_photo(rng: np.random.Generator) -> bytes:
    """A photo of paper with no digit on it: shadows, edges, corners, lines, textures."""
    height, width = int(rng.integers(120, 240)), int(rng.integers(120, 240))
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    paper = rng.uniform(0.65, 0.95) + rng.uniform(-0.15, 0.15) * (xx * rng.normal() + yy)
    kind = rng.choice(["shadow", "corners", "edge", "lines", "texture", "gradient", "blob"])
    if kind == "shadow":  # a soft or sharp shadow over part of the sheet
        edge = xx * np.cos(rng.uniform(0, 6.3)) + yy * np.sin(rng.uniform(0, 6.3))
        cut = rng.uniform(0.2, 0.8)
        paper -= rng.uniform(0.1, 0.4) / (1 + np.exp(-(edge - cut) / rng.uniform(0.005, 0.08)))
    elif kind == "corners":  # vignetting or dark corners
        paper -= rng.uniform(0.2, 0.6) * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) ** rng.uniform(1, 2)
    elif kind == "edge":  # the sheet's edge on a darker desk
        tilt = rng.uniform(-0.3, 0.3)
        off = (xx + tilt * yy) > rng.uniform(0.6, 0.9)
        paper = np.where(off, rng.uniform(0.1, 0.45), paper)
    elif kind == "lines":  # ruled or squared paper
        step = int(rng.integers(8, 20))
        paper[::step] -= rng.uniform(0.1, 0.3)
        if rng.random() < 0.5:
            paper[:, ::step] -= rng.uniform(0.1, 0.3)
    elif kind == "texture":  # crumpled paper, fabric, wood: smooth random fields
        coarse = rng.normal(0, 1, (int(rng.integers(4, 30)),) * 2)
        field = np.asarray(Image.fromarray(coarse.astype(np.float32), "F").resize(
            (width, height), Image.BICUBIC))  # fmt: skip
        paper += rng.uniform(0.03, 0.15) * field
    elif kind == "gradient":
        paper = np.broadcast_to(np.linspace(rng.uniform(0, 0.5), 1, width), (height, width))
    else:  # a big smudge or stain
        cy, cx, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.4)
        paper -= rng.uniform(0.1, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / r**2)
    noisy = np.clip(paper + rng.normal(0, rng.uniform(0.005, 0.03), paper.shape), 0, 1)
    buffer = io.BytesIO()
    Image.fromarray((noisy * 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def through_pipeline(data: bytes) -> np.ndarray | None:
    """What the pipeline makes of an upload; None when it finds nothing (already refused)."""
    try:
        return preprocess(data)
    except DigitLabError:
        return None


MAKERS: dict[str, Callable] = {
    "letter": letter,
    "word": word,
    "scribble": scribble,
    "shape": shape,
    "face": face,
}
# Share of each kind among the negatives.
KIND_WEIGHTS = {
    "letter": 0.32,
    "word": 0.15,
    "scribble": 0.12,
    "shape": 0.13,
    "face": 0.03,
    "several": 0.12,
    "paper": 0.13,
}


def negative(kind: str, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """One negative of ``kind`` as a [28,28] float32 image, or None if it came out empty or
    like a 1."""
    if kind == "paper":
        image = through_pipeline(paper_photo(rng))
    elif kind == "several":
        image = as_mnist(several(digits, rng))
    else:
        image = as_mnist(MAKERS[kind](rng))
    return None if image is None or looks_like_a_one(image) else image


def looks_like_a_one(image: np.ndarray) -> bool:
    """A single narrow stroke (a shadow's edge, a degenerate triangle) is what a 1 looks like:
    refusing it would teach the models to refuse 1s."""
    ink = image > 0.3
    if not ink.any():
        return True
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return height >= 2.2 * width


def not_digit_images(digits: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` negatives (float32 [n,28,28] in [0,1]), deterministic given ``seed``.

    ``digits`` are *training* digits (float [N,28,28]) for the ``several`` kind.
    """
    rng = np.random.default_rng(seed)
    kinds = list(KIND_WEIGHTS)
    weights = np.array([KIND_WEIGHTS[k] for k in kinds])
    out = []
    attempts = 0
    while len(out) < n and attempts < 10 * n:
        attempts += 1
        image = negative(kinds[rng.choice(len(kinds), p=weights / weights.sum())], digits, rng)
        if image is not None and image.max() > 0:
            out.append(image.astype(np.float32))
    return np.stack(out)
