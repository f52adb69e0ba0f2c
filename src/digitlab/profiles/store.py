"""Personal profiles: a person's taught digits, and every model adapting to them at once.

A profile is a named, local collection of 28x28 digits, each taught with its true label. It
lives in ``$XDG_DATA_HOME/digitlab/profiles/NAME/profile.npz`` (else
``~/.local/share/digitlab/profiles/NAME``): one npz holding the images and a JSON manifest,
never pickle, written through ``data.write_atomic`` under a file lock, so two processes
teaching at once both keep their digits. The same file is what ``export`` writes and
``import_profile`` reads (after checking it).

How the models adapt, with no retraining (``ProfiledModel``): each model embeds images in the
space it decides in (``model.embed``: k-NN's PCA features, the networks' penultimate layer,
logistic regression's deskewed pixels). The taught digits are prototypes in that space. For
an image, each taught digit votes for its label with a weight that falls with distance
(``exp(-d^2 / r^2)``); the share of the taught digits' vote in the answer is
``W / (W + prior)`` where ``W`` is the sum of the weights. A taught digit's radius ``r`` is
the model's ``radius``, but at most ``guard`` times its distance to the nearest MNIST
training digit of another class: it claims only the space MNIST's other digits leave free.
So:

- an empty profile, or an image farther than 3 radii from every taught digit, gets the base
  model's answer exactly (the weight is cut to zero there);
- a taught image gets weight 1 from itself and comes back as taught (``prior < 1``);
- influence stays local: ``radius``, ``guard`` and ``prior`` are chosen per model on
  simulated writers built from MNIST validation digits (``benchmarks/choose_profile_blend.py``)
  so that one writer's profile costs MNIST's validation digits at most 0.1 point.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import re
import weakref
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np

from digitlab.contract import split_not_digit
from digitlab.data.mnist import write_atomic
from digitlab.errors import DigitLabError, ModelError

FORMAT = "digitlab-profile"
VERSION = 1
FILE_NAME = "profile.npz"
LOCK_NAME = ".lock"
MAX_SAMPLES = 1000  # 100 of each digit: far more than teaching needs; bounds memory and time
MAX_FILE_BYTES = 16 * 1024 * 1024  # 1,000 float32 28x28 images are 3.1 MB uncompressed
TOO_BIG = f"over {MAX_FILE_BYTES // 2**20} MiB"
MAX_SOURCE_CHARS = 200
CUTOFF = 3.0  # a taught digit's weight is exp(-9) at 3 radii; beyond that it has none
REFERENCE_PER_DIGIT = 200  # MNIST training digits of each class that bound a taught digit's reach
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
NAME_RULE = "1-40 letters, digits, '-' or '_', starting with a letter or digit"

# Per model: the distance scale of a taught digit's influence, its bound in units of the
# distance to MNIST's nearest digit of another class, and the prior weight of the base
# model's answer. Chosen by ``benchmarks/choose_profile_blend.py`` on simulated writers made
# from MNIST validation digits (fewest errors with 5 taught digits per class, among the
# choices that cost MNIST's validation digits at most 0.1 point for every writer).
BLEND = {
    "logreg": {"radius": 2.716, "guard": 0.35, "prior": 0.03},
    "knn": {"radius": 1.75, "guard": 0.35, "prior": 0.03},
    "ann": {"radius": 3.601, "guard": 0.5, "prior": 0.03},
    "cnn": {"radius": 5.434, "guard": 0.5, "prior": 0.03},
}


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
    """The content of a profile file's bytes; ``ProfileError`` naming ``what`` if unsound."""
    problem = "it is not a DigitLab profile file"
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            sizes = {info.filename: info.file_size for info in archive.infolist()}
        # Checked before decompressing anything: a small file must not inflate to gigabytes.
        if set(sizes) != {"images.npy", "manifest.npy"} or max(sizes.values()) > MAX_FILE_BYTES:
            raise ValueError
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            images, manifest_bytes = npz["images"], npz["manifest"]
        manifest = json.loads(manifest_bytes.tobytes().decode())
        return checked_content(manifest, images)
    except ProfileError as err:
        problem = str(err)
    except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError):
        pass
    raise ProfileError(f"{what} is damaged ({problem}); reset it or import a good copy.")


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


