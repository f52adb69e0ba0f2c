"""A sheet of paper lying on a desk: finding it and painting everything off it paper-coloured.

A photo of a sheet on a darker desk would otherwise keep the sheet's outline as ink, a box
around the digit. ``isolate_page`` is the pipeline's step; ``find_page`` the search.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

from digitlab.imaging.resample import resize, shrink

# A sheet of paper on a desk is looked for on a copy this small: its outline needs no more,
# and it keeps the step cheap. What counts as a sheet:
PAGE_SIDE = 128
PAGE_SHARE = (0.10, 0.92)  # of the image: a sheet on a desk, not paper filling the frame
PAGE_MIN_CONTRAST = 0.15  # paper over desk (medians, 0-1 scale)
# Share of the sheet's area that what lies on it may take (ink; a "0" drawn light on dark has
# a bigger hole and is no rectangle). At 0.1, a big digit in a thick marker on a small sheet
# lost its sheet, and the sheet itself became the "digit": 2.7% of validation desk photos were
# refused, 0.7% at 0.2, with no change on the other kinds of upload or on paper photos.
PAGE_MAX_HOLES = 0.2
# What lies on the sheet is darker than halfway from the desk's shade to the paper's: the
# paper inside a "0", cut off from the rest of the sheet by the ring, is no hole.
PAGE_HOLE_LEVEL = 0.5
PAGE_MIN_SHARP = 0.75  # share of its outline that is a sharp step (not a shadow's soft edge)
PAGE_MIN_SOME_SHARP = 0.3  # a first look: some of the bright region's outline is that sharp
PAGE_MIN_HULL_SHARP = 0.6  # the same along its convex hull (which crosses a hand's bite)
PAGE_MIN_SOLIDITY = 0.88  # its area over its convex hull's (a hand may bite into it)
PAGE_MIN_RECTANGULAR = 0.85  # its hull's area over the smallest rotated box around it
PAGE_LIGHT_WINDOW = 41  # lighting varies over this many pixels on a sheet; a hand, faster
PAGE_EDGE = 0.06  # the band along its edge dropped (shading, spiral holes), of its size
PAGE_MAX_OVERLAP = 0.15  # a clip or a hand over its edge covers at most this much of it
# A sheet a light-on-dark reading took for ink (``sheet_taken_for_ink``): its outline was
# found, and its inside (paper, as bright as the outline) was not. So at least this share of
# it is inside, and bright; a light digit's holes (the loops of an "8") are smaller, and dark.
# Sheets missed on generated desk photos measure 0.57 to 0.70.
TAKEN_INSIDE = 0.5
TAKEN_WRITING = (0.002, 0.2)  # share of the inside that is darker than halfway to the desk
# A photographed sheet and desk differ by 0.4 to 0.8 (medians, 0-1 scale) in generated desk
# photos; white drawn on black (a canvas, an enlarged MNIST digit) by 0.95 or more.
TAKEN_MAX_CONTRAST = 0.9
# It comes with the hand holding it; an ellipse (a "0") measures 0.79 in rectangularity.
TAKEN_MIN_SOLIDITY = 0.78
TAKEN_MIN_RECTANGULAR = 0.82


def isolate_page(grey: np.ndarray) -> np.ndarray:
    """Make everything off the sheet of paper (desk, hand, clip) and its edge paper-coloured.

    A photo of a sheet on a darker desk would otherwise keep the sheet's outline as ink, a box
    around the digit. Off the sheet, each pixel takes the paper shade of the nearest point
    inside it, so no step is left where the sheet ended. Returns ``grey`` itself when there
    is no such sheet (``find_page``).
    """
    page = find_page(grey)
    return grey if page is None else paint_off_page(grey, page)


def paint_off_page(grey: np.ndarray, page: Page) -> np.ndarray:
    """``grey`` with everything off ``page`` and its edge band in the paper's nearest shade."""
    inside = erode(page.mask, edge_band(page.mask))
    if not inside.any():
        return grey
    nearest = ndi.distance_transform_edt(~inside, return_distances=False, return_indices=True)
    paper = ndi.uniform_filter(page.paper[nearest[0], nearest[1]], size=5)  # no streaks
    height, width = grey.shape
    paper = resize(paper, height, width, Image.BILINEAR)
    inside = resize(inside.astype(np.float32), height, width, Image.BILINEAR) > 0.5
    return np.where(inside, grey, paper).astype(np.float32)


