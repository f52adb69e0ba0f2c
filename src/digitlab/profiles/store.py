"""Personal profiles: where a person's taught digits are kept, and how.

A profile is a named, local collection of 28x28 digits, each taught with its true label. It
lives in ``$XDG_DATA_HOME/digitlab/profiles/NAME/profile.npz`` (else
``~/.local/share/digitlab/profiles/NAME``): one npz holding the images and a JSON manifest,
never pickle, written through ``data.write_atomic`` under a file lock, so two processes
teaching at once both keep their digits. The same file is what ``export`` writes and
``import_profile`` reads (after checking it).

How the models answer through a profile is ``digitlab.profiles.adapt``.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from digitlab.data.mnist import remove_stale_partials, write_atomic
from digitlab.errors import DigitLabError
from digitlab.imaging.features import as_image28
from digitlab.models.artifacts import json_depth

FORMAT = "digitlab-profile"
VERSION = 1
FILE_NAME = "profile.npz"
LOCK_NAME = ".lock"
MAX_SAMPLES = 1000  # 100 of each digit: far more than teaching needs; bounds memory and time
MAX_FILE_BYTES = 16 * 1024 * 1024  # 1,000 float32 28x28 images are 3.1 MB uncompressed
TOO_BIG = f"over {MAX_FILE_BYTES // 2**20} MiB"
MAX_SOURCE_CHARS = 200
MAX_MANIFEST_BYTES = 1 << 20  # 1,000 samples' id, digit, source and time: about 300 KB
MAX_JSON_DEPTH = 8  # the manifest is a dict of a list of dicts
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
NAME_RULE = "1-40 letters, digits, '-' or '_', starting with a letter or digit"


class ProfileError(DigitLabError, ValueError):
    """A bad profile name, a damaged or foreign profile file, or a profile that is full."""


@dataclass(frozen=True)
class Sample:
    """One taught digit: its id in the profile, the digit, where it came from, when."""

    id: int
    digit: int
    source: str
    taught_at: str


@dataclass(frozen=True)
class ProfileData:
    """A profile's content: samples (in teaching order) and their 28x28 float32 images."""

    samples: tuple[Sample, ...]
    images: np.ndarray
    next_id: int

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.digit for s in self.samples], np.int64)


EMPTY = ProfileData((), np.zeros((0, 28, 28), np.float32), 1)


# ---------------------------------------------------------------------------------------------
# Where profiles live, and their names


def profiles_dir() -> Path:
    """``$XDG_DATA_HOME/digitlab/profiles`` (an absolute XDG_DATA_HOME), else ~/.local/share."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "digitlab" / "profiles"


def check_name(name: str) -> str:
    """``name`` if it is a usable profile name, else ``ProfileError`` (one sentence)."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ProfileError(f"{name!r} is not a usable profile name: use {NAME_RULE}.")
    return name


def profile_names() -> list[str]:
    """The names of the profiles on disk, sorted."""
    root = profiles_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if NAME_PATTERN.fullmatch(p.name) and (p / FILE_NAME).is_file())  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The file: an npz of images + a JSON manifest, checked on every read


def encode_profile(name: str, content: ProfileData) -> bytes:
    manifest = {"format": FORMAT, "version": VERSION, "name": name, "next_id": content.next_id,
                "samples": [vars(s) for s in content.samples]}  # fmt: skip
    manifest_bytes = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, images=content.images.astype(np.float32), manifest=manifest_bytes)
    return buf.getvalue()


def decode_profile(raw: bytes, what: str) -> ProfileData:
    """The content of a profile file's bytes; ``ProfileError`` naming ``what`` if unsound.

    Decoded defensively, as a hostile file would be: only stored or deflated, unencrypted
    members; each npy header checked before anything is allocated; the manifest's JSON
    nested at most ``MAX_JSON_DEPTH`` deep."""
    problem = "it is not a DigitLab profile file"
    try:
        members = read_members(raw)
        images = npy_array(members["images.npy"], np.float32, (MAX_SAMPLES, 28, 28))
        manifest_bytes = npy_array(members["manifest.npy"], np.uint8, (MAX_MANIFEST_BYTES,))
        manifest = shallow_json(manifest_bytes.tobytes(), MAX_JSON_DEPTH)
        return checked_content(manifest, images)
    except ProfileError as err:
        problem = str(err)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error,
            RecursionError):  # fmt: skip
        pass
    raise ProfileError(f"{what} is damaged ({problem}); reset it or import a good copy.")


