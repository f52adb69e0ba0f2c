"""People's images -> MNIST-like 28x28 digits, as one pure function per step.

MNIST was made in a particular way, and models trained on it expect exactly that: each
binary NIST digit was scaled to fit a 20x20 box with its aspect ratio kept, anti-aliased by
the resampling (hence the grey edges), then placed in a 28x28 field so that its centre of
*mass* sits at the centre, white ink on black. Resizing a whole photo to 28x28 ignores all of
it, and the models fail on people's own handwriting. This module redoes each step,
one pure function per step; ``PIPELINE`` lists them as data (the README, the app and the
step pictures all read it), and ``pipeline_version()`` fingerprints their parameters.

``preprocess(image)`` returns the float32 28x28 image in [0, 1]; ``preprocess(image,
steps=True)`` returns a ``Preprocessed`` with every intermediate image, for display.
``naive_preprocess`` is the baseline everyone starts with (resize the upload to 28x28).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage as ndi
from scipy.spatial import ConvexHull

from digitlab.contract import NO_DIGIT
from digitlab.errors import NoDigitError
from digitlab.imaging.decode import ImageSource, decode_image

WORKING_SIDE = 400  # long side for finding the digit: fast, and enough for a digit's shape
SMALL_UPLOAD_SIDE = 64  # uploads this small (low-resolution scans) have a flat background
MIN_WORKING_SIDE = 128  # tiny images (8x8 scans) are enlarged smoothly to at least this
FINE_SIDE = 80  # the digit's long side when binarised; NIST's were about 128
MNIST_BOX = 20  # MNIST digits fit a 20x20 box...
MNIST_SIDE = 28  # ...centred by mass in a 28x28 field
# MNIST's stroke width in the 20x20 frame, measured on MNIST training digits with
# ``stroke_width``: 10th to 90th percentile (median 2.6). Widths outside are pulled inside.
MNIST_STROKE_RANGE = (1.9, 3.6)
MIN_INK_CONTRAST = 0.06  # an ink peak below this (on a 0-1 scale) is not a digit
MIN_DIGIT_SIDE = 5  # pixels of the upload: anything smaller is a speck (8x8 scans are 8)
# A sheet of paper on a desk (``isolate_page``) is looked for on a copy this small: its outline
# needs no more, and it keeps the step cheap. What counts as a sheet:
PAGE_SIDE = 128
PAGE_SHARE = (0.10, 0.92)  # of the image: a sheet on a desk, not paper filling the frame
PAGE_MIN_CONTRAST = 0.15  # paper over desk (medians, 0-1 scale)
PAGE_MAX_HOLES = 0.1  # share of the sheet's area taken by what lies on it (ink, not a "0")
PAGE_MIN_SHARP = 0.75  # share of its outline that is a sharp step (not a shadow's soft edge)
PAGE_MIN_SOME_SHARP = 0.3  # a first look: some of the bright region's outline is that sharp
PAGE_MIN_HULL_SHARP = 0.6  # the same along its convex hull (which crosses a hand's bite)
PAGE_MIN_SOLIDITY = 0.88  # its area over its convex hull's (a hand may bite into it)
PAGE_MIN_RECTANGULAR = 0.85  # its hull's area over the smallest rotated box around it
PAGE_LIGHT_WINDOW = 41  # lighting varies over this many pixels on a sheet; a hand, faster
PAGE_EDGE = 0.06  # the band along its edge dropped (shading, spiral holes), of its size
PAGE_MAX_OVERLAP = 0.15  # a clip or a hand over its edge covers at most this much of it


@dataclass(frozen=True)
class Step:
    """One step of the pipeline: ``title`` names its picture on the Recognise page."""

    title: str
    what: str


PIPELINE = (
    Step("Decoded (grey)",
         "decode safely (`imageio.py`): the file's structure and pixel count are checked "
         "before any pixel is decoded; EXIF orientation applied; transparency flattened onto "
         "the right background; an animated GIF gives its first frame, other multi-frame files "
         f"are refused; then work at most {WORKING_SIDE} px on the long side"),
    Step("Page found",
         "find the sheet of paper when the photo shows one lying on a darker desk, lap or "
         "clipboard (the largest bright region that looks like a sheet: straight, steep edges, "
         "evenly lit) and paint everything off it in the paper's shade, so the sheet's outline "
         "is not kept as ink; most images have no such sheet and skip this"),
    Step("Ink made white",
         "find the polarity (ink darker or lighter than the paper?) and make the ink white"),
    Step("Background removed",
         "subtract a coarse background estimate (grey opening): shadows, lighting gradients "
         "and tinted paper go"),
    Step("Digit found",
         "threshold relative to the noise and the ink's contrast, keep the digit's connected "
         f"pieces, drop specks (under {MIN_DIGIT_SIDE} px across) and border artefacts "
         "(scanner edges, paper edges)"),
    Step("Cropped", "crop the digit with a small margin"),
    Step("Binarised finely",
         f"binarise it at {FINE_SIDE} px, as NIST's digits were binary; a tiny upload (a coarse "
         f"8x8 to {SMALL_UPLOAD_SIDE}x{SMALL_UPLOAD_SIDE} scan) keeps its grey levels instead: "
         "at that size they *are* the shape"),
    Step("Stroke width normalised",
         "pull its stroke width into MNIST's range (thin pens, thick markers)"),
    Step(f"Fitted in {MNIST_BOX}x{MNIST_BOX}",
         f"fit it into {MNIST_BOX}x{MNIST_BOX} keeping its aspect ratio, with area resampling "
         "(MNIST's anti-aliasing)"),
    Step(f"Centred by mass in {MNIST_SIDE}x{MNIST_SIDE}",
         f"centre it by centre of mass in {MNIST_SIDE}x{MNIST_SIDE}"),
)  # fmt: skip
(DECODED, PAGE_FOUND, INK_WHITE, BACKGROUND_REMOVED, DIGIT_FOUND, CROPPED, BINARISED,
 STROKE_NORMALISED, FITTED, CENTRED) = (step.title for step in PIPELINE)  # fmt: skip


def describe_pipeline() -> str:
    """The pipeline's steps as a numbered Markdown list."""
    return "\n".join(f"{i}. {step.what};" for i, step in enumerate(PIPELINE, 1))[:-1] + "."


