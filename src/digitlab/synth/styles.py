"""Writing styles MNIST barely has, synthesised at stroke level from *training* digits.

MNIST's writers were American. Much of the world writes a 1 with a flag at the top (a short
up-stroke, slanted down to the left) and often a foot at the base, crosses its 7s, closes or
opens the top of its 4s differently, and writes 9s with a straight stem. Models trained on
MNIST alone read such a 1 as 7 or 2 and an open-top 4 as 9. Misread scanned digits add more:
5s with a short, detached or missing top bar, 0s and 9s whose loop the pen left open (or a 9's
small loop), 4s written in one stroke with a closed, pointed top, and digits a scanner's crop
clipped at one side (``tight_crop``, drawn from every class).

Each style starts from a real training digit, drawn finely (``FINE`` times MNIST's size) so the
added strokes can be drawn at the digit's own stroke width with round ends, as a pen would, and
is then fitted into 20x20 and centred by mass exactly as ``digitlab.preprocess`` renders
people's digits. The boundary between a flagged 1 and a 7 is taught from both sides: the same
1-stems get either a short, slanted flag (label 1) or a long, roughly horizontal top (label 7).

``styled_digits(images, labels, n, seed)`` returns ``n`` such digits with their labels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from digitlab.imaging.render import center_by_mass, fit_20x20, stroke_width_px

FINE = 4  # draw at 112x112: strokes a few pixels wide, resampled down like NIST's digits
SIDE = 28 * FINE

Point = tuple[float, float]  # (x, y) in fine pixels, y downwards


# ---------------------------------------------------------------------------------------------
# Drawing helpers


def fine_shape(digit: np.ndarray) -> np.ndarray:
    """A [28,28] digit (float in [0,1] or uint8) as a binary shape at ``FINE`` x resolution."""
    grey = np.asarray(digit, np.float32)
    if grey.max() > 1.0:
        grey = grey / 255.0
    big = Image.fromarray(grey, "F").resize((SIDE, SIDE), Image.BILINEAR)
    return np.asarray(big) > 0.4


def pen_width(shape: np.ndarray) -> float:
    """The stroke width of a fine binary shape in fine pixels (``stroke_width_px``); an empty
    shape gets a typical pen's."""
    return stroke_width_px(shape) if shape.any() else 2.0 * FINE


