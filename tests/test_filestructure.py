"""Pathological files are refused from their structure, before any decoder runs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitlab.errors import ImageError
from digitlab.imaging.decode import MAX_PIXELS, decode_image
from digitlab.imaging.filestructure import check_structure
from digitlab.imaging.pipeline import preprocess


def seven(size: int = 64) -> Image.Image:
    image = Image.new("L", (size, size), 255)
    corners = [(size * 0.25, size * 0.2), (size * 0.75, size * 0.2), (size * 0.4, size * 0.85)]
    ImageDraw.Draw(image).line(corners, fill=0, width=max(2, size // 10))
    return image


def encode(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_text_chunks(count: int) -> bytes:
    data = encode(seven(), "PNG")
    return data[:33] + png_chunk(b"tEXt", b"a\0b") * count + data[33:]  # after IHDR


def jpeg_with_empty_markers(count: int) -> bytes:
    data = encode(seven(), "JPEG")
    return data[:2] + b"\xff\xe5\x00\x02" * count + data[2:]  # empty APP5 segments


def jpeg_with_extra_scans(count: int) -> bytes:
    data = encode(seven(256).convert("RGB"), "JPEG", progressive=True)
    empty_scan = b"\xff\xda" + struct.pack(">H", 8) + b"\x01\x01\x00\x00\x00\x10"
    return data[:-2] + empty_scan * count + b"\xff\xd9"


def gif_with_frames(count: int) -> bytes:
    data = encode(seven().convert("P"), "GIF")
    frame = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"  # 1x1 pixel
    return data[:-1] + frame * count + b";"


def gif_with_comments(count: int) -> bytes:
    data = encode(seven().convert("P"), "GIF")
    header = 13 + 3 * 2 ** ((data[10] & 7) + 1)
    return data[:header] + b"\x21\xfe\x01a\x00" * count + data[header:]


def truncated_jpeg_with_end_marker() -> bytes:
    """A 6000x6000 JPEG cut to 3 KB, then closed: libjpeg would fill the rest with grey."""
    return encode(seven(6000), "JPEG")[:3000] + b"\xff\xd9"


def test_real_files_of_every_format_pass():
    for fmt, save in [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {})]:
        data = encode(seven(300).convert("RGB" if fmt == "JPEG" else "L"), fmt, **save)
        check_structure(data, MAX_PIXELS)
        assert decode_image(data).grey.shape == (300, 300)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (jpeg_with_empty_markers(1000), "JPEG markers"),
        (jpeg_with_extra_scans(200), "JPEG scans"),
        (png_with_text_chunks(1000), "PNG text chunks"),
        (gif_with_comments(1000), "GIF extensions"),
    ],
    ids=["jpeg-markers", "jpeg-scans", "png-chunks", "gif-extensions"],
)
def test_pathological_structures_are_refused_before_decoding(data, words):
    with pytest.raises(ImageError, match=words):
        check_structure(data, MAX_PIXELS)
    with pytest.raises(ImageError, match=words):
        preprocess(data)


def test_a_gif_of_many_frames_is_read_from_its_first_frame():
    grey = decode_image(gif_with_frames(20_000)).grey  # its frames are never counted
    assert grey.shape == (64, 64) and grey[13, 32] < 0.3 and grey[60, 60] > 0.7


def test_a_truncated_jpeg_is_an_error_not_a_grey_picture():
    with pytest.raises(ImageError, match="damaged or truncated"):
        preprocess(truncated_jpeg_with_end_marker())


def test_a_jpeg_declaring_too_many_pixels_is_too_large():
    data = bytearray(encode(seven(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65000, 65000)
    with pytest.raises(ImageError, match="too large"):
        preprocess(bytes(data))


def test_truncated_structures_are_refused():
    data = encode(seven(), "JPEG")
    for cut in (data[:2], data[:40], data[: len(data) // 2]):
        with pytest.raises(ImageError):
            check_structure(cut, MAX_PIXELS)
    assert np.isfinite(decode_image(encode(seven(), "PNG")).grey).all()
