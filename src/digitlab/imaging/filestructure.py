"""Bounded checks of an image file's structure, before any decoder sees its bytes.

A decoder does what the file asks: ten thousand progressive scans, millions of empty markers,
chunks or extension blocks each cost time, though the file is small and its pixel count
modest, so neither the file-size cap nor the pixel cap bounds them. ``check_structure`` walks
the file's structure (JPEG markers and the padding between them, PNG chunks, GIF blocks, TIFF
directories and their value lists, a BMP's header), never its pixels, visits at most a fixed
number of elements, and refuses what no real digit image has. It also refuses a JPEG whose
image data is far too short for its declared size (a truncated file that libjpeg would
silently fill with grey).

Multi-page TIFFs, animated PNGs and WebPs are refused by ``imageio`` from their headers.
"""

from __future__ import annotations

import re
import struct

from digitlab.errors import ImageError

MAX_JPEG_SEGMENTS = 500  # markers with a length; real files have 10-30 (EXIF, tables, scans)
MAX_JPEG_SCANS = 100  # progressive encoders write about 10
# Fill bytes (0xFF) and restart markers between segments: Pillow steps over them one byte at a
# time in Python (10 MB of them: 10-24 s). Encoders write none, or a few.
MAX_JPEG_PADDING = 65_536
MAX_PNG_CHUNKS = 20_000  # image data chunks included (a 50 MB PNG in 8 KB IDATs: 6,400)
MAX_PNG_ANCILLARY = 500  # text, colour, time... chunks: real files have a handful
MAX_GIF_BLOCKS = 200_000  # data sub-blocks before the first frame's pixels
MAX_GIF_EXTENSIONS = 500
# Pillow decodes run-length BMPs in Python, a loop step per pixel (40 MP: 7-19 s; 1 MP: 0.2 s).
MAX_BMP_RLE_PIXELS = 1_000_000
MAX_TIFF_DIRECTORIES = 16  # the first image's directory and its EXIF, GPS, interop ones
MAX_TIFF_ENTRIES = 1_000  # tags per directory: real files have 10-50
# Pillow builds one decoding step per strip or tile, in Python (1M strips: 11-24 s, 363 MB).
# A 40 MP image in one-row strips has at most 28,300.
MAX_TIFF_STRIPS = 30_000
MAX_TIFF_VALUES = 200_000  # values of any other numeric tag (a 16-bit colour map has 196,608)

TOO_COMPLEX = "This image file has an abnormal structure ({}), so it is not decoded."
CORRUPT = "This image file is damaged or truncated, so it cannot be decoded."

# In JPEG entropy-coded data, 0xFF is followed by 0x00 (a stuffed byte), a restart marker
# (0xD0-0xD7) or more 0xFF fill bytes; any other byte after it starts a marker.
NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
FILL_BYTES = re.compile(rb"\xff*")
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # frame headers
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
    elif data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        check_tiff(data)
    elif data.startswith(b"BM"):
        check_bmp(data)


def check_jpeg(data: bytes, max_pixels: int) -> None:
    """Count the markers, scans and padding; check the image data is long enough for the frame."""
    pos, segments, scans, entropy_bytes, padding = 2, 0, 0, 0, 0
    frame = None  # (width, height)
    while True:
        if data[pos : pos + 1] != b"\xff":
            raise ImageError(CORRUPT)
        fill_end = FILL_BYTES.match(data, pos + 1).end()  # fill bytes before a marker
        padding += fill_end - (pos + 1)
        pos = fill_end - 1
        if padding > MAX_JPEG_PADDING:
            raise ImageError(TOO_COMPLEX.format("over 64 KB of JPEG padding"))
        if pos + 2 > len(data):
            raise ImageError(CORRUPT)
        marker = data[pos + 1]
        if marker == 0xD9:  # end of image
            break
        if marker in STANDALONE:  # restart markers out of place: padding too
            padding += 2
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
            frame = (width, height)
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
    width, height = frame
    # Huffman coding spends at least one bit per 8x8 block on its DC value: image data far
    # shorter than that cannot hold the picture. Arithmetic coding can go below a bit per block,
    # but only on a nearly uniform picture, which holds no digit either; so the same check
    # applies to it, or a file relabelled as arithmetic-coded would slip through.
    blocks = -(-width // 8) * -(-height // 8)
    if entropy_bytes < blocks // 8 // 2:
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


def check_bmp(data: bytes) -> None:
    """Bound the work of a run-length-encoded BMP (compression 1 or 2) by its pixel count."""
    if len(data) < 34:
        return  # too short to be a BMP at all: Pillow's refusal says so
    (header_size,) = struct.unpack_from("<I", data, 14)
    if header_size < 40:  # the OS/2 1.x header: never compressed
        return
    width, height, _, _, compression = struct.unpack_from("<iiHHI", data, 18)
    if compression in (1, 2) and abs(width) * abs(height) > MAX_BMP_RLE_PIXELS:
        raise ImageError(
            f"This BMP is run-length encoded at {abs(width)}x{abs(height)} pixels, more than "
            f"the {MAX_BMP_RLE_PIXELS / 1e6:.0f} megapixel we decode in that form; save it "
            "as PNG."
        )


TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
                   13: 4, 16: 8, 17: 8, 18: 8}  # fmt: skip