def draw_strokes(shape: np.ndarray, strokes: list[list[Point]], width: float) -> np.ndarray:
    """``shape`` with polylines drawn over it at ``width``, with round joints and ends."""
    canvas = Image.fromarray(shape.astype(np.uint8) * 255)
    draw = ImageDraw.Draw(canvas)
    radius = width / 2
    for points in strokes:
        draw.line(points, fill=255, width=max(1, round(width)), joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(canvas) > 127


def as_mnist(shape: np.ndarray) -> np.ndarray | None:
    """A fine binary shape rendered as MNIST would: fitted in 20x20, centred by mass in 28x28.

    The shape is cut at the fine canvas's edge; None when nothing is left.
    """
    if shape.sum() < 4 * FINE * FINE:
        return None
    return center_by_mass(fit_20x20(shape))


def stem_axis(shape: np.ndarray) -> tuple[Point, Point, float]:
    """The top and bottom ends of a stroke's main axis and its length (principal direction)."""
    ys, xs = np.nonzero(shape)
    points = np.stack([xs, ys], 1).astype(np.float64)
    centre = points.mean(0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    axis = vt[0] if vt[0][1] > 0 else -vt[0]  # pointing down
    along = (points - centre) @ axis
    top = centre + along.min() * axis
    bottom = centre + along.max() * axis
    return (
        (float(top[0]), float(top[1])),
        (float(bottom[0]), float(bottom[1])),
        float(np.ptp(along)),
    )


def towards(start: Point, angle_deg: float, length: float) -> Point:
    """The point ``length`` away from ``start`` in direction ``angle_deg`` (0 = right, 90 =
    down, image coordinates)."""
    angle = np.deg2rad(angle_deg)
    return start[0] + length * float(np.cos(angle)), start[1] + length * float(np.sin(angle))


def bent(start: Point, end: Point, rng: np.random.Generator, amount: float = 0.08) -> list[Point]:
    """A hand-drawn stroke from ``start`` to ``end``: a slight random bow through its middle."""
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    length = float(np.hypot(end[0] - start[0], end[1] - start[1]))
    normal = (-(end[1] - start[1]) / max(length, 1e-6), (end[0] - start[0]) / max(length, 1e-6))
    bow = rng.normal(0, amount) * length
    return [start, (mid[0] + bow * normal[0], mid[1] + bow * normal[1]), end]


def stem_angle(top: Point, bottom: Point) -> float:
    """The direction (degrees, image coordinates) from the stem's bottom up to its top."""
    return float(np.degrees(np.arctan2(top[1] - bottom[1], top[0] - bottom[0])))


# ---------------------------------------------------------------------------------------------
# One function per style: (training digit of the right class, rng) -> fine shape or None


def flagged_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 1 with a flag (short, slanted down-left from the top) and/or a foot (a bar at the base)."""
    shape = fine_shape(digit)
    top, bottom, height = stem_axis(shape)
    if height < 12 * FINE:
        return None
    width = pen_width(shape)
    up = stem_angle(top, bottom)  # about -90 for an upright stem
    strokes = []
    style = rng.choice(["flag", "flag", "flag+foot", "flag+foot", "foot"])
    if "flag" in style:
        # The flag leaves the top at 20-55 degrees from the stem, going down and left, from a
        # tick to nearly half the stem; the flatter it is, the shorter, or it would be a 7's
        # top (flatter or longer flags pulled validation 7s towards 1).
        spread = rng.uniform(20, 55)
        length = height * (rng.uniform(0.15, 0.45) if spread < 40 else rng.uniform(0.12, 0.32))
        # Down the stem is ``up + 180``; turning by ``+spread`` goes clockwise on screen (y is
        # downwards), so from pointing down towards the left: the flag hangs left of the stem.
        end = towards(top, up + 180 + spread, length)
        strokes.append(bent(top, end, rng))
    if "foot" in style:
        half = height * rng.uniform(0.15, 0.38)
        tilt = rng.normal(0, 4)
        strokes.append(
            bent(towards(bottom, 180 + tilt, half), towards(bottom, tilt, half), rng, 0.03)
        )
    return draw_strokes(shape, strokes, width)


def seven_from_one(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The other side of the 1/7 boundary: a 1's stem with a long, roughly level top (a 7)."""
    shape = fine_shape(digit)
    top, bottom, height = stem_axis(shape)
    if height < 12 * FINE:
        return None
    width = pen_width(shape)
    length = height * rng.uniform(0.42, 0.85)
    start = towards(top, 180 + rng.normal(0, 7), length)  # the top bar starts on the left
    strokes = [bent(start, top, rng, 0.05)]
    if rng.random() < 0.35:  # some of them crossed
        strokes.append(crossbar(top, bottom, height, rng))
    return draw_strokes(shape, strokes, width)


def crossbar(top: Point, bottom: Point, height: float, rng: np.random.Generator) -> list[Point]:
    """A short, roughly level bar across a stem at 45-65% of its height."""
    t = rng.uniform(0.45, 0.65)
    at = (top[0] + t * (bottom[0] - top[0]), top[1] + t * (bottom[1] - top[1]))
    half = height * rng.uniform(0.14, 0.28)
    tilt = rng.normal(0, 6)
    return bent(towards(at, 180 + tilt, half), towards(at, tilt, half), rng, 0.03)


def crossed_seven(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 7 with a bar across its stem, as most of Europe writes it."""
    shape = fine_shape(digit)
    rows = np.flatnonzero(shape.any(1))
    y0, y1 = rows[0], rows[-1]
    below_top = shape.copy()
    below_top[: y0 + int(0.3 * (y1 - y0))] = False  # the stem: below the top bar
    if below_top.sum() < 20 * FINE:
        return None
    top, bottom, height = stem_axis(below_top)
    return draw_strokes(shape, [crossbar(top, bottom, height, rng)], pen_width(shape))


def loop_of(shape: np.ndarray) -> np.ndarray | None:
    """The largest enclosed hole of a shape (a 9's or a closed 4's loop), or None."""
    holes = ndi.binary_fill_holes(shape) & ~shape
    labels, count = ndi.label(holes)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    biggest = int(np.argmax(sizes)) + 1
    return labels == biggest if sizes[biggest - 1] >= 6 * FINE * FINE else None


def straight_nine(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 9 whose tail is a straight stem down from the right of its loop."""
    shape = fine_shape(digit)
    loop = loop_of(shape)
    if loop is None:
        return None
    rows = np.flatnonzero(loop.any(1))
    cols = np.flatnonzero(loop.any(0))
    width = pen_width(shape)
    cut = rows[-1] + width * 0.6
    kept = shape.copy()
    kept[int(cut) :] = False  # the old tail goes
    height = np.flatnonzero(shape.any(1))[-1] - np.flatnonzero(shape.any(1))[0]
    loop_height = rows[-1] - rows[0]
    right = cols[-1] + width / 2
    start = (float(right), float((rows[0] + rows[-1]) / 2))
    length = max(height - loop_height / 2, loop_height * rng.uniform(1.2, 1.8))
    end = towards(start, 90 + rng.normal(4, 5), length)  # down, slightly to the left
    return draw_strokes(kept, [bent(start, end, rng, 0.03)], width)


def four_tops(shape: np.ndarray) -> tuple[Point, Point] | None:
    """The tops of an open 4's left arm and stem, where the stem clearly rises above the arm.

    None for anything else (a closed 4, one piece, or two arms of about the same height,
    which joined would draw a 9's loop).
    """
    if loop_of(shape) is not None:
        return None
    rows = np.flatnonzero(shape.any(1))
    height = rows[-1] - rows[0]
    band = shape[rows[0] : rows[0] + int(0.45 * height)]
    labels, count = ndi.label(band)
    if count != 2:
        return None
    tops = []
    for index in (1, 2):
        ys, xs = np.nonzero(labels == index)
        first = ys.min()
        tops.append((float(xs[ys == first].mean()), float(first + rows[0])))
    arm, stem = sorted(tops)
    return (arm, stem) if stem[1] <= arm[1] - 0.12 * height else None


def closed_four(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 4 closed as in print: a diagonal from the stem's top down to the left arm."""
    shape = fine_shape(digit)
    tops = four_tops(shape)
    if tops is None:
        return None
    arm, stem = tops
    return draw_strokes(shape, [bent(stem, arm, rng, 0.04)], pen_width(shape))


def open_four(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 4 whose top is *almost* closed: the diagonal stops short of the arm, leaving a gap.

    This is the open-top 4 that models read as 9.
    """
    shape = fine_shape(digit)
    tops = four_tops(shape)
    if tops is None:
        return None
    arm, stem = tops
    reach = rng.uniform(0.45, 0.75)
    end = (stem[0] + reach * (arm[0] - stem[0]), stem[1] + reach * (arm[1] - stem[1]))
    return draw_strokes(shape, [bent(stem, end, rng, 0.04)], pen_width(shape))


def gap_cut(shape: np.ndarray, centre: Point, angle_deg: float, gap: float) -> np.ndarray:
    """``shape`` with a slot ``gap`` wide erased from ``centre`` outwards at ``angle_deg``: a
    loop's ring opened there, as when the pen does not close it."""
    ys, xs = np.mgrid[: shape.shape[0], : shape.shape[1]]
    angle = np.deg2rad(angle_deg)
    along = (xs - centre[0]) * np.cos(angle) + (ys - centre[1]) * np.sin(angle)
    across = -(xs - centre[0]) * np.sin(angle) + (ys - centre[1]) * np.cos(angle)
    return shape & ~((along > 0) & (np.abs(across) < gap / 2))


def loop_centre_and_size(loop: np.ndarray) -> tuple[Point, float]:
    """A loop's (hole's) centre and its smaller side."""
    ys, xs = np.nonzero(loop)
    return (float(xs.mean()), float(ys.mean())), float(min(np.ptp(xs), np.ptp(ys)) + 1)


def five_top_bar(shape: np.ndarray) -> np.ndarray | None:
    """A 5's top bar: the topmost ink right of the stem's top, roughly level; None if absent.

    The stem is found just below the bar (the leftmost ink at 18-35% of the height) and
    followed up; what lies right of it in the top 30% and reaches the top is the bar.
    """
    rows, cols = np.flatnonzero(shape.any(1)), np.flatnonzero(shape.any(0))
    y0, height, width = rows[0], rows[-1] - rows[0], cols[-1] - cols[0]
    pen = pen_width(shape)
    stem_rows = np.arange(y0 + int(0.18 * height), y0 + int(0.35 * height))
    lefts = [np.flatnonzero(shape[y])[0] for y in stem_rows if shape[y].any()]
    if len(lefts) < 3:
        return None
    slope, offset = np.polyfit(stem_rows[: len(lefts)], lefts, 1)
    band = np.zeros_like(shape)
    band[y0 : y0 + int(0.3 * height)] = shape[y0 : y0 + int(0.3 * height)]
    ys, xs = np.mgrid[: shape.shape[0], : shape.shape[1]]
    band &= xs > slope * ys + offset + 1.2 * pen  # right of the stem's right edge
    labels, count = ndi.label(band)
    for index in range(1, count + 1):
        bar = labels == index
        bys, bxs = np.nonzero(bar)
        level = np.ptp(bxs) >= 1.3 * np.ptp(bys) and np.ptp(bxs) >= 0.25 * width
        if level and bys.min() <= y0 + 0.12 * height:
            return bar
    return None


def gapped_five(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 5 written in two strokes whose top bar is short, detached from the stem, or missing."""
    shape = fine_shape(digit)
    bar = five_top_bar(shape)
    if bar is None:
        return None
    pen = pen_width(shape)
    _, xs = np.nonzero(bar)
    x0, length = xs.min(), np.ptp(xs)
    style = rng.choice(["short", "detached", "detached", "short+detached", "missing"])
    gone = np.zeros_like(bar)
    columns = np.arange(shape.shape[1])[None, :]
    if "detached" in style:
        gone |= bar & (columns < x0 + rng.uniform(0.8, 1.8) * pen)
    if "short" in style:
        gone |= bar & (columns > x0 + length * rng.uniform(0.35, 0.6))
    if style == "missing":
        gone = bar
    return shape & ~gone


def open_zero(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 0 whose oval the pen did not close: a gap of 1-2.5 pen widths, mostly at the top."""
    shape = fine_shape(digit)
    loop = loop_of(shape)
    if loop is None:
        return None
    centre, size = loop_centre_and_size(loop)
    angle = rng.uniform(-120, -20)  # from top-left of the top round to the upper right
    # at most 40% of the hole across, or a narrow 0 becomes a U or a C
    gap = min(rng.uniform(1.0, 2.5) * pen_width(shape), 0.4 * size)
    opened = gap_cut(shape, centre, angle, gap)
    return opened if loop_of(opened) is None else None


def open_nine(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 9 with a small loop on a long tail, or a loop left open by a small gap on its left."""
    shape = fine_shape(digit)
    loop = loop_of(shape)
    if loop is None:
        return None
    pen = pen_width(shape)
    if rng.random() < 0.5:
        # Left or a little above it: an opening at the top would make it a 4's open top.
        centre, size = loop_centre_and_size(loop)
        angle = rng.uniform(165, 215)
        opened = gap_cut(shape, centre, angle, min(rng.uniform(1.0, 1.6) * pen, 0.35 * size))
        return opened if loop_of(opened) is None else None
    return small_loop_nine(shape, loop, pen, rng.uniform(0.55, 0.75))


def small_loop_nine(
    shape: np.ndarray, loop: np.ndarray, pen: float, scale: float
) -> np.ndarray | None:
    """The 9's loop (all above the loop's bottom stroke) scaled down towards where the tail
    leaves it and thickened back to the pen's width; the tail stays as it was."""
    cut = int(np.flatnonzero(loop.any(1))[-1] + pen)
    head = shape.copy()
    head[cut:] = False
    below = shape.copy()
    below[:cut] = False
    labels, count = ndi.label(below)
    if count == 0:
        return None
    tail = labels == np.bincount(labels[labels > 0]).argmax()  # not the loop's leftovers
    ys, xs = np.nonzero(tail)
    anchor = np.array([ys.min(), xs[ys == ys.min()].mean()])  # (y, x) where the tail starts
    # output pixel p samples the head at anchor + (p - anchor) / scale
    small = ndi.affine_transform(
        head.astype(np.float32), np.eye(2) / scale, offset=anchor - anchor / scale, order=1
    )
    grown = ndi.distance_transform_edt(small < 0.5) <= (1 - scale) * pen / 2
    nine = without_specks(grown | tail)
    return nine if loop_of(nine) is not None else None


def without_specks(shape: np.ndarray, share: float = 0.05) -> np.ndarray:
    """``shape`` without the pieces holding under ``share`` of its ink (a shrunk loop can
    leave a scrap of the tail's top behind, which no pen draws)."""
    labels, count = ndi.label(shape)
    if count <= 1:
        return shape
    sizes = np.bincount(labels.ravel())
    keep = sizes >= share * sizes[1:].sum()
    keep[0] = False
    return keep[labels]


def one_stroke_four(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """A 4 written in one stroke: its left arm replaced by a diagonal rising from the arm's
    lower end to the stem's top, from where the down stroke continues (a closed, pointed top).
    """
    shape = fine_shape(digit)
    tops = four_tops(shape)
    if tops is None:
        return None
    arm_top, stem = tops
    rows = np.flatnonzero(shape.any(1))
    band_end = rows[0] + int(0.45 * (rows[-1] - rows[0]))  # the band ``four_tops`` splits
    labels, _ = ndi.label(shape[rows[0] : band_end])
    arm_label = labels[int(arm_top[1]) - rows[0], int(round(arm_top[0]))]
    ys, xs = np.nonzero(labels == arm_label)
    if arm_label == 0 or ys.max() < band_end - rows[0] - 2:
        return None  # the arm does not reach down to the band's end
    pen = pen_width(shape)
    foot = (float(xs[ys == ys.max()].mean()), float(ys.max() + rows[0]))
    if stem[0] - foot[0] < 0.25 * (rows[-1] - rows[0]):
        return None  # a narrow closed top is a 9's loop
    arm = np.zeros_like(shape)
    arm[rows[0] : band_end] = labels == arm_label
    arm[int(foot[1] - pen) :] = False  # keep the arm's lower end to start from
    kept = shape & ~arm
    four = draw_strokes(kept, [bent(foot, stem, rng, 0.04)], pen)
    return four if loop_of(four) is not None else None  # the top must stay open inside


def tight_crop(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """Any digit clipped at one side of its box by 3-8% of its extent, as a scanner's crop
    cuts the ink where it touches the frame."""
    shape = fine_shape(digit)
    rows, cols = np.flatnonzero(shape.any(1)), np.flatnonzero(shape.any(0))
    side = rng.choice(["top", "bottom", "left", "right"])
    extent = np.ptp(rows) if side in ("top", "bottom") else np.ptp(cols)
    depth = max(1, round(extent * rng.uniform(0.03, 0.08)))
    clipped = shape.copy()
    if side == "top":
        clipped[: rows[0] + depth] = False
    elif side == "bottom":
        clipped[rows[-1] + 1 - depth :] = False
    elif side == "left":
        clipped[:, : cols[0] + depth] = False
    else:
        clipped[:, cols[-1] + 1 - depth :] = False
    return clipped


# The styles, each with the class it draws from and the class it shows; ``None`` for both:
# drawn from any class, shown as that class.
STYLES: dict[str, tuple[int | None, int | None, Callable]] = {
    "flagged_one": (1, 1, flagged_one),
    "seven_from_one": (1, 7, seven_from_one),
    "crossed_seven": (7, 7, crossed_seven),
    "straight_nine": (9, 9, straight_nine),
    "closed_four": (4, 4, closed_four),
    "open_four": (4, 4, open_four),
    "gapped_five": (5, 5, gapped_five),
    "open_zero": (0, 0, open_zero),
    "open_nine": (9, 9, open_nine),
    "one_stroke_four": (4, 4, one_stroke_four),
    "tight_crop": (None, None, tight_crop),
}
# How often each style is drawn: the flagged 1 is by far the most common failure. The first
# six keep their relative weights and 70% of the total.
STYLE_WEIGHTS = {
    "flagged_one": 0.21,
    "seven_from_one": 0.175,
    "crossed_seven": 0.091,
    "straight_nine": 0.084,
    "closed_four": 0.07,
    "open_four": 0.07,
    "gapped_five": 0.07,
    "open_zero": 0.06,
    "open_nine": 0.06,
    "one_stroke_four": 0.05,
    "tight_crop": 0.06,
}


def styled_digits(
    images: np.ndarray, labels: np.ndarray, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` styled digits (float32 [n,28,28] in [0,1]) and their labels, from ``images``.

    Deterministic given ``seed``. Digits a style cannot use (a 9 without a closed loop, say)
    are skipped and another is drawn.
    """
    rng = np.random.default_rng(seed)
    names = list(STYLE_WEIGHTS)
    weights = np.array([STYLE_WEIGHTS[name] for name in names])
    by_class = {digit: np.flatnonzero(labels == digit) for digit in range(10)}
    by_class[None] = np.arange(len(labels))
    out, out_labels = [], []
    attempts = 0
    while len(out) < n and attempts < 20 * n:
        attempts += 1
        name = names[rng.choice(len(names), p=weights / weights.sum())]
        source, label, make = STYLES[name]
        index = rng.choice(by_class[source])
        shape = make(images[index], rng)
        rendered = None if shape is None else as_mnist(shape)
        if rendered is not None:
            out.append(rendered)
            out_labels.append(labels[index] if label is None else label)
    return np.stack(out).astype(np.float32), np.array(out_labels, np.int64)