def is_parameter(value) -> bool:
    if isinstance(value, tuple):
        return all(isinstance(v, int | float) for v in value)
    return isinstance(value, int | float | str)


def pipeline_version() -> str:
    """A fingerprint of the pipeline: a hash of its steps and of every parameter of this
    module (its upper-case constants). A model trained on pipeline-rendered digits records
    it; a model loaded under another version warns (``digitlab.models.torchnet``)."""
    parameters = {k: v for k, v in sorted(globals().items())
                  if k.isupper() and is_parameter(v)}  # fmt: skip
    text = json.dumps([parameters, [step.title for step in PIPELINE]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Preprocessed:
    """The pipeline's result with its intermediate images (title, 2-D array) in order.

    ``bbox`` is (x0, y0, x1, y1) of the digit in the decoded input's full-resolution pixels.
    """

    image: np.ndarray
    steps: list[tuple[str, np.ndarray]]
    bbox: Box


@dataclass(frozen=True)
class InkMap:
    """The first half of the pipeline: the upload as bright ink on a flat black background.

    ``page`` is the working image with everything off the sheet of paper made paper-coloured
    (``working`` itself when there is no such sheet); ``candidates`` marks pixels bright enough
    to be ink; ``to_input`` converts working pixels to the decoded input's pixels; ``coarse``
    says the upload was tiny (a low-resolution scan).
    """

    working: np.ndarray
    page: np.ndarray
    white_on_black: np.ndarray
    foreground: np.ndarray
    candidates: np.ndarray
    to_input: float
    coarse: bool = False


def preprocess(image: ImageSource, steps: bool = False) -> np.ndarray | Preprocessed:
    """Turn any upload into an MNIST-like float32 [28, 28] image in [0, 1], white on black.

    Raises ``ImageError`` for unusable input and ``NoDigitError`` when no digit is visible.
    """
    ink = find_ink(image)
    digit_mask = find_digit_components(ink.candidates, ink.foreground)
    box = scale_box(mask_box(digit_mask), ink.to_input)
    if max(box[2] - box[0], box[3] - box[1]) < MIN_DIGIT_SIDE:
        raise NoDigitError(NO_DIGIT)
    result, digit_steps = render_digit(ink.foreground, digit_mask, coarse=ink.coarse)
    if not steps:
        return result
    shown = [
        (DECODED, ink.working),
        (PAGE_FOUND, ink.page),
        (INK_WHITE, ink.white_on_black),
        (BACKGROUND_REMOVED, ink.foreground),
        (DIGIT_FOUND, digit_mask.astype(np.uint8) * 255),
        *digit_steps,
    ]
    return Preprocessed(result, shown, box)


def naive_preprocess(image: ImageSource) -> np.ndarray:
    """The baseline: grey, resize the whole image to 28x28, scale to [0, 1]; no inversion."""
    grey = decode_image(image).grey
    return resize(grey, MNIST_SIDE, MNIST_SIDE, Image.BILINEAR)


# ---------------------------------------------------------------------------------------------
# First half: from an upload to bright ink on black


def find_ink(image: ImageSource) -> InkMap:
    """Decode, bring to working size, make ink white and remove the background."""
    decoded = decode_image(image, max_side=WORKING_SIDE)
    grey, block = undo_pixel_replication(decoded.grey)
    small_upload = max(grey.shape) <= SMALL_UPLOAD_SIDE
    working, factor = to_working_size(grey)
    page = working if small_upload else isolate_page(working)
    # Writing on a sheet found lying on a desk is darker than the sheet.
    white = to_white_on_black(page, page is not working or detect_ink_is_dark(page))
    foreground = remove_flat_background(white) if small_upload else remove_background(white)
    candidates = threshold_ink(foreground)
    to_input = factor * block * decoded.scale
    return InkMap(working, page, white, foreground, candidates, to_input, coarse=small_upload)


def undo_pixel_replication(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """Shrink an image enlarged by pixel replication (a blocky 8x8 scan) back to its pixels.

    Returns the image and the block size (1 when the image is not blocky).
    """
    height, width = grey.shape
    for block in (32, 16, 8, 4, 2):
        if height % block or width % block or min(height, width) // block < 8:
            continue
        pixels = grey[block // 2 :: block, block // 2 :: block]
        blocky = np.repeat(np.repeat(pixels, block, axis=0), block, axis=1)
        deviation = np.abs(blocky - grey)
        within = deviation.mean()
        # Blocky means flat inside *every* block (a drawing's sharp strokes are not) *and*
        # sharp steps between some blocks (a smooth, blurred photo has none).
        if within >= 0.01 or np.count_nonzero(deviation >= 0.2) > 0.001 * deviation.size:
            continue
        steps = np.concatenate([np.abs(np.diff(pixels, axis=0)).ravel(),
                                np.abs(np.diff(pixels, axis=1)).ravel()])  # fmt: skip
        if within < 0.05 * np.percentile(steps, 99):
            return pixels, block
    return grey, 1


def remove_flat_background(image: np.ndarray) -> np.ndarray:
    """Subtract a constant background: a tiny upload has no lighting to flatten, and its
    strokes are too wide for ``remove_background``'s window."""
    return np.clip(image - np.percentile(image, 10), 0.0, 1.0).astype(np.float32)


def resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """Resize a float image with PIL (mode F keeps full precision)."""
    resized = Image.fromarray(image.astype(np.float32, copy=False), "F").resize(
        (max(width, 1), max(height, 1)), resample
    )
    return np.asarray(resized, dtype=np.float32)


def to_working_size(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrink (area average) to ``WORKING_SIDE`` or enlarge (bicubic) to ``MIN_WORKING_SIDE``.

    Returns the image and the number of input pixels per working pixel.
    """
    long_side = max(grey.shape)
    if MIN_WORKING_SIDE <= long_side <= WORKING_SIDE:
        return grey.astype(np.float32, copy=False), 1.0
    target = WORKING_SIDE if long_side > WORKING_SIDE else MIN_WORKING_SIDE
    factor = long_side / target
    height = max(round(grey.shape[0] / factor), 1)
    width = max(round(grey.shape[1] / factor), 1)
    resample = Image.BOX if factor > 1 else Image.BICUBIC
    return np.clip(resize(grey, height, width, resample), 0.0, 1.0), factor


def detect_ink_is_dark(grey: np.ndarray) -> bool:
    """True when the ink is darker than the paper.

    The image's edge is usually bare paper; when its shade is ambiguous, paper is taken as the
    dominant shade: a coarse median follows it under lighting changes (and, unlike
    a blur, is not pulled towards the ink), so ink is whichever side of it holds more contrast
    beyond the noise. This holds for thin
    pens on big sheets as for 8x8 scans whose ink covers half the pixels.
    """
    small = shrink(grey, 128)
    border_says = border_shade_is_light(small)
    if border_says is not None:
        return border_says
    tiny = shrink(grey, 32)
    paper = ndi.median_filter(tiny, size=max(3, max(tiny.shape) // 3), mode="nearest")
    deviation = small - resize(paper, small.shape[0], small.shape[1], Image.BILINEAR)
    noise = 1.4826 * np.median(np.abs(deviation - np.median(deviation)))
    margin = 3.0 * noise + 0.02
    dark = np.clip(-deviation - margin, 0.0, None).sum()
    light = np.clip(deviation - margin, 0.0, None).sum()
    return bool(dark >= light)


def border_shade_is_light(image: np.ndarray) -> bool | None:
    """Whether the image's edge (usually paper) is clearly the light or the dark extreme.

    None when the edge's shade is ambiguous (shadows, ink crossing the edge).
    """
    low, high = np.percentile(image, [1, 99])
    if high - low < MIN_INK_CONTRAST:
        return None
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    position = (np.median(edge) - low) / (high - low)
    return None if 0.2 < position < 0.8 else bool(position >= 0.8)


def shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average ``image`` down so that its long side is at most ``long_side``."""
    factor = max(image.shape) / long_side
    if factor <= 1:
        return image
    height, width = (max(round(s / factor), 1) for s in image.shape)
    return resize(image, height, width, Image.BOX)


def to_white_on_black(grey: np.ndarray, ink_is_dark: bool) -> np.ndarray:
    """Invert dark-ink images so that ink is bright on a dark background, as in MNIST."""
    return (1.0 - grey).astype(np.float32) if ink_is_dark else grey


def remove_background(image: np.ndarray) -> np.ndarray:
    """Subtract a smooth estimate of the (dark) background: lighting gradients, shadows, tint.

    The estimate is a grey opening on a coarse copy: it erases bright things narrower than its
    window (strokes) and keeps what varies slowly (light, paper). The window is a fifth of the
    image, or wider when a first look finds a big digit whose strokes are wider than that.
    """
    coarse = shrink(image, 64)
    long_side = max(coarse.shape)
    size = opening_size(coarse, max(3, round(long_side / 5)))
    opened = ndi.grey_opening(coarse, size=(size, size), mode="nearest")
    smooth = ndi.uniform_filter(opened, size=max(3, size // 2), mode="nearest")
    # Smoothing blurs the edge of a sharp shadow and would leave a bright band beside it that
    # can swallow a digit: never go below the opening itself, nor above the image's local min.
    background = np.maximum(smooth, opened)
    background = np.minimum(background, ndi.grey_erosion(coarse, size=(3, 3), mode="nearest"))
    if background.shape != image.shape:
        background = resize(background, image.shape[0], image.shape[1], Image.BILINEAR)
    return np.clip(image - background, 0.0, 1.0).astype(np.float32)


def opening_size(coarse: np.ndarray, size: int) -> int:
    """Widen the opening window to 40% of the biggest ink blob's extent, if that is larger."""
    ink = coarse - ndi.grey_opening(coarse, size=(size, size), mode="nearest")
    if ink.max() <= MIN_INK_CONTRAST:
        return size
    labels, count = ndi.label(ink > 0.5 * ink.max())
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = ndi.find_objects(labels)[int(np.argmax(sizes))]
    extent = max(rows.stop - rows.start, cols.stop - cols.start)
    return max(size, round(0.4 * extent) + 1)


def threshold_ink(foreground: np.ndarray) -> np.ndarray:
    """Pixels that may be ink: above the noise and above 30% of the ink's peak contrast.

    The noise is measured on differences of neighbouring pixels, which ignore the ink however
    much of the image it covers.
    """
    noise = 1.4826 / np.sqrt(2) * np.median(np.abs(np.diff(foreground, axis=1)))
    peak = float(ndi.uniform_filter(foreground, size=2).max())
    if peak < MIN_INK_CONTRAST or peak < 8 * noise:
        return np.zeros(foreground.shape, bool)
    level = max(0.3 * peak, 5 * noise + np.median(foreground))
    return foreground > level


# ---------------------------------------------------------------------------------------------
# A sheet of paper lying on a desk


def isolate_page(grey: np.ndarray) -> np.ndarray:
    """Make everything off the sheet of paper (desk, hand, clip) and its edge paper-coloured.

    A photo of a sheet on a darker desk would otherwise keep the sheet's outline as ink, a box
    around the digit. Off the sheet, each pixel takes the paper shade of the nearest point
    inside it, so no step is left where the sheet ended. Returns ``grey`` itself when there
    is no such sheet (``find_page``).
    """
    page = find_page(grey)
    if page is None:
        return grey
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
    if not PAGE_SHARE[0] <= area / page.size <= PAGE_SHARE[1]:
        return False
    contrast = contrast_around(copy.paper, page)
    holes = page & ~region
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


# ---------------------------------------------------------------------------------------------
# Finding the digit among the candidate pixels


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


def mask_box(mask: np.ndarray) -> Box:
    """(x0, y0, x1, y1) of the True pixels, end exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scale_box(box: Box, factor: float) -> Box:
    """A box in working pixels converted to input pixels."""
    return tuple(int(round(v * factor)) for v in box)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Second half: from the digit's pixels to an MNIST digit


def render_digit(
    foreground: np.ndarray, digit_mask: np.ndarray, coarse: bool = False
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Crop, binarise finely, normalise the stroke, fit 20x20 and centre; also the steps.

    A ``coarse`` upload (an 8x8 to 64x64 scan) is not binarised: at that resolution its grey
    levels *are* the shape (a 9's small loop is one darker pixel), and a threshold would
    erase them. Its soft crop is fitted and centred as it is.
    """
    crop = crop_digit(foreground, digit_mask)
    if coarse:
        fitted = fit_20x20_soft(crop)
        centred = center_by_mass(fitted)
        return centred, [(CROPPED, crop), (FITTED, fitted), (CENTRED, centred)]
    shape = binarise_fine(crop)
    if not shape.any():
        raise NoDigitError(NO_DIGIT)
    stroked = normalise_stroke_width(shape)
    fitted = fit_20x20(stroked)
    centred = center_by_mass(fitted)
    steps = [
        (CROPPED, crop),
        (BINARISED, shape.astype(np.uint8) * 255),
        (STROKE_NORMALISED, stroked.astype(np.uint8) * 255),
        (FITTED, fitted),
        (CENTRED, centred),
    ]
    return centred, steps


def fit_20x20_soft(crop: np.ndarray) -> np.ndarray:
    """Scale a grey crop (ink brighter) so its ink's box fits 20x20, aspect kept, max 1."""
    peak = float(crop.max())
    if peak <= 0:
        raise NoDigitError(NO_DIGIT)
    grey = crop / peak
    x0, y0, x1, y1 = mask_box(grey > 0.25)  # the box of the ink, not of its faint halo
    fitted = long_side_to_20(grey[y0:y1, x0:x1])
    return fitted / max(float(fitted.max()), 1e-6)


def crop_digit(foreground: np.ndarray, digit_mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """The digit's ink (with its soft edges, nothing else) cut to its box plus ``margin``."""
    grown = ndi.maximum_filter(digit_mask.view(np.uint8), size=2 * margin + 1) > 0
    x0, y0, x1, y1 = mask_box(grown)
    return np.where(grown, foreground, 0.0)[y0:y1, x0:x1].astype(np.float32)


def binarise_fine(crop: np.ndarray) -> np.ndarray:
    """Resample the crop to ``FINE_SIDE`` on its long side and cut at half the ink's contrast.

    Half the stroke's peak is where a blurred edge really is, so widths survive blur; the
    binary shape is then anti-aliased again by ``fit_20x20`` as NIST's were.
    """
    factor = FINE_SIDE / max(crop.shape)
    height = max(round(crop.shape[0] * factor), 1)
    width = max(round(crop.shape[1] * factor), 1)
    resample = Image.BOX if factor < 1 else Image.BILINEAR
    fine = ndi.gaussian_filter(resize(crop, height, width, resample), sigma=FINE_SIDE / 60)
    ink = fine[fine > 0.2 * fine.max()]
    if ink.size == 0:
        return np.zeros(fine.shape, bool)
    return fine > 0.5 * float(np.percentile(ink, 90))


def stroke_width(shape: np.ndarray) -> float:
    """Typical stroke width of a binary digit, in pixels of its MNIST 20x20 frame.

    Twice the distance-to-background along the stroke's ridge (the medial axis), median.
    """
    if not shape.any():
        return 0.0
    distance = ndi.distance_transform_edt(np.pad(shape, 1))[1:-1, 1:-1]
    ridge = shape & (distance >= ndi.maximum_filter(distance, size=3))
    x0, y0, x1, y1 = mask_box(shape)
    return float(2 * np.median(distance[ridge]) * MNIST_BOX / max(x1 - x0, y1 - y0))


def normalise_stroke_width(shape: np.ndarray) -> np.ndarray:
    """Thicken thin-pen digits and thin marker digits into MNIST's range of stroke widths.

    Widths already within MNIST's range are left alone (they are what the models learnt).
    """
    width = stroke_width(shape)
    low, high = MNIST_STROKE_RANGE
    if low <= width <= high:
        return shape
    x0, y0, x1, y1 = mask_box(shape)
    per_frame_px = max(x1 - x0, y1 - y0) / MNIST_BOX
    change = ((low if width < low else high) - width) / 2 * per_frame_px
    pad = int(np.ceil(abs(change))) + 1
    padded = np.pad(shape, pad)
    if change > 0:
        return ndi.distance_transform_edt(~padded) <= change
    thinned = ndi.distance_transform_edt(padded) > -change
    return thinned if thinned.sum() >= 0.3 * shape.sum() else padded


def fit_20x20(shape: np.ndarray) -> np.ndarray:
    """Scale the digit's box so its long side is 20 pixels, aspect kept, by area averaging.

    Area averaging of a fine binary shape gives the same grey, anti-aliased edges as MNIST.
    """
    x0, y0, x1, y1 = mask_box(shape)
    return long_side_to_20(shape[y0:y1, x0:x1].astype(np.float32))


def long_side_to_20(tight: np.ndarray) -> np.ndarray:
    """A crop tight around its ink, scaled so its long side is 20 pixels, aspect kept, by
    area averaging (MNIST's anti-aliasing), in [0, 1]."""
    factor = MNIST_BOX / max(tight.shape)
    height = min(max(round(tight.shape[0] * factor), 1), MNIST_BOX)
    width = min(max(round(tight.shape[1] * factor), 1), MNIST_BOX)
    return np.clip(resize(tight, height, width, Image.BOX), 0.0, 1.0)


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in a 28x28 field with its centre of mass at the centre, as MNIST did.

    Centring by mass rather than by box puts the visual weight where models expect it (a 7's
    mass sits high and right of its box centre). The shift is whole pixels, as in MNIST, and
    never pushes ink off the field.
    """
    height, width = digit.shape
    total = digit.sum()
    cy, cx = ndi.center_of_mass(digit) if total > 0 else ((height - 1) / 2, (width - 1) / 2)
    top = int(np.clip(round(MNIST_SIDE / 2 - cy), 0, MNIST_SIDE - height))
    left = int(np.clip(round(MNIST_SIDE / 2 - cx), 0, MNIST_SIDE - width))
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    field[top : top + height, left : left + width] = digit
    return field
