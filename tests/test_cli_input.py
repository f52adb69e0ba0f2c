"""The CLI reads its inputs bounded and never blocks; one bad file never stops the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image, ImageDraw


def seven_png(path) -> None:
    image = Image.new("L", (120, 120), 255)
    ImageDraw.Draw(image).line([(30, 25), (90, 25), (50, 100)], fill=0, width=10)
    image.save(path)


def predict(*args: str, stdin=subprocess.DEVNULL, timeout: float = 120) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "digitlab.cli", "predict", *args, "--model", "logreg", "--json"],
        stdin=stdin, capture_output=True, timeout=timeout,
    )  # fmt: skip
    assert "Traceback" not in done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


@pytest.mark.slow  # subprocess runs of about 4 s; the file-name tests start the command fast
def test_pipes_devices_and_odd_files_are_refused_and_the_rest_answered(tmp_path):
    good = tmp_path / "seven.png"
    seven_png(good)
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)  # nobody writes: a blocking read would hang forever
    sparse = tmp_path / "sparse.png"
    with open(sparse, "wb") as file:
        file.truncate(3 * 1024**3)
    nul = tmp_path / "white_speck.png"
    page = Image.new("L", (280, 280), 255)
    page.putpixel((140, 140), 0)
    page.save(nul)
    files = [str(pipe), "/dev/zero", str(sparse), str(tmp_path), str(nul), str(good)]
    lines = predict(*files)
    assert [line["file"] for line in lines] == files
    assert "not a regular file" in lines[0]["error"] and "not a regular file" in lines[1]["error"]
    assert "too large" in lines[2]["error"] and "folder" in lines[3]["error"]
    assert lines[4]["error"] == "No digit found in this image."
    assert lines[5]["error"] is None and lines[5]["digit"] == 7


@pytest.mark.slow  # subprocess runs of about 4 s; the file-name tests start the command fast
def test_standard_input_is_read_up_to_the_cap_only():
    with open("/dev/zero", "rb") as zeros:  # endless input: only the cap plus one byte is read
        lines = predict("-", stdin=zeros)
    assert lines[0]["digit"] is None and "too large" in lines[0]["error"]


def test_file_names_that_are_not_utf8_give_valid_json(tmp_path):
    name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png")  # Latin-1 bytes: a lone surrogate
    seven_png(os.fsencode(name))
    (line,) = predict(name)
    assert line["digit"] == 7 and line["file"].endswith("caf\ufffd.png")
    line["file"].encode("utf-8")  # a lone surrogate would raise: strict JSON readers refuse it


def test_plain_output_escapes_control_characters_in_file_names(tmp_path):
    forged = tmp_path / "x\x1b]0;pwned\x07\x1b[2J\nfake: 7 (confidence 99%).png"
    seven_png(forged)
    done = subprocess.run([sys.executable, "-m", "digitlab.cli", "predict", str(forged),
                           "--model", "logreg"], capture_output=True, timeout=120)  # fmt: skip
    out = done.stdout.decode()
    assert len(out.splitlines()) == 1 and "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\nfake: 7 (confidence 99%).png: 7" in out
