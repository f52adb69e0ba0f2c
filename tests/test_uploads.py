"""Uploaded labelled digits: a zip of digit folders read with caps, or images plus a CSV."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from PIL import Image

from digitlab.errors import DigitLabError
from digitlab.evaluation import uploads


def png(value: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (28, 28), value).save(buffer, format="PNG")
    return buffer.getvalue()


def zipped(entries: list[tuple[str | zipfile.ZipInfo, bytes]], **kwargs) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, **kwargs) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_digit_folders_is_labelled_by_its_folders():
    data = zipped([("3/a.png", png()), ("7/b.png", png()), ("7/notes.txt", b"hi"),
                   ("__MACOSX/7/._b.png", b"x"), (".hidden/3/c.png", png())])  # fmt: skip
    items = uploads.read_digit_zip(data)
    assert [(i.file, i.label, i.kind, i.path) for i in items] == [
        ("3/a.png", 3, "all", None), ("7/b.png", 7, "all", None)]  # fmt: skip
    assert items[0].data == png()


def test_a_zipped_folder_may_have_one_top_folder():
    items = uploads.read_digit_zip(zipped([("digits/", b""), ("digits/0/a.png", png())]))
    assert [(i.file, i.label) for i in items] == [("digits/0/a.png", 0)]


def test_too_many_members_is_one_sentence(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_MEMBERS", 3)
    data = zipped([(f"1/{n}.png", png()) for n in range(4)])
    with pytest.raises(DigitLabError, match="4 entries; the limit is 3"):
        uploads.read_digit_zip(data)


def test_a_zip_bomb_is_refused_by_its_ratio():
    data = zipped([("1/bomb.png", b"\0" * (5 * 1024 * 1024))])
    assert len(data) < 10 * 1024
    with pytest.raises(DigitLabError, match="expands 200x or more"):
        uploads.read_digit_zip(data)


def test_a_member_that_lies_about_its_size_is_stopped_while_reading(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_MEMBER_BYTES", 1000)
    monkeypatch.setattr(uploads, "MAX_RATIO", 10**9)
    data = bytearray(zipped([("1/a.png", bytes(range(256)) * 20)]))
    # claim 100 bytes in the central directory: the reader still stops at its cap
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    with pytest.raises(DigitLabError, match="over 0 MB|damaged"):
        uploads.read_digit_zip(bytes(data))


def test_too_large_in_total_is_refused(monkeypatch):
    monkeypatch.setattr(uploads, "MAX_TOTAL_BYTES", 2 * len(png()))
    data = zipped([(f"1/{n}.png", png()) for n in range(3)])
    with pytest.raises(DigitLabError, match="expands to over"):
        uploads.read_digit_zip(data)


@pytest.mark.parametrize("name", ["../1/a.png", "/1/a.png", "1/../../a.png", "C:/1/a.png",
                                  "1\\..\\..\\a.png"])  # fmt: skip
def test_path_traversal_is_refused(name):
    with pytest.raises(DigitLabError, match="outside its folder"):
        uploads.read_digit_zip(zipped([(name, png())]))


def test_a_symlink_member_is_refused():
    link = zipfile.ZipInfo("1/a.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(DigitLabError, match="symbolic link"):
        uploads.read_digit_zip(zipped([(link, b"/etc/passwd")]))


def test_an_encrypted_member_is_refused():
    data = bytearray(zipped([("1/a.png", png())]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encrypted bit
        at = data.find(signature) + offset
        data[at] |= 0x1
    with pytest.raises(DigitLabError, match="encrypted"):
        uploads.read_digit_zip(bytes(data))


def test_an_unusual_compression_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("1/a.png", png())
    with pytest.raises(DigitLabError, match="compression"):
        uploads.read_digit_zip(buffer.getvalue())


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 not really", png()])
def test_not_a_zip_is_one_sentence(data):
    with pytest.raises(DigitLabError, match="not a zip file"):
        uploads.read_digit_zip(data)


def test_a_zip_without_digit_folders_is_one_sentence():
    with pytest.raises(DigitLabError, match="no images in digit folders"):
        uploads.read_digit_zip(zipped([("a.png", png()), ("12/b.png", png())]))


def test_uploads_are_a_zip_alone_or_images_with_one_csv():
    csv = b"file,label\na.png,1\nb.png,2\n"
    items, left_out = uploads.labelled_uploads(
        [("a.png", png()), ("b.png", png()), ("c.png", png()), ("l.csv", csv), ("x.txt", b"")]
    )
    assert [(i.file, i.label) for i in items] == [("a.png", 1), ("b.png", 2)]
    assert left_out == ["c.png", "x.txt"]
    items, left_out = uploads.labelled_uploads([("d.zip", zipped([("4/a.png", png())]))])
    assert [i.label for i in items] == [4] and left_out == []
    for files, message in [
        ([], "Upload a zip"),
        ([("a.png", png())], "Add one labels CSV"),
        ([("l.csv", csv)], "Add the images"),
        ([("a.png", png()), ("l.csv", csv), ("m.csv", csv)], "one labels CSV, not several"),
        ([("d.zip", b""), ("a.png", png())], "zip on its own"),
    ]:
        with pytest.raises(DigitLabError, match=message):
            uploads.labelled_uploads(files)
