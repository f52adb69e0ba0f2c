"""Pictures for the pages: enlarged pixels, heat-maps, thumbnails, boxes. Display only, no ML."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

THUMBNAIL_SIDE = 64
DISPLAY_SIDE = 480


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image in [0, 1] (or uint8) as uint8 0-255."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)


def enlarge(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """Blow each pixel up into a ``scale`` x ``scale`` square, so 28x28 stays visibly pixelated."""
    return np.asarray(image).repeat(scale, axis=0).repeat(scale, axis=1)


def pixels(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """A small grey image (float [0, 1] or uint8) as enlarged uint8 pixels."""
    return enlarge(to_uint8(image), scale)


def heatmap(values: np.ndarray, under: np.ndarray | None = None, scale: int = 8) -> np.ndarray:
    """Signed values as red (positive) / blue (negative) over an optional grey image.

    Colours are scaled by the largest magnitude, so the strongest pixel is fully coloured.
    """
    values = np.asarray(values, np.float32)
    peak = float(np.abs(values).max()) or 1.0
    v = values / peak
    grey = np.zeros_like(v) if under is None else to_uint8(under).astype(np.float32) / 255.0
    base = 0.35 * grey[..., None] * np.ones(3, np.float32)
    red = np.array([0.84, 0.15, 0.16], np.float32)
    blue = np.array([0.13, 0.40, 0.80], np.float32)
    colour = np.where(v[..., None] >= 0, red, blue)
    strength = np.abs(v)[..., None]
    rgb = base * (1 - strength) + colour * strength
    return enlarge(to_uint8(rgb), scale)


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(image: np.ndarray | Image.Image) -> str:
    """A PNG data URI, for image cells in a table."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def display_image(data: bytes, side: int = DISPLAY_SIDE) -> tuple[Image.Image, float]:
    """The upload as people see it (colour, EXIF-rotated), shrunk to fit ``side``.

    Returns the image and its scale (displayed pixels per original pixel). Call only on data
    that ``digitlab.imageio`` has already decoded safely (size and format checked).
    """
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    full_width = image.width
    image.thumbnail((side, side))
    return image, image.width / full_width


def thumbnail(data: bytes) -> Image.Image:
    return display_image(data, THUMBNAIL_SIDE)[0]


def draw_boxes(
    image: Image.Image, boxes: list[tuple[int, int, int, int]], labels: list[str], scale: float
) -> Image.Image:
    """Draw each (x0, y0, x1, y1) box (in pixels of the full image, times ``scale``) and label."""
    out = image.convert("RGB")
    pen = ImageDraw.Draw(out)
    width = max(2, round(min(out.size) / 120))
    font = ImageFont.load_default(size=max(12, out.height // 12))
    for (x0, y0, x1, y1), label in zip(boxes, labels, strict=True):
        rect = [x0 * scale, y0 * scale, x1 * scale, y1 * scale]
        pen.rectangle(rect, outline=(230, 60, 40), width=width)
        pen.text((rect[0], rect[1] - width), label, fill=(230, 60, 40), font=font, anchor="ld")
    return out