def read_members(raw: bytes) -> dict[str, bytes]:
    """The two members of a profile's zip, refusing anything else before decompressing: other
    members, encryption, compression other than stored or deflate, sizes past the cap."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
        if sorted(info.filename for info in infos) != ["images.npy", "manifest.npy"]:
            raise ProfileError("it is not a DigitLab profile file")
        for info in infos:
            if info.flag_bits & 0x1:
                raise ProfileError(f"its member {info.filename} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ProfileError(f"its member {info.filename} is compressed in an unknown way")
            # Checked before decompressing anything: a small file must not inflate to gigabytes.
            if info.file_size > MAX_FILE_BYTES:
                raise ProfileError(f"its member {info.filename} inflates {TOO_BIG}")
        members = {}
        for info in infos:
            with archive.open(info) as member:
                members[info.filename] = member.read(MAX_FILE_BYTES + 1)
            if len(members[info.filename]) > MAX_FILE_BYTES:
                raise ProfileError(f"its member {info.filename} inflates {TOO_BIG}")
        return members


def npy_array(raw: bytes, dtype: type, most: tuple[int, ...]) -> np.ndarray:
    """The array of an npy file's bytes, if its header says ``dtype`` (little-endian, C order)
    and a shape of ``len(most)`` dimensions within ``most``: the header is read and checked
    first, so a header claiming terabytes allocates nothing."""
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, found = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, found = np.lib.format.read_array_header_2_0(f)
    else:
        raise ProfileError(f"its arrays are in an unknown npy version {version}")
    expected = np.dtype(dtype).newbyteorder("<")
    if found != expected or fortran or len(shape) != len(most):
        raise ProfileError(f"an array is {found} {shape}, not {np.dtype(dtype).name}")
    if any(not 0 <= n <= cap for n, cap in zip(shape, most, strict=True)):
        raise ProfileError(f"an array's shape {shape} is larger than a profile's")
    data = raw[f.tell() :]
    if len(data) != int(np.prod(shape)) * expected.itemsize:
        raise ProfileError("an array's data does not match its header")
    return np.frombuffer(data, expected).reshape(shape).astype(dtype)


def shallow_json(raw: bytes, max_depth: int) -> object:
    """``json.loads(raw)``, refusing documents nested deeper than ``max_depth`` (before parsing:
    Python's parser recurses once per level)."""
    text = raw.decode()
    if json_depth(text) > max_depth:
        raise ProfileError(f"its manifest is nested deeper than {max_depth} levels")
    return json.loads(text)


def checked_content(manifest: object, images: np.ndarray) -> ProfileData:
    """The manifest and images as ``ProfileData``, or ``ProfileError`` saying what is wrong."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProfileError("it is not a DigitLab profile file")
    if manifest.get("version") != VERSION:
        raise ProfileError(f"its format version {manifest.get('version')!r} is not {VERSION}")
    rows = manifest.get("samples")
    if not isinstance(rows, list) or len(rows) > MAX_SAMPLES:
        raise ProfileError(f"its sample list is missing or longer than {MAX_SAMPLES}")
    if images.dtype != np.float32 or images.shape != (len(rows), 28, 28):
        raise ProfileError(f"its images are not {len(rows)} float32 28x28 images")
    if not np.isfinite(images).all() or images.min(initial=0) < 0 or images.max(initial=0) > 1:
        raise ProfileError("its images are not all in [0, 1]")
    samples = tuple(checked_sample(row) for row in rows)
    next_id = manifest.get("next_id")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids) or not isinstance(next_id, int) or next_id <= max(ids, default=0):
        raise ProfileError("its sample ids are not unique and increasing")
    return ProfileData(samples, images, next_id)


def checked_sample(row: object) -> Sample:
    fields = {"id", "digit", "source", "taught_at"}
    if not isinstance(row, dict) or set(row) != fields:
        raise ProfileError("a sample has the wrong fields")
    ok = (isinstance(row["id"], int) and row["id"] > 0 and row["digit"] in range(10)
          and isinstance(row["source"], str) and len(row["source"]) <= MAX_SOURCE_CHARS
          and isinstance(row["taught_at"], str) and len(row["taught_at"]) <= 40)  # fmt: skip
    if not ok or isinstance(row["digit"], bool):
        raise ProfileError("a sample's id, digit, source or time is not valid")
    return Sample(**row)


def read_capped(path: Path) -> bytes:
    """A file's bytes, refusing anything larger than a profile can be."""
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise ProfileError(f"{path.name} is larger than a profile can be ({TOO_BIG}).")
    return raw


# ---------------------------------------------------------------------------------------------
# Profile: open/create by name, teach, forget, list


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Profile:
    """A named collection of taught digits, on disk (``Profile.open``) or in memory only
    (``Profile.in_memory``: the app's demo mode, benchmarks). Always read fresh from disk, so
    several processes and app sessions see each other's teaching."""

    def __init__(self, name: str, directory: Path | None):
        self.name = check_name(name)
        self.directory = directory
        self._memory = EMPTY
        self._cached: tuple[tuple, ProfileData] | None = None

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, name: str, create: bool = True) -> Profile:
        """The profile ``name`` on disk; created (empty) on first teaching unless ``create``
        is False, in which case a profile that does not exist is an error."""
        profile = cls(name, profiles_dir() / check_name(name))
        if not create and not profile.exists():
            known = ", ".join(profile_names()) or "none yet"
            raise ProfileError(f"There is no profile {name!r} (profiles: {known}).")
        return profile

    @classmethod
    def in_memory(cls, name: str = "demo") -> Profile:
        return cls(name, None)

    @property
    def path(self) -> Path | None:
        return None if self.directory is None else self.directory / FILE_NAME

    def exists(self) -> bool:
        return self.path is None or self.path.is_file()

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, {len(self)} digits)"

    # -- reading ----------------------------------------------------------------------------
    def content(self) -> ProfileData:
        """What the profile holds now (re-read only when its file changed)."""
        if self.path is None:
            return self._memory
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return EMPTY
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cached is None or self._cached[0] != stamp:
            raw = read_capped(self.path)
            self._cached = (stamp, decode_profile(raw, f"Profile {self.name!r}"))
        return self._cached[1]

    def samples(self) -> list[Sample]:
        return list(self.content().samples)

    def images(self) -> np.ndarray:
        """The taught 28x28 images, float32 [N,28,28], in the order of ``samples()``."""
        return self.content().images

    def __len__(self) -> int:
        return len(self.content().samples)

    def counts(self) -> dict[int, int]:
        """How many digits of each class are taught: {0: n0, ..., 9: n9}."""
        labels = self.content().labels
        return {d: int((labels == d).sum()) for d in range(10)}

    # -- changing (read, change, write under the lock) ---------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self.directory is None:
            yield
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_NAME, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel however we exit
            remove_stale_partials(self.directory)  # left by a writer that was killed
            yield

    def _update(self, change, read: bool = True) -> ProfileData:
        """Apply ``change(ProfileData) -> ProfileData`` to the current content, atomically
        (``read=False``: to an empty one, without reading the file, which may be damaged)."""
        with self._locked():
            self._cached = None  # another process may have written since we last looked
            updated = change(self.content() if read else EMPTY)
            if self.path is None:
                self._memory = updated
            else:
                self._write(encode_profile(self.name, updated))
        return updated

    def _write(self, raw: bytes) -> None:
        """Replace the profile file by ``raw`` (all or nothing); a full disk is one sentence."""
        try:
            write_atomic(self.path, raw)
        except OSError as err:  # write_atomic leaves the old file and no temp file behind
            try:
                kept = f"it still holds its {len(self)} digits"
            except ProfileError:
                kept = "it is unchanged"
            raise ProfileError(f"Profile {self.name!r} could not be saved "
                               f"({err.strerror or err}); {kept}.") from None  # fmt: skip

    def teach(self, image, digit: int, source: str = "") -> Sample:
        """Teach that ``image`` (a path, bytes, PIL image or array, as ``digitlab.predict``
        takes) shows ``digit``. The image goes through ``digitlab.preprocess``."""
        from digitlab.imaging.pipeline import preprocess

        return self.teach_preprocessed([preprocess(image)], [digit], [source])[0]

    def teach_preprocessed(
        self, images28: Sequence[np.ndarray], digits: Sequence[int], sources: Sequence[str] = ()
    ) -> list[Sample]:
        """Teach already-preprocessed 28x28 images, all in one write."""
        sources = list(sources) or [""] * len(images28)
        checked = [as_image28(image) for image in images28]
        for digit in digits:
            if isinstance(digit, bool) or int(digit) != digit or not 0 <= int(digit) <= 9:
                raise ProfileError(f"{digit!r} is not a digit 0-9.")
        added: list[Sample] = []

        def add(current: ProfileData) -> ProfileData:
            if len(current.samples) + len(checked) > MAX_SAMPLES:
                raise ProfileError(
                    f"Profile {self.name!r} holds {len(current.samples)} digits and keeps at "
                    f"most {MAX_SAMPLES}; forget some first."
                )
            stamp = now()
            added[:] = [Sample(current.next_id + i, int(d), str(s)[:MAX_SOURCE_CHARS], stamp)
                        for i, (d, s) in enumerate(zip(digits, sources, strict=True))]  # fmt: skip
            images = np.concatenate([current.images, np.stack(checked)]) if checked else (
                current.images)  # fmt: skip
            return ProfileData(current.samples + tuple(added), images,
                               current.next_id + len(added))  # fmt: skip

        self._update(add)
        return added

    def forget(self, ids: int | Sequence[int] = (), digit: int | None = None) -> int:
        """Forget the samples with these ids, or every sample of ``digit``; returns how many."""
        wanted = {ids} if isinstance(ids, int) else set(ids)
        removed = [0]

        def drop(current: ProfileData) -> ProfileData:
            keep = [not (s.id in wanted or s.digit == digit) for s in current.samples]
            removed[0] = keep.count(False)
            samples = tuple(s for s, k in zip(current.samples, keep, strict=True) if k)
            return ProfileData(samples, current.images[np.array(keep, bool)], current.next_id)

        self._update(drop)
        return removed[0]

    def reset(self) -> int:
        """Forget every taught digit (a damaged profile file is replaced); returns how many."""
        try:
            count = len(self)
        except ProfileError:
            count = 0
        self._update(lambda current: EMPTY, read=False)
        return count

    # -- one portable file -----------------------------------------------------------------
    def export_bytes(self) -> bytes:
        return encode_profile(self.name, self.content())

    def export(self, path: str | os.PathLike, overwrite: bool = False) -> int:
        """Write the profile as one portable file (the same checked npz); returns the count.

        Only a regular file is ever replaced, and only with ``overwrite``: a link, a FIFO, a
        device or a folder at ``path`` is refused with one sentence (``export_target``)."""
        path = export_target(Path(path), overwrite)
        raw = self.export_bytes()
        try:
            write_atomic(path, raw)
        except OSError as err:
            raise ProfileError(f"{path} cannot be written ({err.strerror or err}).") from None
        return len(self)

    def import_bytes(self, raw: bytes, what: str = "The file") -> int:
        """Replace this profile's content by a checked exported file's; returns the count.

        A profile that already holds digits is not overwritten (reset it first)."""
        if len(raw) > MAX_FILE_BYTES:
            raise ProfileError(f"{what} is larger than a profile can be ({TOO_BIG}).")
        content = decode_profile(raw, what)

        def replace(current: ProfileData) -> ProfileData:
            if current.samples:
                raise ProfileError(
                    f"Profile {self.name!r} already holds {len(current.samples)} digits; "
                    "reset it first or import under another name."
                )
            return content

        return len(self._update(replace).samples)


def export_target(path: Path, overwrite: bool) -> Path:
    """``path`` if an export may write there: nothing there yet (in an existing folder), or a
    regular file and ``overwrite``; else ``ProfileError`` saying why not."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise ProfileError(
                f"{path} cannot be written: {path.parent} is not a folder."
            ) from None
        return path
    except OSError as err:
        raise ProfileError(f"{path} cannot be written ({err.strerror or err}).") from None
    if stat.S_ISDIR(mode):
        raise ProfileError(f"{path} is a folder; give a file name to export to.")
    if not stat.S_ISREG(mode):
        raise ProfileError(f"{path} is not a regular file (a link, device or pipe); "
                           "export to a file, or to - for standard output.")  # fmt: skip
    if not overwrite:
        raise ProfileError(f"{path} already exists; use --force to replace it.")
    return path


def resolve_profile(profile: Profile | str | None) -> Profile | None:
    """A ``Profile``, or the name of one on disk (which must exist), or None."""
    if profile is None or isinstance(profile, Profile):
        return profile
    return Profile.open(profile, create=False)
