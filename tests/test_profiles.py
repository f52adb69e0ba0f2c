"""Personal profiles: storage that is safe and bounded, and all four real models adapting."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import digitlab
from digitlab.answers.inference import predict_preprocessed_batch
from digitlab.contract import answered_digits
from digitlab.data.mnist import load_mnist
from digitlab.models.registry import model_ids, model_spec
from digitlab.profiles import adapt
from digitlab.profiles import store as profiles
from digitlab.profiles.adapt import ProfiledModel, load_model
from digitlab.profiles.store import Profile, ProfileError
from digitlab.synth import writers
from digitlab.synth.writers import first_k_of_each, simulated_writer
from digitlab.training.data import training_data

SRC = Path(digitlab.__file__).resolve().parents[1]


# Each model's profile checks: the logistic regression's stay fast; the others' embed their
# reference set first (the CNN's takes seconds, the k-NN's builds its index), so they are slow.
LOGREG_FAST = [m if m == "logreg" else pytest.param(m, marks=pytest.mark.slow) for m in model_ids()]


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path


def mnist_digits(n: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST training digits from ``start`` as float [0,1] (never the test split)."""
    images, labels = load_mnist("train")
    pick = slice(start, start + n)
    return images[pick].astype(np.float32) / 255, labels[pick].astype(np.int64)


def paper_png(image28: np.ndarray, path: Path) -> Path:
    """A digit as dark ink on white paper, 4x larger, as a person's photo would be."""
    ink = Image.fromarray((255 - image28 * 255).astype(np.uint8)).resize((112, 112))
    ink.save(path)
    return path


# -- names, places, files ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 41, "naïve", "a b"])
def test_a_bad_name_is_one_sentence(name, data_home):
    with pytest.raises(ProfileError, match="is not a usable profile name: use 1-40"):
        Profile.open(name)


def test_profiles_live_under_xdg_data_home(data_home):
    images, labels = mnist_digits(3)
    profile = Profile.open("alice")
    assert not profile.exists() and len(profile) == 0
    profile.teach_preprocessed(images, labels, ["a.png", "b.png", "c.png"])
    assert profile.path == data_home / "digitlab" / "profiles" / "alice" / "profile.npz"
    again = Profile.open("alice", create=False)
    assert [s.digit for s in again.samples()] == labels.tolist()
    assert [s.source for s in again.samples()] == ["a.png", "b.png", "c.png"]
    assert np.array_equal(again.images(), images)
    assert profiles.profile_names() == ["alice"]


