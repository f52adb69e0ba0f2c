"""Safe decoding: every format and mode, EXIF, transparency, and each kind of bad input."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digitlab.errors import ImageError, NoDigitError
from digitlab.imaging.decode import decode_image, flatten_alpha, read_image_file
from digitlab.imaging.pipeline import preprocess


def digit_picture(size: int = 64) -> np.ndarray:
    """Dark 'L'-shaped ink on light paper (uint8), asymmetric so orientation is visible."""
    grey = np.full((size, size), 230, np.uint8)
    grey[10:50, 20:28] = 20
    grey[42:50, 20:45] = 20
    return grey


def encode(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_format_decodes(fmt):
    data = encode(Image.fromarray(digit_picture()).convert("RGB"), fmt)
    grey = decode_image(data).grey
    assert grey.shape == (64, 64) and grey.dtype == np.float32
    assert grey[30, 24] < 0.3 and grey[5, 5] > 0.7


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"])
def test_every_mode_decodes(mode):
    base = Image.fromarray(digit_picture())
    if mode == "I;16":
        image = Image.fromarray(digit_picture().astype(np.uint16) * 257)
    else:
        image = base.convert(mode)
    fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
    grey = decode_image(encode(image, fmt)).grey
    assert grey[30, 24] < 0.3 and grey[5, 5] > 0.7


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    upright = digit_picture()[:, :48]
    stored = np.rot90(upright, k={3: 2, 6: 1, 8: 3}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.fromarray(np.ascontiguousarray(stored)), "JPEG", exif=exif.tobytes())
    grey = decode_image(data).grey
    assert grey.shape == upright.shape
    assert np.abs(grey * 255 - upright).mean() < 8


def test_draft_decoding_reports_scale_to_full_size():
    big = Image.fromarray(np.repeat(np.repeat(digit_picture(), 20, 0), 20, 1))
    decoded = decode_image(encode(big, "JPEG"), max_side=400)
    assert decoded.original_size == (1280, 1280)
    assert max(decoded.grey.shape) < 1280 and decoded.scale == 1280 / decoded.grey.shape[1]


def test_transparent_canvas_ink_in_alpha_becomes_visible():
    rgba = np.zeros((64, 64, 4), np.uint8)  # black everywhere, ink only in alpha
    rgba[10:50, 20:28, 3] = 255
    grey = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG")).grey
    assert grey[30, 24] < 0.1 and grey[5, 5] > 0.9  # dark ink on a light background
    white = rgba.copy()
    white[..., :3] = 255
    grey = decode_image(encode(Image.fromarray(white, "RGBA"), "PNG")).grey
    assert grey[30, 24] > 0.9 and grey[5, 5] < 0.1  # white ink: composited onto black


def test_flatten_alpha_keeps_opaque_pictures():
    grey = np.full((4, 4), 0.8, np.float32)
    alpha = np.ones((4, 4), np.float32)
    alpha[0, 0] = 0
    assert flatten_alpha(grey, alpha)[0, 0] == pytest.approx(0.8)


@pytest.mark.parametrize(
    "array",
    [
        np.full((20, 20), 200, np.uint8),
        np.ones((20, 20, 3), np.float32),
        np.zeros((20, 20, 4), np.uint8),
        np.full((20, 20), 40000, np.uint16),
        np.zeros((20, 20), bool),
    ],
)
def test_arrays_of_many_types_decode(array):
    grey = decode_image(array).grey
    assert grey.shape == (20, 20) and 0 <= grey.min() <= grey.max() <= 1


def png_with_header(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a tiny (truncated) pixel stream."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def animated(fmt: str) -> bytes:
    frames = [Image.fromarray(digit_picture()), Image.fromarray(255 - digit_picture())]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


BAD_INPUTS = {
    "empty": b"",
    "text": b"hello, this is not an image at all",
    "truncated": encode(Image.fromarray(digit_picture(256)), "JPEG")[:600],
    "truncated png": encode(Image.fromarray(digit_picture(256)), "PNG")[:200],
    "bomb": png_with_header(30000, 30000),
    "absurd aspect": png_with_header(10000, 3),
    "too small": png_with_header(4, 4),
    "animated png": animated("PNG"),
    "animated webp": animated("WEBP"),
    "multi-page tiff": animated("TIFF"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_raise_one_clear_image_error_quickly(name):
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        preprocess(BAD_INPUTS[name])
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert message.endswith(".") and message.count(". ") == 0 and len(message) < 120


def test_animated_gif_reads_first_frame():
    grey = decode_image(animated("GIF")).grey
    assert grey[30, 24] < 0.3 and grey[5, 5] > 0.7


def test_missing_path_and_wrong_type_are_image_errors(tmp_path):
    with pytest.raises(ImageError):
        decode_image(tmp_path / "nope.png")
    with pytest.raises(ImageError):
        decode_image(12345)  # type: ignore[arg-type]
    with pytest.raises(ImageError):
        decode_image(np.full((20, 20), np.nan, np.float32))


def test_path_source(tmp_path):
    path = tmp_path / "digit.png"
    path.write_bytes(encode(Image.fromarray(digit_picture()), "PNG"))
    assert decode_image(path).grey.shape == (64, 64) and decode_image(str(path)).grey.shape == (
        64,
        64,
    )


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID_PNG = encode(Image.fromarray(digit_picture()), "PNG")


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes(data):
    with contextlib.suppress(ImageError, NoDigitError):
        preprocess(data)


@FUZZ
@given(st.integers(0, len(VALID_PNG) - 1), st.binary(min_size=1, max_size=8))
def test_fuzz_corrupted_png(position, patch):
    data = VALID_PNG[:position] + patch + VALID_PNG[position + len(patch) :]
    with contextlib.suppress(ImageError, NoDigitError):
        preprocess(data)


@FUZZ
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.sampled_from([(), (1,), (2,), (3,), (4,), (5,)]),
    st.sampled_from([np.uint8, np.float32, np.uint16, np.int64, np.float64]),
    st.integers(0, 2**32 - 1),
)
def test_fuzz_small_arrays(height, width, channels, dtype, seed):
    rng = np.random.default_rng(seed)
    array = (rng.random((height, width, *channels)) * rng.choice([1, 255, 70000])).astype(dtype)
    try:
        out = preprocess(array)
        assert out.shape == (28, 28) and out.dtype == np.float32
    except (ImageError, NoDigitError):
        pass


def test_16_bit_tiff_holding_8_bit_values_keeps_its_contrast():
    grey = np.full((40, 40), 230, np.uint8)
    grey[10:30, 18:22] = 20
    buffer = io.BytesIO()
    Image.fromarray(grey).convert("I;16").save(buffer, "TIFF")
    out = decode_image(buffer.getvalue()).grey
    assert out.max() == pytest.approx(230 / 255, abs=0.01)
    assert out.min() == pytest.approx(20 / 255, abs=0.01)


def test_big_16_bit_scan_is_not_clipped_when_reduced_early():
    grey = np.full((900, 700), 60000, np.uint16)
    grey[300:600, 330:370] = 5000  # a dark "1"
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "TIFF")
    decoded = decode_image(buffer.getvalue(), max_side=400)
    assert max(decoded.grey.shape) < 900  # it was reduced...
    assert decoded.grey.min() < 0.2 and decoded.grey.max() > 0.85  # ...without clipping
    assert preprocess(buffer.getvalue()).max() > 0.9


# ---------------------------------------------------------------------------------------------
# Hardening: each case failed before it was fixed


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + info + bytes(100)


def gif_header(width: int, height: int) -> bytes:
    screen = struct.pack("<HH", width, height) + b"\x00\x00\x00"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, width, height) + b"\x00\x02\x02\x44\x01\x00;"
    return b"GIF89a" + screen + frame


@pytest.mark.parametrize(
    "data",
    [png_with_header(30000, 30000), bmp_header(40000, 40000), gif_header(60000, 60000)],
    ids=["png", "bmp", "gif"],
)
def test_decompression_bombs_are_too_large_not_damaged(data):
    with pytest.raises(ImageError, match="too large"):
        decode_image(data)


def test_palette_png_with_transparent_white_keeps_its_thin_anti_aliased_ink():
    big = Image.new("L", (256, 256), 255)
    ImageDraw.Draw(big).line([(60, 50), (200, 50), (110, 220)], fill=0, width=8)
    palette = big.resize((64, 64), Image.LANCZOS).convert("RGB").quantize(16)
    colours = palette.getpalette()
    white = max(range(16), key=lambda i: sum(colours[3 * i : 3 * i + 3]))
    grey = decode_image(encode(palette, "PNG", transparency=white)).grey
    assert grey[12, 30] < 0.2  # the 7's top bar stays dark ink...
    assert grey[3, 3] > 0.9  # ...on the white page it was drawn on (not a hollow outline)


def test_integers_beyond_16_bits_are_scaled_by_their_range():
    reference = decode_image(digit_picture()).grey
    for dtype, top in [(np.int32, 2**31 - 1), (np.int64, 2**40), (np.uint32, 2**32 - 1)]:
        array = (digit_picture().astype(np.float64) / 255 * top).astype(dtype)
        grey = decode_image(array).grey
        assert grey[30, 24] < 0.2 and grey[5, 5] > 0.8, dtype
        assert np.corrcoef(grey.ravel(), reference.ravel())[0, 1] > 0.99
    tiff = Image.fromarray((digit_picture().astype(np.int32) * 2**23), "I")
    grey = decode_image(encode(tiff, "TIFF")).grey
    assert grey[30, 24] < 0.2 and grey[5, 5] > 0.8


def wide_picture(height: int, width: int, dtype: type) -> np.ndarray:
    """A digit picture of ``height`` x ``width`` in a wide type, with values outside [0, 255]."""
    blocks = np.ones((height // 64, width // 64))
    return (np.kron(digit_picture(), blocks) * 1000.5 - 7).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_wide_integer_and_float_images_convert_without_full_size_copies(dtype):
    """The peak of traced memory is the float32 result and bands of 1 MP, not full-size copies."""
    picture = wide_picture(2048, 2048, dtype)  # 4 megapixels: a 16 MB result
    result_bytes = picture.size * 4
    for source in (picture, Image.fromarray(picture)):
        tracemalloc.start()
        grey = decode_image(source).grey
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert grey[960, 768] < 0.1 and grey[100, 100] > 0.9
        assert peak < result_bytes + 20e6, f"{type(source).__name__}: {peak / 1e6:.0f} MB"


@pytest.mark.slow
def test_a_40_megapixel_float_tiff_decodes_in_bounded_time_and_memory(tmp_path):
    """In a fresh process, so that its peak resident memory is this file's alone (VmHWM: unlike
    ``ru_maxrss``, not inherited from the parent across exec)."""
    image = Image.fromarray(wide_picture(5120, 7680, np.float32))  # 39 MP: 157 MB as floats
    path = tmp_path / "float.tif"
    image.save(path, "TIFF", compression="tiff_adobe_deflate")
    script = (
        "import re, sys, time\n"
        "from digitlab.imaging.pipeline import preprocess\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "start = time.perf_counter()\n"
        "assert preprocess(data).shape == (28, 28)\n"
        "seconds = time.perf_counter() - start\n"
        "status = open('/proc/self/status').read()\n"
        "print(seconds, int(re.search(r'VmHWM:\\s+(\\d+)', status)[1]) / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    seconds, peak_mb = map(float, done.stdout.split())
    print(f"40 MP float32 TIFF: {seconds:.2f} s, peak {peak_mb:.0f} MB")
    assert seconds < 4.0 and peak_mb < 500


def test_premultiplied_alpha_images_decode():
    image = Image.fromarray(digit_picture()).convert("LA").convert("La")
    grey = decode_image(image).grey
    assert grey[30, 24] < 0.3 and grey[5, 5] > 0.7


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "WEBP"])
def test_animated_pil_images_are_refused_like_files(fmt):
    with pytest.raises(ImageError, match="animated or has several pages"):
        decode_image(Image.open(io.BytesIO(animated(fmt))))


def test_a_path_with_a_nul_byte_is_an_image_error():
    with pytest.raises(ImageError, match="Cannot read this file"):
        decode_image("a\0b.png")


def test_pipes_devices_and_folders_are_refused_without_reading(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # nobody writes to it: reading it would block forever
    for path, words in [(pipe, "not a regular file"), ("/dev/zero", "not a regular file"),
                        (tmp_path, "a folder")]:  # fmt: skip
        with pytest.raises(ImageError, match=words):
            decode_image(path)


def test_a_sparse_file_larger_than_the_cap_is_refused(tmp_path):
    sparse = tmp_path / "huge.png"
    with open(sparse, "wb") as file:
        file.truncate(3 * 1024**3)  # 3 GB that take no disk space
    with pytest.raises(ImageError, match="too large"):
        decode_image(sparse)


def test_read_image_file_reads_at_most_its_cap(tmp_path):
    (tmp_path / "big.png").write_bytes(b"x" * 2048)
    assert read_image_file(tmp_path / "big.png", 2048) == b"x" * 2048
    with pytest.raises(ImageError, match="too large"):
        read_image_file(tmp_path / "big.png", 2047)
    with pytest.raises(ImageError, match="does not exist"):
        read_image_file(tmp_path / "missing.png")


def test_a_bug_in_our_own_code_is_not_reported_as_a_damaged_file(monkeypatch):
    import digitlab.imaging.decode as imageio

    def broken(image):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(imageio, "pil_to_grey", broken)
    with pytest.raises(RuntimeError, match="a bug of ours"):  # not ImageError("damaged")
        decode_image(encode(Image.fromarray(digit_picture()), "PNG"))
