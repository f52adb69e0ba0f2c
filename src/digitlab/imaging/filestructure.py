"""Bounded checks of an image file's structure, before any decoder sees its bytes.

A decoder does what the file asks: ten thousand progressive scans, millions of empty markers,
chunks or extension blocks each cost time, though the file is small and its pixel count
modest, so neither the file-size cap nor the pixel cap bounds them. ``check_structure`` walks
the file's structure (JPEG markers, PNG chunks, GIF blocks), never its pixels, visits at most
a fixed number of elements, and refuses what no real digit image has. It also refuses a JPEG
whose image data is far too short for its declared size (a truncated file that libjpeg would
silently fill with grey).

Multi-page TIFFs, animated PNGs and WebPs are refused by ``imageio`` from their headers.
"""

from __future__ import annotations

import re
import struct

from digitlab.errors import ImageError

MAX_JPEG_SEGMENTS = 500  # markers with a length; real files have 10-30 (EXIF, tables, scans)
MAX_JPEG_SCANS = 100  # progressive encoders write about 10
MAX_PNG_CHUNKS = 20_000  # image data chunks included (a 50 MB PNG in 8 KB IDATs: 6,400)
MAX_PNG_ANCILLARY = 500  # text, colour, time... chunks: real files have a handful
MAX_GIF_BLOCKS = 200_000  # data sub-blocks before the first frame's pixels
MAX_GIF_EXTENSIONS = 500

TOO_COMPLEX = "This image file has an abnormal structure ({}), so it is not decoded."
CORRUPT = "This image file is damaged or truncated, so it cannot be decoded."

# In JPEG entropy-coded data, 0xFF is followed by 0x00 (a stuffed byte), a restart marker
# (0xD0-0xD7) or more 0xFF fill bytes; any other byte after it starts a marker.
NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers
ARITHMETIC_SOF = frozenset({0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length


def check_structure(data: bytes, max_pixels: int) -> None:
    """Raise ``ImageError`` when ``data``'s structure is pathological; cheap for the rest.

    A JPEG declaring more than ``max_pixels`` is refused as too large as soon as its frame
    header is read.
    """
    if data.startswith(b"\xff\xd8"):
        check_jpeg(data, max_pixels)
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        check_png(data)
    elif data.startswith((b"GIF87a", b"GIF89a")):
        check_gif(data)


def check_jpeg(data: bytes, max_pixels: int) -> None:
    """Count the markers and scans; check the image data is long enough for the frame."""
    pos, segments, scans, entropy_bytes = 2, 0, 0, 0
    frame = None  # (width, height, arithmetic coding?)
    while True:
        if data[pos : pos + 1] != b"\xff":
            raise ImageError(CORRUPT)
        while data[pos + 1 : pos + 2] == b"\xff":  # fill bytes before a marker
            pos += 1
        if pos + 2 > len(data):
            raise ImageError(CORRUPT)
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            break
        if marker in STANDALONE:
            pos += 2
            continue
        if pos + 4 > len(data):
            raise ImageError(CORRUPT)
        (length,) = struct.unpack_from(">H", data, pos + 2)
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise ImageError(TOO_COMPLEX.format(f"over {MAX_JPEG_SEGMENTS} JPEG markers"))
        if length < 2 or pos + 2 + length > len(data):
            raise ImageError(CORRUPT)
        if marker in SOF_MARKERS and length >= 7:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            if width * height > max_pixels:
                raise ImageError(too_large(width, height, max_pixels))
            frame = (width, height, marker in ARITHMETIC_SOF)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(TOO_COMPLEX.format(f"over {MAX_JPEG_SCANS} JPEG scans"))
            found = NEXT_MARKER.search(data, pos)
            if found is None:
                raise ImageError(CORRUPT)
            entropy_bytes += found.start() - pos
            pos = found.start()
    if frame is None or scans == 0:
        raise ImageError(CORRUPT)
    width, height, arithmetic = frame
    # Huffman coding spends at least one bit per 8x8 block on its DC value: image data far
    # shorter than that cannot hold the picture (arithmetic coding can go below a bit).
    blocks = -(-width // 8) * -(-height // 8)
    if not arithmetic and entropy_bytes < blocks // 8 // 2:
        raise ImageError(CORRUPT)


def too_large(width: int, height: int, max_pixels: int) -> str:
    """The sentence for an image with more pixels than we decode."""
    limit = f"{max_pixels / 1e6:.0f} megapixels"
    return f"This image is too large ({width}x{height} pixels; the limit is {limit})."


def check_png(data: bytes) -> None:
    """Count the chunks, walking their headers only."""
    pos, chunks, ancillary = 8, 0, 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise ImageError(TOO_COMPLEX.format(f"over {MAX_PNG_CHUNKS} PNG chunks"))
        if kind[0] & 0x20:  # lower-case first letter: an ancillary chunk
            ancillary += 1
            if ancillary > MAX_PNG_ANCILLARY:
                raise ImageError(TOO_COMPLEX.format(f"over {MAX_PNG_ANCILLARY} PNG text chunks"))
        if kind == b"IEND":
            return
        pos += 12 + length


def check_gif(data: bytes) -> None:
    """Walk the blocks up to the first frame's pixels (the only frame we decode)."""
    if len(data) < 13:
        raise ImageError(CORRUPT)
    flags = data[10]
    pos = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)  # global colour table
    extensions = blocks = 0
    while pos < len(data):
        introducer = data[pos]
        if introducer == 0x2C:  # the first image descriptor: what follows is its pixels
            return
        if introducer != 0x21:
            raise ImageError(CORRUPT)
        extensions += 1
        if extensions > MAX_GIF_EXTENSIONS:
            raise ImageError(TOO_COMPLEX.format(f"over {MAX_GIF_EXTENSIONS} GIF extensions"))
        pos += 2
        while pos < len(data) and data[pos] != 0:  # data sub-blocks, each length-prefixed
            blocks += 1
            if blocks > MAX_GIF_BLOCKS:
                raise ImageError(TOO_COMPLEX.format("too many GIF blocks"))
            pos += 1 + data[pos]
        pos += 1
    raise ImageError(CORRUPT)
