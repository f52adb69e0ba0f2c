"""Finding the digit among the candidate ink pixels: connected blobs, specks and border
artefacts dropped, the most prominent digit's pieces kept; and the boxes that locate it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from digitlab.contract import NO_DIGIT
from digitlab.errors import NoDigitError

GRAINY_PIECES = 5  # a digit kept in this many separate pieces or more has grainy strokes
MIN_DIGIT_SIDE = 5  # pixels of the upload: anything smaller is a speck (8x8 scans are 8)
# A straight line from one side of the photo to another, paper on one side of it and something
# as bright as the line itself after the ink is made white (a darker desk, a shadow) on the
# other, is the edge of a sheet or of a shadow, not a "1". On generated photos of blank paper
# such edges measure a width under 0.05 of their length and half of their surroundings on the
# bright side; a stroke's surroundings are paper (a tenth or less on the bright side).
EDGE_MAX_WIDTH = 0.08  # the line's spread across over its spread along
EDGE_MIN_BRIGHT_SIDE = 0.35  # share of its surroundings as bright as halfway to the line

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Component:
    """One connected blob of candidate ink, with the measurements used to keep or drop it."""

    label: int
    area: int
    mass: float
    box: Box  # x0, y0, x1, y1 in working pixels (exclusive end)


def label_components(candidates: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, list]:
    """Label blobs of candidates; return the label image and their ``Component`` records."""
    # Blobs within 2 pixels belong together (chalk and pencil strokes break up into grains).
    near = ndi.maximum_filter(candidates.view(np.uint8), size=5) > 0
    labels, count = ndi.label(near, structure=np.ones((3, 3), bool))
    labels = np.where(candidates, labels, 0)
    if count == 0:
        return labels, []
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    masses = np.bincount(labels.ravel(), weights=foreground.ravel(), minlength=count + 1)
    components = []
    for index, found in enumerate(ndi.find_objects(labels), start=1):
        if found is None:
            continue
        rows, cols = found
        box = (cols.start, rows.start, cols.stop, rows.stop)
        components.append(Component(index, int(areas[index]), float(masses[index]), box))
    return labels, components


def touches_border(component: Component, shape: tuple[int, int]) -> bool:
    """Whether the blob reaches the edge of the image."""
    x0, y0, x1, y1 = component.box
    return x0 == 0 or y0 == 0 or x1 == shape[1] or y1 == shape[0]


def is_border_artefact(component: Component, shape: tuple[int, int]) -> bool:
    """A blob on the image edge that looks like a scanner edge, a paper edge or a shadow line.

    It touches the border and either runs along most of that side or is a thin strip.
    """
    if not touches_border(component, shape):
        return False
    height, width = shape
    x0, y0, x1, y1 = component.box
    box_w, box_h = x1 - x0, y1 - y0
    long_run = box_h >= 0.85 * height or box_w >= 0.85 * width
    strip = min(box_w / width, box_h / height) <= 0.04 and max(box_w, box_h) > 10 * min(
        box_w, box_h
    )
    return long_run or strip


def box_gap(a: Box, b: Box) -> float:
    """The distance between two boxes (0 when they overlap)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0)
    dy = max(a[1] - b[3], b[1] - a[3], 0)
    return float(np.hypot(dx, dy))


def select_digit(components: list[Component], shape: tuple[int, int]) -> list[Component]:
    """The components forming the most prominent digit: the heaviest blob plus nearby pieces.

    Specks (tiny next to the biggest blob) and border artefacts are dropped, unless nothing
    else is left (a digit drawn edge to edge is still a digit).
    """
    if not components:
        return []
    biggest = max(c.area for c in components)
    solid = [c for c in components if c.area >= 0.04 * biggest and c.area >= 4]
    inside = [c for c in solid if not is_border_artefact(c, shape)]
    pool = inside or solid
    if not pool:  # only a few stray pixels: nothing there is a digit
        return []
    main = max(pool, key=lambda c: c.mass)
    away_from_edge = [c for c in pool if not touches_border(c, shape)]
    if touches_border(main, shape) and away_from_edge:  # lighting residue sits on the edges
        runner_up = max(away_from_edge, key=lambda c: c.mass)
        if runner_up.mass >= 0.15 * main.mass:
            main = runner_up
    main_h = main.box[3] - main.box[1]
    main_w = main.box[2] - main.box[0]
    reach = 0.3 * max(main_h, main_w)
    return [
        c
        for c in pool
        if c is main or (box_gap(c.box, main.box) <= reach and c.area >= 0.02 * main.area)
    ]


def find_digit_components(candidates: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Boolean mask of the digit's pixels; raises ``NoDigitError`` when there is none."""
    labels, components = label_components(candidates, foreground)
    chosen = select_digit(components, candidates.shape)
    if not chosen:
        raise NoDigitError(NO_DIGIT)
    return np.isin(labels, [c.label for c in chosen])


def is_grainy(mask: np.ndarray) -> bool:
    """Whether the digit's pixels fall apart into ``GRAINY_PIECES`` or more pieces: strokes
    of chalk on a board, not a pen's (a pen's digit is one to three)."""
    return ndi.label(mask, structure=np.ones((3, 3), bool))[1] >= GRAINY_PIECES


def is_light_edge(mask: np.ndarray, white: np.ndarray, candidates: np.ndarray) -> bool:
    """Whether the digit found (``mask``) is only the edge of a sheet or a shadow: a straight
    line touching two sides of the image with a bright region on one side (in ``white``, the
    image with its ink made white; ``candidates`` are the pixels that may be ink).

    It is a refusal only: an image it does not refuse is read exactly as before.
    """
    rows, cols = np.nonzero(mask)
    if len(rows) < 3:
        return False
    height, width = mask.shape
    sides = [cols.min() == 0, rows.min() == 0, cols.max() == width - 1, rows.max() == height - 1]
    if sum(sides) < 2:
        return False
    variances = np.linalg.eigvalsh(np.cov(np.stack([cols, rows]).astype(float)))
    spread = np.sqrt(np.maximum(variances, 0.0))  # across, along
    if spread[0] > EDGE_MAX_WIDTH * spread[1]:
        return False
    depth = ndi.distance_transform_edt(mask)
    line_width = max(1.0, 2 * float(np.percentile(depth[mask], 90)))
    away = ndi.distance_transform_edt(~mask)
    around = (away > 1.5) & (away <= 1.5 + 2 * line_width) & ~candidates
    if not around.any():
        return False
    paper = float(np.percentile(white[around], 10))
    halfway = (paper + float(np.median(white[mask]))) / 2
    return float(np.mean(white[around] >= halfway)) >= EDGE_MIN_BRIGHT_SIDE


def mask_box(mask: np.ndarray) -> Box:
    """(x0, y0, x1, y1) of the True pixels, end exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scale_box(box: Box, factor: float) -> Box:
    """A box in working pixels converted to input pixels."""
    return tuple(int(round(v * factor)) for v in box)  # type: ignore[return-value]