@dataclass(frozen=True)
class Page:
    """A sheet found on the ``PAGE_SIDE`` copy of an image: its pixels (``mask``) and that
    copy with thin ink closed over (``paper``: the paper's shade)."""

    mask: np.ndarray
    paper: np.ndarray


def find_page(grey: np.ndarray) -> Page | None:
    """The sheet of paper lying on a desk in ``grey``, found on a ``PAGE_SIDE`` copy, or None.

    The sheet is a bright region that looks like one (``looks_like_sheet``); the likely
    regions are tried in turn (``sheet_candidates``). What lies over its edge (a clip, a
    hand) is then taken out of it.
    """
    small = shrink(grey, PAGE_SIDE)
    if not bright_enough_region(small):  # a first, cheap look: most images have no sheet
        return None
    copy = SmallCopy.of(small)
    for region, mask, around in sheet_candidates(copy):
        if looks_like_sheet(copy, region, mask, around):
            return Page(without_overlaps(copy.paper, mask), copy.paper)
    return None


def sheet_taken_for_ink(grey: np.ndarray, ink: np.ndarray) -> Page | None:
    """The sheet that a light-on-dark reading of ``grey`` took for ink (``ink``: the pixels it
    kept as the digit), or None.

    When ``find_page`` misses a sheet on a darker desk (a hand over it, its tilt, a shadow),
    the darker desk sets the polarity: the bright paper is taken for ink, and the digit found
    is the sheet's outline around its inside. Filling the holes of that "ink" gives back the
    sheet: taken as one when it has a sheet's size, its inside takes a good share of it, it
    is brighter than what surrounds it with little darker inside it (the loops of a light "8"
    on a board are dark) and it is nearly a convex quadrilateral (a hand holding it, found
    with it, bites a little into that).
    """
    copy = SmallCopy.of(shrink(grey, PAGE_SIDE))
    height, width = copy.grey.shape
    found = resize(ink.astype(np.float32), height, width, Image.BILINEAR) > 0.25
    page = fill_holes(found)
    area = int(page.sum())
    inside = page & ~found
    if not sheet_sized(page) or inside.sum() < TAKEN_INSIDE * area:
        return None
    contrast, halfway = sheet_levels(copy, page)
    dark = page & (copy.paper < halfway)
    if not PAGE_MIN_CONTRAST <= contrast <= TAKEN_MAX_CONTRAST:
        return None
    if dark.sum() > PAGE_MAX_HOLES * area:
        return None
    # Its inside is paper with writing on it: bright, with a few dark strokes (the digit). The
    # inside of a light digit is the board seen through a loop, or, where a stroke too wide
    # for the background's window left only its outline, the stroke itself: with no writing.
    writing = inside & (copy.grey < halfway)
    if not TAKEN_WRITING[0] * inside.sum() <= writing.sum() <= TAKEN_WRITING[1] * inside.sum():
        return None
    # The hand holding it, joined to it, bites less into the hull than the sheet's own shape.
    hull = ConvexHull(outline_corners(page))
    if area < TAKEN_MIN_SOLIDITY * hull.volume:
        return None
    if rectangularity(hull, page.shape) < TAKEN_MIN_RECTANGULAR:
        return None
    return Page(without_overlaps(copy.paper, page), copy.paper)


def bright_enough_region(small: np.ndarray) -> bool:
    """Whether the image's largest bright region could be a sheet by its size (holes left
    unfilled: a sheet's are small) and its contrast with the rest."""
    region = largest_component(small > two_class_level(small))
    share = region.mean()
    low, high = PAGE_SHARE
    if not (1 - PAGE_MAX_HOLES) * low <= share <= high:
        return False
    return contrast_around(small, region) >= PAGE_MIN_CONTRAST


