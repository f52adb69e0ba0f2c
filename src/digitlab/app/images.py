"""Pictures for the pages: enlarged pixels, heat-maps, thumbnails, boxes. Display only, no ML."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from digitlab.imaging.decode import open_checked

THUMBNAIL_SIDE = 64
DISPLAY_SIDE = 480
CHECKER_SQUARE = 8  # px: the usual "transparent" pattern of image editors
CHECKER_GREYS = (96, 64)  # dark, so white ink on a transparent background stays visible
RED = np.array([0.84, 0.15, 0.16], np.float32)
BLUE = np.array([0.13, 0.40, 0.80], np.float32)


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
    colour = np.where(v[..., None] >= 0, RED, BLUE)
    strength = np.abs(v)[..., None]
    rgb = base * (1 - strength) + colour * strength
    return enlarge(to_uint8(rgb), scale)


def colour_scale(width: int = 224, height: int = 14) -> np.ndarray:
    """The heat maps' key: full blue (most against) through black (no effect) to full red."""
    v = np.linspace(-1.0, 1.0, width, dtype=np.float32)
    colour = np.where(v[:, None] >= 0, RED, BLUE) * np.abs(v)[:, None]
    return to_uint8(np.broadcast_to(colour, (height, width, 3)))


def checkerboard(width: int, height: int) -> Image.Image:
    """A dark grey checkerboard, the backdrop that shows where an image is transparent."""
    yy, xx = np.mgrid[0:height, 0:width] // CHECKER_SQUARE
    greys = np.where((yy + xx) % 2 == 0, *CHECKER_GREYS).astype(np.uint8)
    return Image.fromarray(greys).convert("RGB")


def on_backdrop(image: Image.Image) -> Image.Image:
    """An image with transparency over a checkerboard (white on transparent stays visible)."""
    if "A" not in image.getbands():
        return image
    backdrop = checkerboard(*image.size)
    backdrop.paste(image, mask=image.getchannel("A"))
    return backdrop


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(image: np.ndarray | Image.Image) -> str:
    """A PNG data URI, for image cells in a table."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def display_image(data: bytes, side: int = DISPLAY_SIDE) -> tuple[Image.Image, float]:
    """The upload as people see it (colour, EXIF-rotated, transparency on a checkerboard),
    shrunk to fit ``side``.

    Returns the image and its scale (displayed pixels per original pixel). The decoding is
    ``digitlab.imaging.decode``'s, with its checks: a bad file raises ``ImageError``.
    """
    image = open_checked(data)[0]
    transparent = "A" in image.getbands() or "transparency" in image.info
    image = image.convert("RGBA" if transparent else "RGB")
    full_width = image.width
    image.thumbnail((side, side))
    return on_backdrop(image), image.width / full_width


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
