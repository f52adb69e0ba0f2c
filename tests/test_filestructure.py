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


def jpeg_with_padding(length: int, unit: bytes = b"\xff") -> bytes:
    """Fill bytes (or restart markers) between the start of image and the first segment."""
    data = encode(seven(), "JPEG")
    return data[:2] + unit * (length // len(unit)) + data[2:]


def bmp_rle8(image: Image.Image) -> bytes:
    """An 8-bit run-length-encoded BMP of a grey ``image`` (Pillow writes none)."""
    pixels = np.asarray(image.convert("L"))
    rows = b""
    for row in pixels[::-1]:  # bottom-up
        starts = np.flatnonzero(np.diff(row.astype(int), prepend=-1))
        for start, end in zip(starts, [*starts[1:], len(row)], strict=True):
            for at in range(start, end, 255):
                rows += bytes((min(255, end - at), row[at]))
        rows += b"\x00\x00"  # end of line
    return bmp_file(image.width, image.height, rows + b"\x00\x01")


def bmp_rle8_one_pixel_rows(side: int) -> bytes:
    """A tiny file that declares side x side pixels: each row is "1 pixel, end of line"."""
    return bmp_file(side, side, b"\x01\x00\x00\x00" * side + b"\x00\x01")


def bmp_file(width: int, height: int, rle8: bytes) -> bytes:
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rle8), 2835, 2835, 256, 0)
    header = b"BM" + struct.pack("<IHHI", offset + len(rle8), 0, 0, offset)
    return header + info + palette + rle8


def tiff_with_strips(count: int, side: int = 100) -> bytes:
    """An uncompressed grey TIFF in one-row strips, listing ``count`` strips (``side`` is valid)."""
    pixels = np.asarray(seven(side)).tobytes()
    tags = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 1, 8), (259, 3, 1, 1),
            (262, 3, 1, 1), (273, 4, count, None), (277, 3, 1, 1), (278, 4, 1, 1),
            (279, 4, count, None)]  # fmt: skip
    pixels_at = 8 + 2 + 12 * len(tags) + 4
    offsets_at = pixels_at + len(pixels)
    counts_at = offsets_at + 4 * count
    values = {273: offsets_at, 279: counts_at}
    directory = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHII", tag, kind, n, values.get(tag, value)) for tag, kind, n, value in tags
    )
    offsets = (pixels_at + side * (np.arange(count) % side)).astype("<u4")
    counts = np.full(count, side, "<u4")
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + directory
        + b"\0\0\0\0"
        + pixels
        + (offsets.tobytes() + counts.tobytes())
    )


def tiff_with_tags(count: int) -> bytes:
    """A valid TIFF whose first directory is followed by ``count`` extra (unknown) tags."""
    data = bytearray(tiff_with_strips(100))
    (entries,) = struct.unpack_from("<H", data, 8)
    extra = b"".join(struct.pack("<HHII", 60000 + i % 5000, 3, 1, 0) for i in range(count))
    struct.pack_into("<H", data, 8, entries + count)
    return bytes(data[: 10 + 12 * entries] + extra + data[10 + 12 * entries :])


def truncated_jpeg_with_end_marker() -> bytes:
    """A 6000x6000 JPEG cut to 3 KB, then closed: libjpeg would fill the rest with grey."""
    return encode(seven(6000), "JPEG")[:3000] + b"\xff\xd9"


def test_real_files_of_every_format_pass():
    kinds = [("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}),
             ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}), ("TIFF", {"big_tiff": True}),
             ("BMP", {})]  # fmt: skip
    for fmt, save in kinds:
        data = encode(seven(300).convert("RGB" if fmt == "JPEG" else "L"), fmt, **save)
        check_structure(data, MAX_PIXELS)
        assert decode_image(data).grey.shape == (300, 300)
    for data in (tiff_with_strips(100), bmp_rle8(seven(300)), jpeg_with_padding(1000),
                 jpeg_with_padding(1000, b"\xff\xd0")):  # fmt: skip
        check_structure(data, MAX_PIXELS)
        grey = decode_image(data).grey
        assert grey.shape[0] in (100, 64, 300) and grey.min() < 0.3 and grey.max() > 0.7


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (jpeg_with_empty_markers(1000), "JPEG markers"),
        (jpeg_with_extra_scans(200), "JPEG scans"),
        (png_with_text_chunks(1000), "PNG text chunks"),
        (gif_with_comments(1000), "GIF extensions"),
        (jpeg_with_padding(10_000_000), "JPEG padding"),
        (jpeg_with_padding(1_000_000, b"\xff\xd0"), "JPEG padding"),
        (jpeg_with_padding(1_000_000, b"\xff\x01"), "JPEG padding"),
        (tiff_with_strips(1_000_000), "TIFF strips"),
        (tiff_with_tags(2000), "TIFF tags"),
        (bmp_rle8_one_pixel_rows(6300), "run-length encoded at 6300x6300"),
    ],
    ids=[
        "jpeg-markers",
        "jpeg-scans",
        "png-chunks",
        "gif-extensions",
        "jpeg-fill-bytes",
        "jpeg-restart-markers",
        "jpeg-ff01-markers",
        "tiff-strips",
        "tiff-tags",
        "bmp-rle8",
    ],
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


def test_a_truncated_jpeg_relabelled_as_arithmetic_coded_is_still_truncated():
    data = bytearray(truncated_jpeg_with_end_marker())
    sof = data.index(b"\xff\xc0")
    for marker in (0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
        data[sof + 1] = marker
        with pytest.raises(ImageError, match="damaged or truncated"):
            preprocess(bytes(data))


def test_a_run_length_bmp_within_the_cap_is_read():
    small = bmp_rle8_one_pixel_rows(1000)  # 1 megapixel: the cap
    check_structure(small, MAX_PIXELS)
    with pytest.raises(ImageError, match="run-length"):
        check_structure(bmp_rle8_one_pixel_rows(1001), MAX_PIXELS)


def test_tiff_directories_that_loop_or_nest_too_deep_are_bounded():
    data = bytearray(tiff_with_tags(1))
    # the extra tag becomes an EXIF pointer to the directory itself: a loop, walked once
    struct.pack_into("<HHII", data, 10 + 12 * 9, 34665, 4, 1, 8)
    check_structure(bytes(data), MAX_PIXELS)
    struct.pack_into("<I", data, 4, len(data) + 10)  # the first directory beyond the end
    with pytest.raises(ImageError, match="damaged"):
        check_structure(bytes(data), MAX_PIXELS)


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
