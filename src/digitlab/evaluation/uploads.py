"""People's own labelled digits, uploaded: a zip of ``0/``...``9/`` folders, or images plus a
labels CSV, turned into ``LabelledImage`` items that carry their bytes (for ``evaluate_folder``).

A zip comes from a stranger, so it is read with caps and never extracted to disk: a bounded
number of members, bounded sizes (each member read at most its cap plus one byte, whatever its
header claims, so a zip bomb stops early), stored or deflated members only, and no encrypted
members, symbolic links or names that climb out of the archive. Anything else is one sentence.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import PurePosixPath

from digitlab.errors import DigitLabError
from digitlab.evaluation.folder import (
    IMAGE_SUFFIXES,
    LabelledImage,
    labelled_by_csv,
)
from digitlab.imaging.decode import MAX_FILE_BYTES

MAX_MEMBERS = 5_000  # folders included: a class's scans are hundreds
MAX_MEMBER_BYTES = 10 * 1024 * 1024  # one digit image, uncompressed
MAX_TOTAL_BYTES = 200 * 1024 * 1024  # every member together, uncompressed
MAX_RATIO = 200  # uncompressed / compressed: photos and PNGs barely shrink, bombs shrink 1000x
MAX_ZIP_BYTES = MAX_FILE_BYTES * 4
MAX_UPLOADED_FILES = 1_000  # images plus their CSV, in one pick
MAX_UPLOADED_BYTES = 200 * 1024 * 1024
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
SKIPPED_FOLDERS = ("__MACOSX",)


def read_digit_zip(data: bytes, name: str = "The zip") -> list[LabelledImage]:
    """The images of a zip laid out as ``<digit>/<image>`` (optionally inside one top folder,
    as zipping a folder makes it), each labelled by its folder, with its bytes.

    Raises ``DigitLabError`` with one sentence for a zip that is not one, breaks a cap, or
    holds no digit folders. Hidden files and files that are not images are skipped."""
    if len(data) > MAX_ZIP_BYTES:
        raise DigitLabError(f"{name} is too large (over {MAX_ZIP_BYTES // 2**20} MB).")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise DigitLabError(f"{name} is not a zip file we can read.") from None
    with archive:
        members = archive.infolist()
        check_members(members, name)
        chosen = digit_members(members)
        if not chosen:
            raise DigitLabError(
                f"{name} has no images in digit folders 0-9 (like 3/a.png or digits/3/a.png)."
            )
        return read_members(archive, chosen, name)


def check_members(members: list[zipfile.ZipInfo], name: str) -> None:
    """Refuse the whole zip, in one sentence, if any member is hostile or too big."""
    if len(members) > MAX_MEMBERS:
        raise DigitLabError(
            f"{name} has {len(members):,} entries; the limit is {MAX_MEMBERS:,}, so split it."
        )
    claimed = 0
    for member in members:
        shown = repr(member.filename[:80])
        if member.flag_bits & 0x1:
            raise DigitLabError(f"{name} has an encrypted entry ({shown}); zip it without a "
                                "password.")  # fmt: skip
        if stat.S_ISLNK(member.external_attr >> 16):
            raise DigitLabError(f"{name} has a symbolic link ({shown}); zip the files themselves.")
        if not safe_name(member.filename):
            raise DigitLabError(f"{name} has an entry outside its folder ({shown}).")
        if member.compress_type not in COMPRESSIONS:
            raise DigitLabError(f"{name} uses a compression we do not read ({shown}); "
                                "zip it with the usual (deflate) compression.")  # fmt: skip
        if member.file_size > MAX_MEMBER_BYTES:
            raise DigitLabError(f"{name} has an entry over {MAX_MEMBER_BYTES // 2**20} MB "
                                f"({shown}); a digit image is far smaller.")  # fmt: skip
        if member.file_size > MAX_RATIO * max(member.compress_size, 1024):
            raise DigitLabError(f"{name} has an entry that expands {MAX_RATIO}x or more "
                                f"({shown}): not a digit image.")  # fmt: skip
        claimed += member.file_size
    if claimed > MAX_TOTAL_BYTES:
        raise DigitLabError(f"{name} expands to over {MAX_TOTAL_BYTES // 2**20} MB; split it.")


def safe_name(filename: str) -> bool:
    """A relative name that stays inside the archive (no ``..``, root, drive or NUL)."""
    if "\x00" in filename or "\\" in filename or filename.startswith("/"):
        return False
    parts = PurePosixPath(filename).parts
    return ".." not in parts and not (parts and ":" in parts[0])


def digit_members(members: list[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo, int]]:
    """The image members under a digit folder (``3/a.png`` or ``top/3/a.png``), with labels."""
    chosen = []
    for member in members:
        parts = PurePosixPath(member.filename).parts
        if member.is_dir() or any(p.startswith(".") or p in SKIPPED_FOLDERS for p in parts):
            continue
        if PurePosixPath(member.filename).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if len(parts) in (2, 3) and len(parts[-2]) == 1 and parts[-2] in "0123456789":
            chosen.append((member, int(parts[-2])))
    return chosen


def read_members(
    archive: zipfile.ZipFile, chosen: list[tuple[zipfile.ZipInfo, int]], name: str
) -> list[LabelledImage]:
    """Each chosen member's bytes, read at most its cap plus one byte (headers can lie)."""
    items, total = [], 0
    for member, label in chosen:
        shown = repr(member.filename[:80])
        try:
            with archive.open(member) as file:
                data = file.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
            raise DigitLabError(f"{name} is damaged ({shown} cannot be read).") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise DigitLabError(f"{name} has an entry over {MAX_MEMBER_BYTES // 2**20} MB "
                                f"({shown}); a digit image is far smaller.")  # fmt: skip
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise DigitLabError(f"{name} expands to over {MAX_TOTAL_BYTES // 2**20} MB; split it.")
        items.append(LabelledImage(member.filename, None, label, data=data))
    return items