def sheet_candidates(
    copy: SmallCopy,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Bright regions that may be the sheet, most likely first: (region, its holes filled,
    the larger bright region it must stand out from sharply, or None). None at all when no
    part of the largest bright region's outline is a sharp edge (lighting, not a sheet).

    1. the bright region within the largest bright region, once evenly lit, if its edge
       there is sharp: a sheet on a clipboard (or a lighter board);
    2. the largest bright region: a sheet on a desk;
    3. the bright region within it again, however its edge there looks: a sheet with a
       hand (or anything as bright as paper) beside it;
    4. the largest region above the threshold that splits the rest: a sheet partly in
       shadow, its shaded side darker than its lit side but brighter than the desk.
    """
    paper, everywhere = copy.paper, np.ones(copy.paper.shape, bool)
    region, page = largest_bright_region(paper, everywhere)
    contrast = contrast_around(paper, page)
    if steep_share(copy.steepness, outline_of(page), contrast) < PAGE_MIN_SOME_SHARP:
        return
    inner = largest_bright_region(evenly_lit(paper, page), page)
    yield *inner, page
    yield region, page, None
    yield *inner, None
    darker = ~region
    if darker.any():
        yield *largest_bright_region(paper, everywhere, two_class_level(paper[darker])), None


@dataclass(frozen=True)
class SmallCopy:
    """The image at ``PAGE_SIDE`` as it is (``grey``) and with thin ink closed over
    (``paper``)."""

    grey: np.ndarray
    paper: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray) -> SmallCopy:
        grey = shrink(image, PAGE_SIDE)  # (no-op for an image that small already)
        return cls(grey, ndi.grey_closing(grey, size=(5, 5)))

    @cached_property
    def steepness(self) -> np.ndarray:
        """How steeply ``paper`` changes around each pixel (largest gradient nearby, per
        pixel); computed only for images that get that far."""
        gradient = np.hypot(ndi.sobel(self.paper, axis=0), ndi.sobel(self.paper, axis=1)) / 8
        return ndi.maximum_filter(gradient, size=3)


def contrast_around(paper: np.ndarray, page: np.ndarray) -> float:
    """How much brighter the page is than the rest of the image (medians)."""
    return median_level(paper[page]) - median_level(paper[~page])


def median_level(values: np.ndarray, bins: int = 256) -> float:
    """The median of values in [0, 1], to 1/``bins``: from a histogram, faster than sorting."""
    counts = np.bincount(np.clip(values * bins, 0, bins - 1).astype(np.intp), minlength=bins)
    return (int(np.searchsorted(np.cumsum(counts), (len(values) + 1) / 2)) + 0.5) / bins


def evenly_lit(paper: np.ndarray, page: np.ndarray) -> np.ndarray:
    """The page divided by its smooth lighting, so that what differs from the sheet (a hand
    beside it, the board under it) stands out rather than the lit and the shaded sides."""
    weight = ndi.uniform_filter(page.astype(np.float32), PAGE_LIGHT_WINDOW)
    light = ndi.uniform_filter(np.where(page, paper, 0.0).astype(np.float32), PAGE_LIGHT_WINDOW)
    return np.clip(paper * weight / np.maximum(light, 1e-3), 0.0, 1.0)


def largest_bright_region(
    paper: np.ndarray, within: np.ndarray, level: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The largest region of ``within`` brighter than ``level`` (by default, the two-class
    threshold of its values), as it is and with its holes filled (empty masks when there is
    none; the region itself when it covers too much of the image to be a sheet)."""
    if level is None:
        level = two_class_level(paper[within])
    region = largest_component(within & (paper > level))
    if region.mean() > PAGE_SHARE[1]:  # paper filling the frame: no need to look closer
        return region, region
    return region, fill_holes(region)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest connected region of a boolean mask (the mask itself when it is empty)."""
    labels, count = ndi.label(mask)
    if count == 0:
        return mask
    return labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1


def fill_holes(region: np.ndarray) -> np.ndarray:
    """The region with its holes filled: all that the outside, reached from the image's
    edge, does not reach (``ndi.binary_fill_holes``, twice as fast)."""
    outside, _ = ndi.label(~region)
    edge = np.unique(np.concatenate([outside[0], outside[-1], outside[:, 0], outside[:, -1]]))
    return ~np.isin(outside, edge[edge > 0])


def sheet_sized(page: np.ndarray) -> bool:
    """Whether a region covers a sheet's share of the image (a good share, not all of it)."""
    return PAGE_SHARE[0] <= int(page.sum()) / page.size <= PAGE_SHARE[1]


def sheet_levels(copy: SmallCopy, page: np.ndarray) -> tuple[float, float]:
    """How much brighter a candidate sheet is than what surrounds it, and the level between
    the desk's and the sheet's below which a pixel inside it is a hole or writing."""
    contrast = contrast_around(copy.paper, page)
    return contrast, PAGE_HOLE_LEVEL * contrast + desk_level(copy.paper, page)


def looks_like_sheet(
    copy: SmallCopy, region: np.ndarray, page: np.ndarray, around: np.ndarray | None = None
) -> bool:
    """Whether a bright region (``page``: with its holes filled) is a sheet lying on a desk.

    It covers a good share of the image but not all of it, is clearly brighter than what
    surrounds it, has writing on it but no big dark hole (a "0" drawn light on dark), has a
    sharp outline (a shadow's or a vignette's is soft) and is nearly a convex quadrilateral.
    Where it lies within a larger bright region ``around`` (a clipboard, a hand beside it),
    its outline there must be a sharp step too, not a shadow across the sheet.
    """
    area = int(page.sum())
    if not sheet_sized(page):
        return False
    contrast, halfway = sheet_levels(copy, page)
    holes = page & ~region & (copy.paper < halfway)
    if contrast < PAGE_MIN_CONTRAST or holes.sum() > PAGE_MAX_HOLES * area:
        return False
    outline = outline_of(page)
    if steep_share(copy.steepness, outline, contrast) < PAGE_MIN_SHARP:
        return False
    inside = outline & erode(around, 2) if around is not None else None
    if inside is not None and inside.any():
        step = median_level(copy.paper[page]) - median_level(copy.paper[around & ~page])
        if steep_share(copy.steepness, inside, step) < PAGE_MIN_SHARP:
            return False
    # Writing: strokes too wide for the closing (the holes), or thin ones it closed over.
    writing = holes | (copy.grey < copy.paper - 0.25 * contrast)
    if not (writing & erode(page, edge_band(page) + 1)).any():
        return False
    hull = ConvexHull(outline_corners(page))
    if area < PAGE_MIN_SOLIDITY * hull.volume:  # a 2-D hull's volume is its area
        return False
    hull_outline = outline_of(polygon_mask(hull.points[hull.vertices], page.shape))
    if steep_share(copy.steepness, hull_outline, contrast) < PAGE_MIN_HULL_SHARP:
        return False
    return rectangularity(hull, page.shape) >= PAGE_MIN_RECTANGULAR


def desk_level(paper: np.ndarray, page: np.ndarray) -> float:
    """The median shade around the sheet."""
    return median_level(paper[~page])


def erode(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The mask less ``pixels`` along its outline (not along the image's edge)."""
    return ndi.minimum_filter(mask, size=2 * pixels + 1, mode="nearest")


def edge_band(page: np.ndarray) -> int:
    """Width in pixels of the band along the sheet's edge that is dropped."""
    return max(2, round(PAGE_EDGE * np.sqrt(page.sum())))


def without_overlaps(paper: np.ndarray, page: np.ndarray) -> np.ndarray:
    """The page without what lies over its edge: a clip, a hand, darker than the paper
    nearby and joined to the outside. A soft shadow is not darker than the paper nearby
    (which follows it), and a big dark area is left alone, in case the digit is in it."""
    contrast = contrast_around(paper, page)
    bright = np.where(page, paper, median_level(paper[page]))
    nearby = ndi.grey_closing(bright, size=(21, 21))
    dark = page & (paper < nearby - 0.3 * contrast)
    labels, count = ndi.label(dark)
    if count == 0:
        return page
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    touching = np.unique(labels[ndi.binary_dilation(~page) & dark])
    overlaps = touching[(touching > 0) & (areas[touching] <= PAGE_MAX_OVERLAP * page.sum())]
    return page & ~np.isin(labels, overlaps)


def two_class_level(values: np.ndarray, bins: int = 64) -> float:
    """Otsu's threshold: the level that best splits ``values`` (in [0, 1]) into two classes."""
    bin_of = np.clip(values.ravel() * bins, 0, bins - 1).astype(np.intp)
    counts = np.bincount(bin_of, minlength=bins)
    centres = (np.arange(bins) + 0.5) / bins
    below = np.cumsum(counts)
    above = below[-1] - below
    mass = np.cumsum(counts * centres)
    mean_below = mass / np.maximum(below, 1)
    mean_above = (mass[-1] - mass) / np.maximum(above, 1)
    return float((int(np.argmax(below * above * (mean_below - mean_above) ** 2)) + 1) / bins)


def outline_corners(mask: np.ndarray) -> np.ndarray:
    """(x, y) corners of the mask's outline pixels, each pixel a unit square."""
    ys, xs = np.nonzero(mask & ~ndi.binary_erosion(mask))
    return np.concatenate([np.stack([xs + dx, ys + dy], axis=1)
                           for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])  # fmt: skip


def polygon_mask(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the pixels inside a polygon given by its (x, y) vertices."""
    canvas = Image.new("1", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(v) for v in vertices.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def outline_of(mask: np.ndarray) -> np.ndarray:
    """The mask's outline pixels, except along the image's edge (where the image cut it)."""
    outline = mask & ~ndi.binary_erosion(mask, border_value=1)
    outline[:2, :] = outline[-2:, :] = outline[:, :2] = outline[:, -2:] = False
    return outline


def steep_share(steepness: np.ndarray, outline: np.ndarray, contrast: float) -> float:
    """Share of the ``outline`` pixels where the image steps sharply (0 for no outline).

    A step is sharp when the local gradient (``steepness``) reaches a quarter of the
    ``contrast`` across it per pixel: a sheet's edge does, a shadow's or a vignette's does not.
    """
    if not outline.any() or contrast <= 0:
        return 0.0
    return float(np.mean(steepness[outline] >= 0.25 * contrast))


def rectangularity(hull: ConvexHull, shape: tuple[int, int]) -> float:
    """The hull's area over that of the smallest rectangle around it, once both are cut to
    the image: 1 for a sheet (even one the image's edge cuts off), about 0.79 for a disc.

    The smallest rectangle has a side along one of the hull's edges; for a sheet, one of its
    longest edges (or the image's edge, where the image cut it).
    """
    corners = hull.points[hull.vertices]
    edges = np.diff(np.vstack([corners, corners[:1]]), axis=0)
    longest = np.argsort(-np.hypot(edges[:, 0], edges[:, 1]))[:8]
    angles = np.arctan2(edges[longest, 1], edges[longest, 0]) % (np.pi / 2)
    smallest = np.inf
    for angle in np.unique(np.round(np.append(angles, 0.0), 2)):
        axes = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        turned = corners @ axes.T
        (u0, v0), (u1, v1) = turned.min(axis=0), turned.max(axis=0)
        box = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]]) @ axes
        smallest = min(smallest, polygon_area(clip_to_frame(box, shape)))
    return float(hull.volume / smallest)


def clip_to_frame(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A convex polygon's (x, y) vertices cut to the image (Sutherland-Hodgman)."""
    height, width = shape
    for axis, limit, keep_below in ((0, -0.5, False), (0, width - 0.5, True),
                                    (1, -0.5, False), (1, height - 0.5, True)):  # fmt: skip
        if len(polygon) == 0:
            break
        inside = polygon[:, axis] <= limit if keep_below else polygon[:, axis] >= limit
        kept = []
        for i in range(len(polygon)):
            here, there = polygon[i], polygon[(i + 1) % len(polygon)]
            if inside[i]:
                kept.append(here)
            if inside[i] != inside[(i + 1) % len(polygon)]:
                t = (limit - here[axis]) / (there[axis] - here[axis])
                kept.append(here + t * (there - here))
        polygon = np.array(kept).reshape(-1, 2)
    return polygon


def polygon_area(polygon: np.ndarray) -> float:
    """Shoelace area of a polygon's (x, y) vertices."""
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
