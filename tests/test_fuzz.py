"""10,000 hostile inputs: only our two error classes come out, each decided in bounded time.

Deterministic (seeded): random bytes behind each format's signature, valid images of every
format (run-length BMPs, TIFFs in strips and padded JPEGs among them) with bytes flipped, cut,
repeated or inserted, and the crafted pathological files of ``test_filestructure``. Run by
default, marked slow (about a minute).
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from digitlab.errors import ImageError, NoDigitError
from digitlab.imaging.pipeline import preprocess
from test_filestructure import (
    bmp_rle8,
    bmp_rle8_one_pixel_rows,
    gif_with_comments,
    gif_with_frames,
    jpeg_with_empty_markers,
    jpeg_with_extra_scans,
    jpeg_with_padding,
    png_with_text_chunks,
    seven,
    tiff_with_strips,
    tiff_with_tags,
    truncated_jpeg_with_end_marker,
)

SIGNATURES = [
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"II*\x00", b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"RIFF\x00\x00\x00\x00WEBPVP8L",
]  # fmt: skip
MAX_SECONDS = 2.0  # the bound for any input on this 2-core machine


def valid_images() -> list[bytes]:
    made = []
    kinds = [("PNG", "L", {}), ("PNG", "RGBA", {}), ("JPEG", "RGB", {}), ("GIF", "P", {}),
             ("JPEG", "L", {"progressive": True}), ("BMP", "RGB", {}), ("TIFF", "L", {}),
             ("WEBP", "RGB", {})]  # fmt: skip
    for fmt, mode, save in kinds:
        buffer = io.BytesIO()
        seven(48).convert(mode).save(buffer, fmt, **save)
        made.append(buffer.getvalue())
    # structures Pillow walks in Python: run-length BMP, TIFF strip lists, JPEG padding
    made += [bmp_rle8(seven(48)), tiff_with_strips(48, side=48), jpeg_with_padding(300),
             jpeg_with_padding(300, b"\xff\xd0")]  # fmt: skip
    return made


def mutated(data: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        kind = int(rng.integers(5))
        at = int(rng.integers(len(data)))
        if kind == 0:  # flip bytes
            data[at] = int(rng.integers(256))
        elif kind == 1:  # cut
            data = data[: max(at, 1)]
        elif kind == 2:  # insert random bytes
            data[at:at] = rng.bytes(int(rng.integers(1, 64)))
        elif kind == 3:  # repeat a slice (markers, chunks, blocks)
            end = min(len(data), at + int(rng.integers(2, 40)))
            data[at:at] = bytes(data[at:end]) * int(rng.integers(2, 200))
        else:  # extreme values in what may be a size field
            data[at : at + 2] = [b"\xff\xff", b"\x00\x00", b"\x7f\xff"][int(rng.integers(3))]
    return bytes(data)


def hostile_inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    crafted = [jpeg_with_empty_markers(1000), jpeg_with_extra_scans(200),
               png_with_text_chunks(1000), gif_with_comments(1000), gif_with_frames(5000),
               truncated_jpeg_with_end_marker(), jpeg_with_padding(10_000_000),
               jpeg_with_padding(1_000_000, b"\xff\xd0"), tiff_with_strips(1_000_000),
               tiff_with_tags(2000), bmp_rle8_one_pixel_rows(6300)]  # fmt: skip
    yield from crafted
    valid = valid_images()
    for i in range(n - len(crafted)):
        if i % 3 == 0:
            signature = SIGNATURES[int(rng.integers(len(SIGNATURES)))]
            yield signature + rng.bytes(int(rng.integers(0, 3000)))
        else:
            yield mutated(valid[int(rng.integers(len(valid)))], rng)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on broken TIFF tags
def test_ten_thousand_hostile_inputs_give_only_our_errors_in_bounded_time():
    slowest, outcomes = 0.0, {"answered": 0, "ImageError": 0, "NoDigitError": 0}
    for data in hostile_inputs(10_000):
        start = time.perf_counter()
        try:
            out = preprocess(data)
            assert out.shape == (28, 28) and np.isfinite(out).all()
            outcomes["answered"] += 1
        except (ImageError, NoDigitError) as err:
            outcomes[type(err).__name__] += 1
            assert str(err).endswith(".") and "\n" not in str(err)
        slowest = max(slowest, time.perf_counter() - start)
    print(f"outcomes {outcomes}, slowest input {slowest:.3f} s")
    assert sum(outcomes.values()) == 10_000
    assert slowest < MAX_SECONDS
    assert min(outcomes.values()) > 10  # the mix exercised every path


def test_images_decode_from_pil_objects_of_every_mode():
    for mode in ["1", "L", "LA", "La", "P", "RGB", "RGBA", "RGBa", "CMYK", "I", "F", "I;16"]:
        via = {"CMYK": "RGB", "RGBa": "RGBA", "La": "LA"}.get(mode, "L")
        image = seven(48).convert(via).convert(mode)
        try:
            assert preprocess(image).shape == (28, 28)
        except (ImageError, NoDigitError) as err:  # only a sentence of ours, never a crash
            pytest.fail(f"mode {mode}: {err}")


def valid_profiles() -> list[bytes]:
    """Small real profile files, deflated (as written) and stored (as another tool might)."""
    from digitlab.profiles.store import Profile

    profile = Profile.in_memory()
    rng = np.random.default_rng(1)
    profile.teach_preprocessed(
        list(rng.random((3, 28, 28), np.float32)), [1, 2, 3], ["a", "b", "c"]
    )
    deflated = profile.export_bytes()
    with np.load(io.BytesIO(deflated)) as npz:
        buffer = io.BytesIO()
        np.savez(buffer, images=npz["images"], manifest=npz["manifest"])
    return [deflated, buffer.getvalue()]


@pytest.mark.slow
def test_two_thousand_hostile_profile_files_give_one_sentence_in_bounded_time():
    from digitlab.profiles.store import ProfileError, decode_profile
    from test_profiles import hostile_profiles

    rng = np.random.default_rng(0)
    valid = valid_profiles()
    inputs = [*hostile_profiles().values(), *valid]
    inputs += [mutated(valid[i % 2], rng) for i in range(2000)]
    slowest, outcomes = 0.0, {"decoded": 0, "ProfileError": 0}
    for data in inputs:
        start = time.perf_counter()
        try:
            decode_profile(data, "fuzz.npz")
            outcomes["decoded"] += 1
        except ProfileError as err:
            outcomes["ProfileError"] += 1
            assert str(err).endswith(".") and "\n" not in str(err)
        slowest = max(slowest, time.perf_counter() - start)
    print(f"outcomes {outcomes}, slowest profile {slowest:.3f} s")
    assert slowest < MAX_SECONDS and min(outcomes.values()) >= 2
