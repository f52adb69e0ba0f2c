"""Safe decoding of whatever people upload into one grey image.

Every input (a path, raw bytes, a PIL image or a numpy array) becomes a float32 grey image
in [0, 1], with transparency already flattened and EXIF orientation applied. Polarity is left
as uploaded: deciding what is ink is the pipeline's job (``digitlab.preprocess``).

Untrusted files are opened defensively:

* at most ``MAX_FILE_BYTES`` are read, and the pixel count is checked from the *header*
  before any pixel is decoded, so a 30000x30000 PNG bomb costs nothing;
* absurd shapes (thinner than ``MIN_SIDE`` pixels, or more than ``MAX_ASPECT`` times longer
  than wide) are refused;
* a GIF with several frames is read from its first frame, as the issue asks ("GIF (first
  frame)"): animated GIFs are common stickers whose first frame is the drawing. Every other
  multi-frame file (animated PNG or WebP, multi-page TIFF) is refused, because which page or
  frame holds the digit would be a guess;
* any error the decoder raises becomes one ``ImageError`` sentence.

``decode_image`` can also decode large JPEGs at a reduced size (JPEG draft mode) and reports
the scale back to the original pixel grid, which keeps preprocessing of phone photos fast while
boxes stay in the coordinates of the full image.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from digitlab.errors import ImageError
from digitlab.imaging.filestructure import CORRUPT, check_structure, too_large

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
MAX_ASPECT = 20.0
EXIF_ORIENTATION = 0x0112
CHUNK_PIXELS = 1 << 20  # values converted at a time from wide integers and floats
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")

NOT_AN_IMAGE = "This file is not an image we can read (PNG, JPEG, WebP, BMP, GIF or TIFF)."
TOO_LARGE_FILE = "This file is too large (over 50 MB) to be a digit image."
TOO_MANY_PIXELS = "This image is too large (over 40 megapixels) to be a digit image."
MULTI_FRAME = "This file is animated or has several pages; upload a single image."

# Transparent pixels darker than BLACK carry no colour (RGBA's default 0,0,0,0); brighter
# ones that differ by OWN_COLOUR_CONTRAST from the opaque ink are the page's own colour.
BLACK = 0.05
OWN_COLOUR_CONTRAST = 0.25

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray


@dataclass(frozen=True)
class DecodedImage:
    """A decoded upload: ``grey`` float32 [H, W] in [0, 1], alpha flattened, EXIF applied.

    ``scale`` is the number of original pixels per pixel of ``grey`` (1.0 unless the file was
    decoded at reduced size); ``original_size`` is (width, height) of the full image.
    """

    grey: np.ndarray
    scale: float
    original_size: tuple[int, int]


def decode_image(source: ImageSource, max_side: int | None = None) -> DecodedImage:
    """Decode ``source``; with ``max_side``, JPEGs may be decoded at reduced size (draft mode)."""
    if isinstance(source, np.ndarray):
        grey = array_to_grey(source)
        return DecodedImage(grey, 1.0, (grey.shape[1], grey.shape[0]))
    image, scale, full_size = open_checked(source, max_side)
    # Our own code runs outside the decoder's net, so a bug of ours surfaces, not "damaged".
    return DecodedImage(pil_to_grey(image), scale, full_size)


def open_checked(
    source: ImageSource, max_side: int | None = None
) -> tuple[Image.Image, float, tuple[int, int]]:
    """Pillow's decode of ``source`` (not an array) inside every check and one-sentence
    ``ImageError``: the image (EXIF-oriented, every pixel loaded, in its own mode, for display
    too), its scale and its full size, as ``decoded_pil`` gives them."""
    data = None if isinstance(source, Image.Image) else read_source_bytes(source)
    if data is not None:
        check_structure(data, MAX_PIXELS)  # pathological files are refused before any decoding
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = source if data is None else Image.open(io.BytesIO(data), formats=FORMATS)
            refuse_multi_frame(image)
            check_size(*image.size)
            return decoded_pil(image, max_side)
    except ImageError:
        raise
    except Image.UnidentifiedImageError as err:
        raise ImageError(NOT_AN_IMAGE) from err
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(TOO_MANY_PIXELS) from err
    except Exception as err:  # Pillow on untrusted bytes raises many types: one sentence
        raise ImageError(CORRUPT) from err


def read_source_bytes(source: object) -> bytes:
    """The raw bytes of a path or bytes-like ``source``, refusing empty and oversized files."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        data = read_image_file(source)
    else:
        raise ImageError("Give an image as a path, bytes, a PIL image or a numpy array.")
    if not data:
        raise ImageError("This file is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(TOO_LARGE_FILE)
    return data


def read_image_file(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most ``limit`` of them read; never blocks.

    A named pipe, a device (``/dev/zero``) or a folder is refused with one sentence, before
    anything is read; a file is read up to ``limit`` plus one byte, whatever its size claims.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError("This file does not exist.") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the name
        reason = getattr(err, "strerror", None) or "not a valid file name"
        raise ImageError(f"Cannot read this file ({reason}).") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ImageError("This is a folder, not an image file.")
        raise ImageError("This is not a regular file (a pipe or a device?).")
    with os.fdopen(fd, "rb") as file:
        try:
            data = file.read(limit + 1)
        except OSError as err:
            raise ImageError(f"Cannot read this file ({err.strerror or err}).") from None
    if len(data) > limit:
        raise ImageError(TOO_LARGE_FILE)
    return data


def read_standard_input(limit: int = MAX_FILE_BYTES) -> bytes:
    """At most ``limit`` bytes of an image piped to standard input (never a terminal)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise ImageError("No image on standard input: pipe one in, or name a file.")
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise ImageError(TOO_LARGE_FILE)
    return data


def check_size(width: int, height: int) -> None:
    """Refuse pixel counts and shapes no digit photo has, before decoding any pixel."""
    if width * height > MAX_PIXELS:
        raise ImageError(too_large(width, height, MAX_PIXELS))
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"This image is too small ({width}x{height}); we need at least 8x8.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"This image's shape ({width}x{height}) is too elongated for digits.")


def refuse_multi_frame(image: Image.Image) -> None:
    """Refuse animated and multi-page images, except GIF whose first frame we read.

    ``is_animated`` is read from the header or by looking for a second frame; ``n_frames``
    would walk every frame (a GIF of millions of frames, a TIFF of 100,000 pages).
    """
    if image.format == "GIF":
        if image.tell() != 0:
            image.seek(0)
        return
    if getattr(image, "is_animated", False):
        raise ImageError(MULTI_FRAME)


def decoded_pil(
    image: Image.Image, max_side: int | None
) -> tuple[Image.Image, float, tuple[int, int]]:
    """Pillow's part: decode (reduced when big), orient by EXIF; the image, its scale (original
    pixels per decoded pixel) and its full size (width, height) after orientation."""
    full_width, full_height = image.size
    if max_side is not None and image.format == "JPEG" and image.mode in ("RGB", "L"):
        shrink = max_side / max(image.size)  # decode only luma, at 1/2, 1/4 or 1/8 size
        image.draft("L", (int(image.size[0] * shrink) + 1, int(image.size[1] * shrink) + 1))
    elif max_side is not None and max(image.size) >= 2 * max_side:
        image = reduce_early(image, max(image.size) // max_side)
    scale = full_width / image.size[0]
    if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):  # quarter turns swap sides
        full_width, full_height = full_height, full_width
    image = ImageOps.exif_transpose(image)
    image.load()  # every pixel decoded here, inside the caller's net for decoder errors
    return image, scale, (full_width, full_height)


def reduce_early(image: Image.Image, factor: int) -> Image.Image:
    """Box-average a big image by an integer ``factor`` before any further work."""
    if image.mode.startswith("I") or image.mode == "F":
        # 16/32-bit greys: converting to RGB would clip them, and Pillow's own reduce overflows
        # on 32-bit integers: reduce their float grey instead.
        return Image.fromarray(box_reduce(pil_to_grey(image), factor), "F")
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.reduce(factor)


def box_reduce(grey: np.ndarray, factor: int) -> np.ndarray:
    """``grey`` [H, W] averaged over ``factor``x``factor`` boxes (partial ones at the edges, as
    Pillow's ``reduce``), a band of rows at a time."""
    height, width = grey.shape
    row_starts, col_starts = np.arange(0, height, factor), np.arange(0, width, factor)
    sums = np.empty((len(row_starts), len(col_starts)), np.float32)
    step = max(1, CHUNK_PIXELS // (width * factor))  # output rows per band
    for first in range(0, len(row_starts), step):
        band = grey[first * factor : (first + step) * factor]
        rows = np.add.reduceat(band, np.arange(0, len(band), factor), axis=0)
        sums[first : first + step] = np.add.reduceat(rows, col_starts, axis=1)
    counts = np.outer(np.diff(row_starts, append=height), np.diff(col_starts, append=width))
    return sums / counts.astype(np.float32)


def pil_to_grey(image: Image.Image) -> np.ndarray:
    """Grey float32 [H, W] in [0, 1] from any PIL mode, transparency flattened."""
    if image.mode in ("La", "RGBa"):  # premultiplied alpha: un-premultiply first
        image = image.convert(image.mode.upper())
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit, int32 or float32 greys, read as arrays are, a band of rows at a time: no
        # full-size copy of the image exists besides the result.
        def band(rows: slice) -> np.ndarray:
            return np.asarray(image.crop((0, rows.start, image.width, rows.stop)))

        return values_01(band, (image.height, image.width), band(slice(0, 1)).dtype)
    has_alpha = "A" in mode or "a" in mode or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return flatten_alpha(rgb_to_grey(rgba[..., :3]), rgba[..., 3])
    if mode == "L":
        return np.asarray(image, dtype=np.float32) / 255.0
    try:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except ValueError as err:  # a mode Pillow cannot turn into grey
        raise ImageError(f"Cannot read an image in colour mode {mode!r}.") from err


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of a float RGB array [H, W, 3] (the weights PIL uses for mode L)."""
    return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def flatten_alpha(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``grey`` with ``alpha`` onto the background that makes the ink visible.

    When the transparent pixels carry a colour of their own that differs from the opaque
    ones (palette art whose white paper is the transparent entry), that colour is the page the
    drawing was made on. Otherwise a drawing canvas has exported strokes as opaque pixels on a
    transparent background of the same colour or of black, so the ink lives in the alpha
    channel: when only a minority of pixels is opaque, they are the ink and are composited
    onto the opposite shade; else the opaque picture is the paper and transparency is filled
    with its median shade.
    """
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    opaque = alpha > 0.5
    if opaque.all():
        return grey.astype(np.float32)
    if not opaque.any():
        return np.zeros_like(grey, dtype=np.float32)  # fully transparent: blank
    clear_shade = float(np.median(grey[~opaque]))
    opaque_shade = float(np.average(grey[opaque], weights=alpha[opaque]))
    if clear_shade > BLACK and abs(clear_shade - opaque_shade) > OWN_COLOUR_CONTRAST:
        background = clear_shade
    elif opaque.mean() < 0.5:
        ink_shade = float(np.average(grey, weights=alpha))
        background = 1.0 if ink_shade < 0.5 else 0.0
    else:
        background = float(np.median(grey[opaque]))
    return (grey * alpha + background * (1.0 - alpha)).astype(np.float32)


def array_to_grey(array: np.ndarray) -> np.ndarray:
    """Grey float32 [H, W] in [0, 1] from a numpy image: [H,W], [H,W,1|2|3|4], any dtype.

    Floats are read as [0, 1] when their maximum is at most 1, else as [0, 255]; 16-bit
    integers as [0, 65535]; two or four channels carry alpha, flattened as for files.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        channels = array.shape[2]
    elif array.ndim == 2:
        channels = 0
    else:
        raise ImageError("An image array must be [H, W] or [H, W, C] with 1 to 4 channels.")
    check_size(array.shape[1], array.shape[0])
    values = array_values_01(array)
    if channels == 0:
        return values
    grey = values[..., 0] if channels in (1, 2) else rgb_to_grey(values[..., :3])
    if channels in (2, 4):
        return flatten_alpha(grey, values[..., -1])
    return np.ascontiguousarray(grey, dtype=np.float32)


def array_values_01(array: np.ndarray) -> np.ndarray:
    """The array's values as float32 in [0, 1] (see ``values_01``)."""
    return values_01(lambda rows: array[rows], array.shape, array.dtype)


def values_01(
    band: Callable[[slice], np.ndarray], shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """An image's values as float32 in [0, 1], read through ``band(rows)``, which gives the
    values of a band of rows in ``dtype``.

    8- and 16-bit integers by their dtype's range (a 16-bit container holding 8-bit values is
    read as 8-bit); floats in [0, 1] as they are and floats in [0, 255] as 8-bit; anything
    else (32- or 64-bit integers, negative or larger values) by its actual range. The work is
    done a band at a time, so a 40-megapixel float or int32 image needs its float32 result and
    a few MB more, never full-size float64 copies.
    """
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.concatenate([band(rows) for rows in row_bands(shape)]).astype(np.float32)
    integer = np.issubdtype(dtype, np.integer)
    if not integer and not np.issubdtype(dtype, np.floating):
        raise ImageError(f"Cannot read an image array of type {dtype}.")
    low, high = float("inf"), float("-inf")
    for rows in row_bands(shape):
        values = band(rows)
        if not integer and not np.isfinite(values).all():
            raise ImageError("This image array contains NaN or infinite values.")
        low, high = min(low, float(values.min())), max(high, float(values.max()))
    if low >= 0 and high <= (255 if integer else 1.0):
        offset, span = 0.0, 255.0 if integer else 1.0
    elif integer and dtype.kind == "u" and dtype.itemsize == 2:
        offset, span = 0.0, 65535.0
    elif not integer and low >= 0 and high <= 255.0:
        offset, span = 0.0, 255.0
    else:
        offset, span = low, high - low  # by its own range; all 0 when flat
    grey = np.zeros(shape, np.float32)
    if span > 0:
        for rows in row_bands(shape):
            grey[rows] = scaled(band(rows), offset, span)
    return grey


def scaled(values: np.ndarray, offset: float, span: float) -> np.ndarray:
    """``(values - offset) / span`` in float64, in place on one copy."""
    values = values.astype(np.float64)
    values -= offset
    values /= span
    return values


def row_bands(shape: tuple[int, ...]) -> list[slice]:
    """Bands of whole rows of an image of ``shape``, each of about ``CHUNK_PIXELS`` values."""
    per_row = max(1, int(np.prod(shape[1:])))
    step = max(1, CHUNK_PIXELS // per_row)
    return [slice(top, min(top + step, shape[0])) for top in range(0, shape[0], step)]