TIFF_NUMERIC = frozenset(TIFF_TYPE_SIZES) - {1, 2, 6, 7}  # bytes and text are read as one string
TIFF_STRIP_TAGS = frozenset({273, 279, 324, 325})  # strip and tile offsets and byte counts
TIFF_SUB_DIRECTORIES = frozenset({34665, 34853, 40965})  # EXIF, GPS, interoperability


def check_tiff(data: bytes) -> None:
    """Walk the directories Pillow reads (the first image's, and the EXIF ones it points to),
    counting their entries and each entry's values."""
    order = "<" if data.startswith(b"II") else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")  # BigTIFF: 64-bit counts and offsets
    if len(data) < (16 if big else 8):
        raise ImageError(CORRUPT)
    first = struct.unpack_from(order + ("Q" if big else "I"), data, 8 if big else 4)[0]
    pending, seen = [first], set()
    while pending:
        offset = pending.pop()
        if offset in seen:
            continue
        seen.add(offset)
        if len(seen) > MAX_TIFF_DIRECTORIES:
            raise ImageError(TOO_COMPLEX.format(f"over {MAX_TIFF_DIRECTORIES} TIFF directories"))
        pending += tiff_sub_directories(data, offset, order, big, first=offset == first)


def tiff_sub_directories(data: bytes, offset: int, order: str, big: bool, first: bool) -> list:
    """Check one TIFF directory's entries; the offsets of the directories it points to."""
    count_format, entry_format = ("Q", "HHQ") if big else ("H", "HHI")
    entry_size, value_size = (20, 8) if big else (12, 4)
    count_size = struct.calcsize(count_format)
    if offset + count_size > len(data):
        if first:  # the image's own directory is missing: Pillow would fail
            raise ImageError(CORRUPT)
        return []  # a broken EXIF pointer: Pillow skips it
    (entries,) = struct.unpack_from(order + count_format, data, offset)
    if entries > MAX_TIFF_ENTRIES:
        raise ImageError(TOO_COMPLEX.format(f"over {MAX_TIFF_ENTRIES} TIFF tags"))
    children = []
    for at in range(offset + count_size, offset + count_size + entries * entry_size, entry_size):
        if at + entry_size > len(data):
            break
        tag, kind, count = struct.unpack_from(order + entry_format, data, at)
        if tag in TIFF_STRIP_TAGS and count > MAX_TIFF_STRIPS:
            raise ImageError(TOO_COMPLEX.format(f"over {MAX_TIFF_STRIPS} TIFF strips or tiles"))
        if kind in TIFF_NUMERIC and count > MAX_TIFF_VALUES:
            raise ImageError(TOO_COMPLEX.format(f"a TIFF tag with over {MAX_TIFF_VALUES} values"))
        if tag in TIFF_SUB_DIRECTORIES and count == 1 and kind in (4, 13, 16, 18):
            size = TIFF_TYPE_SIZES[kind]
            child_format = order + ("I" if size == 4 else "Q")
            children.append(struct.unpack_from(child_format, data, at + entry_size - value_size)[0])
    return children