def test_without_xdg_data_home_profiles_go_to_local_share(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert profiles.profiles_dir() == tmp_path / ".local" / "share" / "digitlab" / "profiles"


def test_a_missing_profile_is_one_sentence(data_home):
    Profile.open("bob").teach_preprocessed(*mnist_digits(1))
    with pytest.raises(ProfileError, match=r"There is no profile 'carol' \(profiles: bob\)"):
        Profile.open("carol", create=False)


def test_teach_runs_the_one_pipeline(data_home, tmp_path):
    images, labels = mnist_digits(1)
    path = paper_png(images[0], tmp_path / "seven.png")
    sample = Profile.open("alice").teach(path, int(labels[0]), "seven.png")
    assert np.array_equal(Profile.open("alice").images()[0], digitlab.preprocess(path))
    assert (sample.id, sample.digit) == (1, int(labels[0]))


def test_teach_refuses_a_blank_image_and_a_bad_digit(data_home):
    profile = Profile.open("alice")
    with pytest.raises(digitlab.NoDigitError):
        profile.teach(np.full((50, 50), 255, np.uint8), 3)
    with pytest.raises(ProfileError, match="not a digit 0-9"):
        profile.teach_preprocessed(*mnist_digits(1)[:1], [10])
    assert len(profile) == 0


def test_forget_by_id_and_by_digit_then_reset(data_home):
    images, labels = mnist_digits(20)
    profile = Profile.open("alice")
    samples = profile.teach_preprocessed(images, labels)
    assert profile.forget(samples[0].id) == 1
    ones = int((labels[1:] == 1).sum())
    assert ones and profile.forget(digit=1) == ones
    assert 1 not in [s.digit for s in profile.samples()] and profile.counts()[1] == 0
    kept = [s.id for s in profile.samples()]
    assert np.array_equal(profile.images(), images[np.isin([s.id for s in samples], kept)])
    assert profile.reset() == len(kept) and len(profile) == 0
    # ids are never reused: a forgotten id names nothing new
    assert profile.teach_preprocessed(images[:1], labels[:1])[0].id == 1


def test_a_profile_is_bounded(data_home, monkeypatch):
    monkeypatch.setattr(profiles, "MAX_SAMPLES", 5)
    profile = Profile.open("alice")
    profile.teach_preprocessed(*mnist_digits(5))
    with pytest.raises(ProfileError, match="keeps at most 5; forget some first"):
        profile.teach_preprocessed(*mnist_digits(1))
    assert len(profile) == 5


def damaged(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "raw",
    [b"not a zip at all", zipped({"images.npy": b"x", "manifest.npy": b"y", "evil.npy": b"z"}),
     zipped({"images.npy": bytes(profiles.MAX_FILE_BYTES + 1), "manifest.npy": b"y"})],
    ids=["garbage", "extra-member", "inflates-too-far"],
)  # fmt: skip
def test_a_damaged_profile_is_one_sentence_and_reset_mends_it(data_home, raw):
    profile = Profile.open("alice")
    damaged(profile.path, raw)
    with pytest.raises(ProfileError, match=r"^Profile 'alice' is damaged \(.*\); reset it"):
        len(profile)
    with pytest.raises(ProfileError, match="damaged"):
        digitlab.predict(paper_png(mnist_digits(1)[0][0], data_home / "d.png"), profile="alice")
    profile.reset()
    assert len(profile) == 0


def tampered(raw: bytes, change) -> bytes:
    """An exported profile with its manifest or images changed by ``change``."""
    with np.load(io.BytesIO(raw)) as npz:
        images, manifest = npz["images"], npz["manifest"].tobytes().decode()
    images, manifest = change(images, manifest)
    buf = io.BytesIO()
    np.savez(buf, images=images, manifest=np.frombuffer(manifest.encode(), np.uint8))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("change", "problem"),
    [(lambda i, m: (i, m.replace('"digit": 7', '"digit": 11')), "digit"),
     (lambda i, m: (i * 2, m), r"in \[0, 1\]"),
     (lambda i, m: (i[:1], m), "28x28 images"),
     (lambda i, m: (i, m.replace("digitlab-profile", "other")), "not a DigitLab profile"),
     (lambda i, m: (i, m.replace('"version": 1', '"version": 9')), "version 9")],
)  # fmt: skip
def test_import_checks_the_file(data_home, tmp_path, change, problem):
    source = Profile.open("alice")
    images, labels = mnist_digits(3)
    source.teach_preprocessed(images, [7, 7, 7])
    raw = tampered(source.export_bytes(), change)
    with pytest.raises(ProfileError, match=f"^bad.npz is damaged \\(.*{problem}"):
        Profile.open("bob").import_bytes(raw, "bad.npz")
    assert not Profile.open("bob").exists()


def test_export_import_round_trip_and_no_overwrite(data_home, tmp_path):
    images, labels = mnist_digits(10)
    Profile.open("alice").teach_preprocessed(images, labels)
    Profile.open("alice").export(tmp_path / "alice.npz")
    bob = Profile.open("bob")
    assert bob.import_bytes((tmp_path / "alice.npz").read_bytes()) == 10
    assert np.array_equal(bob.images(), images) and bob.counts() == Profile.open("alice").counts()
    with pytest.raises(ProfileError, match="already holds 10 digits; reset it first"):
        bob.import_bytes((tmp_path / "alice.npz").read_bytes())