def as_image28(image: np.ndarray) -> np.ndarray:
    """A preprocessed 28x28 image (uint8 0-255 or float [0,1]) as float32 [0,1]."""
    from digitlab.imaging.features import as_float_images

    x = np.asarray(image)
    if x.shape != (28, 28):
        raise ProfileError(f"A taught digit must be a 28x28 image, not {x.shape}.")
    return as_float_images(x[None])[0].astype(np.float32)


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
                write_atomic(self.path, encode_profile(self.name, updated))
        return updated

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

    def export(self, path: str | os.PathLike) -> int:
        """Write the profile as one portable file (the same checked npz); returns the count."""
        raw = self.export_bytes()
        write_atomic(Path(path), raw)
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


def resolve_profile(profile: Profile | str | None) -> Profile | None:
    """A ``Profile``, or the name of one on disk (which must exist), or None."""
    if profile is None or isinstance(profile, Profile):
        return profile
    return Profile.open(profile, create=False)


# ---------------------------------------------------------------------------------------------
# Adapting a model to a profile


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N,M] squared Euclidean distances between the rows of ``a`` and ``b``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = (a64**2).sum(1)[:, None] + (b64**2).sum(1)[None]
    d2 = norms - 2 * a64 @ b64.T
    # Identical rows give exactly 0 (not rounding noise): a taught image is found again
    # however small its radius (see ``blend_distances``).
    return np.where(d2 <= 1e-9 * norms, 0.0, d2)


def blend(
    base: np.ndarray, queries: np.ndarray, taught: np.ndarray, labels: np.ndarray,
    radii: np.ndarray | float, prior: float,
) -> np.ndarray:  # fmt: skip
    """The base probabilities [N,C] moved towards the taught digits' vote, for embeddings
    ``queries`` [N,D] and ``taught`` [M,D] (see ``blend_distances``)."""
    if len(taught) == 0:
        return np.asarray(base, np.float32)
    return blend_distances(base, squared_distances(queries, taught), labels, radii, prior)


def blend_distances(
    base: np.ndarray, d2: np.ndarray, labels: np.ndarray, radii: np.ndarray | float,
    prior: float,
) -> np.ndarray:  # fmt: skip
    """The base probabilities [N,C] moved towards the taught digits' vote.

    ``d2`` [N,M] are squared distances to the taught digits. Taught digit j votes for its
    label with weight ``exp(-d^2 / radii[j]^2)``, cut to zero beyond ``CUTOFF`` radii so that
    influence is strictly local; the vote's share is ``W / (W + prior)``. Rows with no taught
    digit within reach come back unchanged, bit for bit. At distance 0 the weight is 1 even
    for a radius of 0 (a taught digit that MNIST holds with another label): the very image
    taught comes back as taught.
    """
    base = np.asarray(base, np.float32)
    r2 = np.maximum(np.asarray(radii, np.float64), 1e-12) ** 2
    weights = np.where(d2 <= CUTOFF**2 * r2, np.exp(-d2 / r2), 0.0)
    votes = weights @ np.eye(base.shape[1])[labels]  # [N,C]; class 10 ("not a digit") gets none
    total = votes.sum(1, keepdims=True)
    share = total / (total + prior)
    adapted = (1 - share) * base + share * (votes / np.maximum(total, 1e-300))
    touched = total[:, 0] > 0
    out = base.copy()
    out[touched] = adapted[touched].astype(np.float32)
    return out