def labelled_uploads(files: list[tuple[str, bytes]]) -> tuple[list[LabelledImage], list[str]]:
    """Uploaded ``(name, bytes)`` files -> labelled images, and the names left out.

    Either one zip of digit folders, or images plus exactly one labels CSV (``file,label
    [,kind]``); anything else is one sentence saying what to upload."""
    zips = [(n, d) for n, d in files if n.lower().endswith(".zip")]
    csvs = [(n, d) for n, d in files if n.lower().endswith(".csv")]
    images = {n: d for n, d in files if n.lower().endswith(IMAGE_SUFFIXES)}
    others = [n for n, _ in files if n not in images and not n.lower().endswith((".zip", ".csv"))]
    if not files:
        raise DigitLabError("Upload a zip of digit folders 0-9, or images with a labels CSV.")
    if len(files) > MAX_UPLOADED_FILES:
        raise DigitLabError(f"That is {len(files):,} files; upload at most "
                            f"{MAX_UPLOADED_FILES:,} at once, or one zip.")  # fmt: skip
    if sum(len(d) for _, d in files) > MAX_UPLOADED_BYTES:
        raise DigitLabError(f"These files are over {MAX_UPLOADED_BYTES // 2**20} MB together; "
                            "upload fewer.")  # fmt: skip
    if zips:
        if len(files) > 1:
            raise DigitLabError("Upload the zip on its own (its folders 0-9 give the labels).")
        return read_digit_zip(zips[0][1], zips[0][0]), []
    if len(csvs) != 1:
        raise DigitLabError(
            "Add one labels CSV (columns file,label and optionally kind) to label the images."
            if not csvs
            else "Upload one labels CSV, not several."
        )
    if not images:
        raise DigitLabError("Add the images the labels CSV lists.")
    items, unlisted = labelled_by_csv(csvs[0][1], images, csvs[0][0])
    return items, unlisted + others