TEACHER = """
import sys, numpy as np
from digitlab.profiles.store import Profile
profile = Profile.open("shared")
for i in range(int(sys.argv[1])):
    profile.teach_preprocessed([np.full((28, 28), 0.5, np.float32)], [int(sys.argv[2])])
"""


@pytest.mark.slow  # two processes, about 10 s
def test_two_processes_teaching_at_once_keep_every_digit(data_home):
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    teachers = [subprocess.Popen([sys.executable, "-c", TEACHER, "25", str(d)], env=env)
                for d in (3, 8)]  # fmt: skip
    assert [t.wait(timeout=120) for t in teachers] == [0, 0]
    profile = Profile.open("shared", create=False)
    assert profile.counts()[3] == 25 and profile.counts()[8] == 25
    assert len({s.id for s in profile.samples()}) == 50


# -- the models adapting -------------------------------------------------------------------


@pytest.mark.parametrize("model_id", LOGREG_FAST)
def test_an_empty_profile_gives_the_base_answers_bit_for_bit(model_id):
    images, _ = mnist_digits(300)
    base = load_model(model_id)
    profiled = load_model(model_id, profile=Profile.in_memory())
    assert isinstance(profiled, ProfiledModel) and profiled.id == model_id
    assert profiled.config is base.config
    assert np.array_equal(profiled.predict_proba_all(images), base.predict_proba_all(images))


@pytest.mark.parametrize("start", [0, 30_000], ids=["in-the-reference-set", "beyond-it"])
@pytest.mark.parametrize("model_id", LOGREG_FAST)
def test_a_taught_image_comes_back_as_taught_even_against_the_model(model_id, start):
    images, labels = mnist_digits(20, start)
    wrong_labels = (labels + 1) % 10  # what the base model would never answer
    profile = Profile.in_memory()
    profile.teach_preprocessed(images, wrong_labels)
    answers = predict_preprocessed_batch(list(images), load_model(model_id, profile=profile))
    assert [p.digit for p in answers] == wrong_labels.tolist()


@pytest.mark.parametrize("model_id", LOGREG_FAST)
def test_beyond_the_cutoff_the_answer_is_the_base_one_bit_for_bit(model_id):
    # Digits past the reference set (the first 200 of each class), which bounds the radii.
    images, labels = mnist_digits(400, start=30_000)
    profile = Profile.in_memory()
    profile.teach_preprocessed(images[:10], (labels[:10] + 1) % 10)
    base_model, profiled = load_model(model_id), load_model(model_id, profile=profile)
    taught, _, radii = profiled.taught()
    assert (radii <= model_spec(model_id).blend["radius"]).all()
    d2 = adapt.squared_distances(base_model.embed(images[10:]), taught)
    far = (d2 > (adapt.CUTOFF * radii) ** 2).all(1)
    assert far.mean() > 0.25  # many digits lie out of every taught digit's reach
    base = base_model.predict_proba_all(images[10:])
    adapted = profiled.predict_proba_all(images[10:])
    assert np.array_equal(adapted[far], base[far])
    assert not np.array_equal(adapted[~far], base[~far])


@pytest.fixture(scope="module")
def writer_and_probe():
    """A simulated writer and 1,000 other validation digits (what the blend was chosen on)."""
    data = training_data()
    order = np.random.default_rng(0).permutation(len(data.val_y))
    writer = simulated_writer(data.val_x, data.val_y, order[:1000], 25, seed=100)
    return writer, data.val_x[order[1000:2000]], data.val_y[order[1000:2000]]


