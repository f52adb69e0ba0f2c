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
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from digitlab.errors import ImageError

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 40_000_000
MIN_SIDE = 8
MAX_ASPECT = 20.0
EXIF_ORIENTATION = 0x0112
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF")

NOT_AN_IMAGE = "This file is not an image we can read (PNG, JPEG, WebP, BMP, GIF or TIFF)."
CORRUPT = "This image file is damaged or truncated, so it cannot be decoded."

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


def load_image(source: ImageSource) -> np.ndarray:
    """Decode ``source`` into a float32 grey image [H, W] in [0, 1] at full resolution.

    Raises ``ImageError`` (one sentence) for anything that is not a usable image.
    """
    return decode_image(source).grey


def decode_image(source: ImageSource, max_side: int | None = None) -> DecodedImage:
    """Decode ``source``; with ``max_side``, JPEGs may be decoded at reduced size (draft mode)."""
    if isinstance(source, np.ndarray):
        grey = array_to_grey(source)
        return DecodedImage(grey, 1.0, (grey.shape[1], grey.shape[0]))
    data = None if isinstance(source, Image.Image) else read_source_bytes(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if data is None:
                return decode_pil(source, max_side)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            refuse_multi_frame(image)
            return decode_pil(image, max_side)
    except ImageError:
        raise
    except Image.UnidentifiedImageError as err:
        raise ImageError(NOT_AN_IMAGE) from err
    except Exception as err:  # untrusted bytes: any decoder failure is one clear sentence
        raise ImageError(CORRUPT) from err


def read_source_bytes(source: object) -> bytes:
    """The raw bytes of a path or bytes-like ``source``, refusing empty and oversized files."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ImageError("This file is too large (over 50 MB) to be a digit image.")
            data = path.read_bytes()
        except OSError as err:
            raise ImageError(f"Cannot read the file {path.name!r}.") from err
    else:
        raise ImageError("Give an image as a path, bytes, a PIL image or a numpy array.")
    if not data:
        raise ImageError("This file is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError("This file is too large (over 50 MB) to be a digit image.")
    return data


def check_size(width: int, height: int) -> None:
    """Refuse pixel counts and shapes no digit photo has, before decoding any pixel."""
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"This image is too large ({width}x{height} pixels; the limit is 40 megapixels)."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"This image is too small ({width}x{height}); we need at least 8x8.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"This image's shape ({width}x{height}) is too elongated for digits.")


def refuse_multi_frame(image: Image.Image) -> None:
    """Refuse animated and multi-page files, except GIF whose first frame we read."""
    if getattr(image, "n_frames", 1) > 1:
        if image.format == "GIF":
            image.seek(0)
            return
        raise ImageError("This file is animated or has several pages; upload a single image.")


def decode_pil(image: Image.Image, max_side: int | None) -> DecodedImage:
    """Check, orient and flatten one PIL image into a ``DecodedImage``."""
    check_size(*image.size)
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
    grey = pil_to_grey(image)
    return DecodedImage(grey, scale, (full_width, full_height))


def reduce_early(image: Image.Image, factor: int) -> Image.Image:
    """Box-average a big image by an integer ``factor`` before any further work."""
    if image.mode.startswith("I") or image.mode == "F":
        # 16/32-bit greys: converting to RGB would clip them; reduce their float grey instead.
        grey = Image.fromarray(pil_to_grey(image), "F")
        return grey.reduce(factor)
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.reduce(factor)


def pil_to_grey(image: Image.Image) -> np.ndarray:
    """Grey float32 [H, W] in [0, 1] from any PIL mode, transparency flattened."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        # 8-bit greys are often saved in a 16-bit container unscaled: judge by the values.
        values = np.asarray(image, dtype=np.float32)
        return values / (65535.0 if values.max(initial=0) > 255 else 255.0)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        return array_to_grey(values)
    has_alpha = "A" in mode or "a" in mode or "transparency" in image.info
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return flatten_alpha(rgb_to_grey(rgba[..., :3]), rgba[..., 3])
    if mode == "L":
        return np.asarray(image, dtype=np.float32) / 255.0
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of a float RGB array [H, W, 3] (the weights PIL uses for mode L)."""
    return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def flatten_alpha(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite ``grey`` with ``alpha`` onto the background that makes the ink visible.

    A drawing canvas exports strokes as opaque pixels on a transparent background, often with
    the same colour (even black) in the transparent pixels, so the ink lives in the alpha
    channel. When only a minority of pixels is opaque, they are the ink and are composited
    onto the opposite shade; otherwise the opaque picture is the paper and transparency is
    filled with its median shade.
    """
    alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    opaque = alpha > 0.5
    if opaque.all():
        return grey.astype(np.float32)
    if not opaque.any():
        return np.zeros_like(grey, dtype=np.float32)  # fully transparent: blank
    if opaque.mean() < 0.5:
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
    """The array's values as float32 in [0, 1], by its dtype's natural range."""
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype in (np.uint16, np.int32, np.int64, np.uint32, np.int16, np.int8, np.uint64):
        top = 65535.0 if array.dtype == np.uint16 or array.max(initial=0) > 255 else 255.0
        return np.clip(array.astype(np.float32) / top, 0.0, 1.0)
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(f"Cannot read an image array of type {array.dtype}.")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise ImageError("This image array contains NaN or infinite values.")
    top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    return np.clip(values / top, 0.0, 1.0)