@cache
def reference_digits() -> tuple[np.ndarray, np.ndarray]:
    """The first ``REFERENCE_PER_DIGIT`` MNIST training digits of each class (images, labels)."""
    from digitlab.data.mnist import load_mnist

    images, labels = load_mnist("train")
    pick = np.concatenate([np.flatnonzero(labels == d)[:REFERENCE_PER_DIGIT] for d in range(10)])
    return images[pick], labels[pick].astype(np.int64)


_reference_embeddings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_embeddings(model) -> tuple[np.ndarray, np.ndarray]:
    """``reference_digits`` embedded by ``model`` (once per loaded model)."""
    if model not in _reference_embeddings:
        images, labels = reference_digits()
        _reference_embeddings[model] = (model.embed(images), labels)
    return _reference_embeddings[model]


def guarded_radii(model, taught: np.ndarray, labels: np.ndarray, params: dict) -> np.ndarray:
    """Each taught digit's radius: the model's ``radius``, but at most ``guard`` times the
    distance from the taught digit to the nearest MNIST digit of another class. A taught
    digit claims the space around it only as far as MNIST's own digits of other classes
    leave free: that is what keeps a profile from costing MNIST's digits."""
    ref, ref_labels = reference_embeddings(model)
    d2 = squared_distances(taught, ref)
    other = np.where(ref_labels[None] != labels[:, None], d2, np.inf).min(1)
    return np.minimum(params["radius"], params["guard"] * np.sqrt(other))


class ProfiledModel:
    """A model answering through a profile: the same interface as the model it wraps (``id``,
    ``config``, ``predict_proba``, ``predict_proba_all``, ``embed``), so callers never branch.

    The taught digits' embeddings are computed once per sample and kept while the profile
    changes (teaching one more digit embeds one image)."""

    def __init__(self, base, profile: Profile, blend_params: dict | None = None):
        self.base, self.profile = base, profile
        self.id = getattr(base, "id", type(base).__name__)
        self.config = getattr(base, "config", {})
        self.blend_params = blend_params or BLEND[self.id]
        self._embedded: dict[int, tuple[np.ndarray, float]] = {}

    def __getattr__(self, name: str):
        # Anything else (k-NN's neighbours, logistic regression's templates) is the base's.
        return getattr(self.__dict__["base"], name)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.base.embed(images)

    def taught(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings [M,D], labels [M], radii [M]) of the profile's digits."""
        content = self.profile.content()
        missing = [i for i, s in enumerate(content.samples) if s.id not in self._embedded]
        if missing:
            rows = self.base.embed(content.images[missing])
            labels = content.labels[missing]
            radii = guarded_radii(self.base, rows, labels, self.blend_params)
            for i, row, radius in zip(missing, rows, radii, strict=True):
                self._embedded[content.samples[i].id] = (row, radius)
        kept = [self._embedded[s.id] for s in content.samples]
        if not kept:
            return np.zeros((0, 1), np.float32), np.zeros(0, np.int64), np.zeros(0)
        return np.stack([e for e, _ in kept]), content.labels, np.array([r for _, r in kept])

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        base = self.base.predict_proba_all(images)
        if len(self.profile) == 0:
            return base
        return self.adapt(base, self.base.embed(images))

    def adapt(self, base: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """The base answers [N,C] for images embedded as ``queries`` [N,D], moved by the
        profile (``blend``); what ``predict_proba_all`` does after the base model's work."""
        taught, labels, radii = self.taught()
        return blend(base, queries, taught, labels, radii, self.blend_params["prior"])

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return split_not_digit(self.predict_proba_all(images))[0]


def with_profile(model, profile: Profile | str | None):
    """``model`` answering through ``profile`` (a Profile or a profile name); None: ``model``."""
    profile = resolve_profile(profile)
    if profile is None:
        return model
    if isinstance(model, ProfiledModel):
        model = model.base
    model_id = getattr(model, "id", type(model).__name__)
    if not hasattr(model, "embed") or model_id not in BLEND:
        raise ModelError(f"The model {model_id!r} cannot answer through a profile.")
    return ProfiledModel(model, profile)