@pytest.mark.parametrize("model_id", LOGREG_FAST)
def test_a_writers_profile_helps_them_and_costs_mnist_little(model_id, writer_and_probe):
    writer, probe_x, probe_y = writer_and_probe
    taught = first_k_of_each(writer.labels, 5)
    profile = Profile.in_memory()
    profile.teach_preprocessed(writer.images[taught], writer.labels[taught])
    base, profiled = load_model(model_id), load_model(model_id, profile=profile)

    def right(model, x, y) -> int:  # counted: 0.2 point of 1,000 is 2 digits, not a share
        return int((answered_digits(model.predict_proba_all(x), base.config) == y).sum())

    rest_x, rest_y = writer.images[~taught], writer.labels[~taught]
    assert right(profiled, rest_x, rest_y) >= right(base, rest_x, rest_y)
    assert right(base, probe_x, probe_y) - right(profiled, probe_x, probe_y) <= 0.002 * len(probe_y)


# ---------------------------------------------------------------------------------------------
# Simulated writers (``digitlab.synth.writers``): what the blends are chosen on


@pytest.fixture(scope="module")
def small_pool():
    """Validation images, labels and a pool of 300 of them (quick writers)."""
    data = training_data()
    return data.val_x, data.val_y, np.random.default_rng(0).permutation(len(data.val_y))[:300]


def test_a_writer_is_the_same_for_the_same_seed(small_pool):
    a, b = simulated_writer(*small_pool, 3, seed=7), simulated_writer(*small_pool, 3, seed=7)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert (a.styles, a.confusable, a.hand) == (b.styles, b.confusable, b.hand)
    other = simulated_writer(*small_pool, 3, seed=8)
    assert other.hand != a.hand and not np.array_equal(other.way_images, a.way_images)


def test_a_writers_labels_and_sources_are_right(small_pool):
    images, labels, pool = small_pool
    writer = simulated_writer(images, labels, pool, 4, seed=3)
    # Writing order: each digit's samples in turn, alternating its ways.
    assert np.array_equal(writer.labels, np.repeat(np.arange(10), 4))
    assert np.array_equal(writer.ways, np.tile([0, 1], 20))
    assert np.isin(writer.sources, pool).all()  # validation digits of the pool only
    for digit, sources in enumerate(writer.sources.reshape(10, writers.WAYS_PER_DIGIT)):
        drawn_from, shown_as, _ = writers.STYLES.get(writer.styles.get(digit), (None,) * 3)
        assert shown_as in (None, digit)
        assert (labels[sources] == (digit if drawn_from is None else drawn_from)).all()


def test_a_writer_keeps_their_hand_styles_and_ways_across_samples(small_pool):
    few, many = (simulated_writer(*small_pool, n, seed=5) for n in (2, 6))
    assert (few.hand, few.styles, few.confusable) == (many.hand, many.styles, many.confusable)
    assert np.array_equal(few.way_images, many.way_images)
    # Each sample (a wobbled way) is nearer to its own way in the writer's hand than to
    # another writer's ways of the same digit.
    other = simulated_writer(*small_pool, 2, seed=6)
    own = np.stack(writers.written_in(many.way_images.reshape(-1, 28, 28), many.hand))
    theirs = np.stack(writers.written_in(other.way_images.reshape(-1, 28, 28), other.hand))
    nearer = []
    for image, digit, way in zip(many.images, many.labels, many.ways, strict=True):
        to_own = ((image - own[digit * writers.WAYS_PER_DIGIT + way]) ** 2).sum()
        to_theirs = ((image - theirs.reshape(10, -1, 28, 28)[digit]) ** 2).sum((1, 2)).min()
        nearer.append(to_own < to_theirs)
    assert np.mean(nearer) >= 0.9


def test_most_writers_write_two_to_four_digits_in_a_style():
    counts = []
    for seed in range(200):
        styles = writers.writer_styles(np.random.default_rng(seed))
        counts.append(len(styles))
        for digit, name in styles.items():
            assert writers.STYLES[name][1] in (None, digit)
    assert min(counts) >= 1 and max(counts) <= 5
    assert 0.7 <= np.mean([2 <= c <= 4 for c in counts]) <= 0.9
    used = {name for seed in range(200) for name in writers.writer_styles(
        np.random.default_rng(seed)).values()}  # fmt: skip
    assert used == set(writers.STYLES)  # every style of the synthesiser is drawn


def test_a_confusable_way_looks_more_like_the_other_class_than_a_random_one(small_pool):
    images, labels, pool = small_pool
    means = writers.class_means(images, labels, pool)
    assert writers.look_alike(means[[9, 4]], means, 4, 9).argmin() == 0  # a 9-like 4 first
    checked = 0
    for seed in range(6):
        writer = simulated_writer(images, labels, pool, 1, seed=seed)
        for digit, other in writer.confusable.items():
            mine = writers.written_in(writer.way_images[digit], writer.hand)
            random = writers.written_in(images[pool[labels[pool] == digit][:20]], writer.hand)
            random = np.stack([r for r in random if r is not None])
            score = writers.look_alike(np.stack(mine), means, digit, other)
            assert score.max() <= np.median(writers.look_alike(random, means, digit, other))
            checked += 1
    assert checked >= 5


def test_teaching_changes_the_next_answer_without_a_reload(data_home):
    images, labels = mnist_digits(1)
    Profile.open("alice").teach_preprocessed(images, labels)
    model = load_model("cnn", profile="alice")
    assert model.predict_proba(images).argmax() == labels[0]
    # Another process (here another view of the file) teaches the same image as another digit
    # twice: the loaded model reads the profile as it is now.
    Profile.open("alice").teach_preprocessed(np.repeat(images, 2, 0), [(labels[0] + 3) % 10] * 2)
    assert len(model.profile) == 3
    assert model.predict_proba(images).argmax() == (labels[0] + 3) % 10


def test_predict_and_read_number_take_a_profile(data_home, tmp_path):
    images, labels = mnist_digits(5)
    path = paper_png(images[0], tmp_path / "digit.png")
    taught = (int(labels[0]) + 1) % 10
    Profile.open("alice").teach(path, taught)
    assert digitlab.predict(path, model="knn").digit == labels[0]
    assert digitlab.predict(path, model="knn", profile="alice").digit == taught
    assert digitlab.predict(path, model=load_model("knn"), profile="alice").digit == taught
    row = np.concatenate([images[0], np.zeros((28, 10)), images[1]], 1)
    row = np.pad(255 - row * 255, 20, constant_values=255).astype(np.uint8)
    plain = digitlab.read_number(row, model="knn")
    assert plain.text == f"{labels[0]}{labels[1]}"
    Profile.open("bob").teach_preprocessed([plain.digits[1].image], [taught])
    reading = digitlab.read_number(row, model="knn", profile=Profile.open("bob"))
    assert reading.text == f"{labels[0]}{taught}"


# -- hostile profile files (issue 21, item 7) ----------------------------------------------


def npy_header(shape: tuple, dtype: str = "<f4") -> bytes:
    """An npy file's header alone: what numpy reads before deciding what to allocate."""
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return out.getvalue()


def with_method(raw: bytes, method: int, flags: int = 0) -> bytes:
    """A zip whose members claim the compression ``method`` (and general-purpose ``flags``):
    the local and central headers are patched in place, as a crafted file would be."""
    data = bytearray(raw)
    for signature, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            flag_bits = int.from_bytes(data[start + at : start + at + 2], "little") | flags
            data[start + at : start + at + 2] = flag_bits.to_bytes(2, "little")
            data[start + at + 2 : start + at + 4] = method.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    return bytes(data)


def stored_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name, raw in members.items():
            archive.writestr(name, raw)
    return buf.getvalue()


def hostile_profiles() -> dict[str, bytes]:
    """Small crafted profile files that once gave tracebacks instead of a sentence."""
    good = {"images.npy": npy_header((0, 28, 28)),
            "manifest.npy": npy_header((2,), "|u1") + b"{}"}  # fmt: skip
    depth = 200_000
    deep = ("[" * depth + "]" * depth).encode()
    return {
        "deep-manifest": zipped({"images.npy": good["images.npy"],
                                 "manifest.npy": npy_header((len(deep),), "|u1") + deep}),
        "huge-npy-header": zipped({"images.npy": npy_header((10**12, 28, 28)) + bytes(64),
                                   "manifest.npy": good["manifest.npy"]}),
        "encrypted-member": with_method(stored_zip(good), 0, flags=1),
        "deflate64-member": with_method(stored_zip(good), 9),
        "unknown-method": with_method(stored_zip(good), 99),
        "pickled-manifest": zipped({"images.npy": good["images.npy"],
                                    "manifest.npy": npy_header((1,), "|O") + b"\x80\x04N."}),
        "fortran-order": zipped({"images.npy": good["images.npy"].replace(b"False", b"True "),
                                 "manifest.npy": good["manifest.npy"]}),
        "short-data": zipped({"images.npy": npy_header((5, 28, 28)) + bytes(10),
                              "manifest.npy": good["manifest.npy"]}),
    }  # fmt: skip


@pytest.mark.parametrize("case", list(hostile_profiles()))
def test_a_hostile_profile_file_is_one_sentence(data_home, case):
    raw = hostile_profiles()[case]
    assert len(raw) < 2000
    with pytest.raises(ProfileError, match=r"^bad.npz is damaged \(.*\); reset it") as err:
        profiles.decode_profile(raw, "bad.npz")
    assert "\n" not in str(err.value)
    profile = Profile.open("alice")
    damaged(profile.path, raw)
    with pytest.raises(ProfileError, match=r"^Profile 'alice' is damaged"):
        profile.teach_preprocessed(*mnist_digits(1))
    assert profile.reset() == 0 and len(profile) == 0


# -- a reset never brings forgotten digits back (item 8) -----------------------------------


def test_a_kept_wrapper_forgets_what_a_reset_forgot(data_home):
    images, labels = mnist_digits(2, start=1)  # a 0 and a 4
    a, b = images[:1], images[1:]
    profile = Profile.open("alice")
    model = load_model("knn", profile=profile)
    profile.teach_preprocessed(a, [3])
    assert model.predict_proba(a).argmax() == 3
    profile.reset()
    profile.teach_preprocessed(b, [5])  # gets the id A had
    assert model.predict_proba(b).argmax() == 5
    said = model.predict_proba(a).argmax()
    assert said != 5 and said == load_model("knn").predict_proba(a).argmax()


# -- a full disk and a killed writer (items 11 and 15) ---------------------------------------


FULL_DISK = """
import resource, sys, numpy as np
from digitlab.profiles.store import Profile, ProfileError
profile = Profile.open("alice")
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
try:
    profile.teach_preprocessed(np.full((200, 28, 28), 0.5, np.float32) * np.random.default_rng(0)
                               .random((200, 28, 28), np.float32), [3] * 200)
except ProfileError as err:
    print(err)
"""


def test_a_full_disk_while_teaching_is_one_sentence_and_loses_nothing(data_home):
    profile = Profile.open("alice")
    profile.teach_preprocessed(*mnist_digits(3))
    before = profile.path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(len(before) + 1000)], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Profile 'alice' could not be saved (")
    assert done.stdout.strip().endswith("it still holds its 3 digits.")
    assert "Traceback" not in done.stderr
    assert profile.path.read_bytes() == before
    assert sorted(p.name for p in profile.directory.iterdir()) == [".lock", "profile.npz"]


def test_a_killed_writers_partial_file_is_cleaned_up(data_home):
    profile = Profile.open("alice")
    profile.teach_preprocessed(*mnist_digits(1))
    stale = profile.directory / ".profile.npz.abcd1234.part"
    stale.write_bytes(b"half a profile")
    os.utime(stale, (0, 0))  # long ago: its writer is gone
    profile.teach_preprocessed(*mnist_digits(1, start=1))
    assert not stale.exists() and len(profile) == 2
