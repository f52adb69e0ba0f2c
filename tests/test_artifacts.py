"""Model artifacts: a damaged or missing manifest is one clear sentence, never a traceback."""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest

from digitlab.errors import ModelError
from digitlab.evaluation.mnist import stored_metrics
from digitlab.models import artifacts
from digitlab.models.artifacts import MANIFEST, WEIGHTS_DIR
from digitlab.models.registry import model_class, model_ids


@pytest.fixture
def weights(tmp_path):
    """A copy of the shipped logistic-regression weights and their manifest."""
    for name in ("logreg.npz", "logreg.json", MANIFEST):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    return tmp_path


def load(weights_dir):
    return model_class("logreg").load(weights_dir)


def test_the_copied_weights_load(weights):
    assert load(weights).config


@pytest.mark.parametrize(
    ("manifest", "problem"),
    [
        ('{"sha256": {"logreg.npz": "ab', "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[]", "has no SHA-256 list"),
        ('{"hashes": {}}', "has no SHA-256 list"),
        ('{"sha256": ["logreg.npz"]}', "has no SHA-256 list"),
        ('{"sha256": {"logreg.npz": 5}}', "has no SHA-256 list"),
        (b"\xff\xfe\x00garbage", "is not valid JSON"),
    ],
)
def test_a_damaged_manifest_is_one_sentence(weights, manifest, problem):
    path = weights / MANIFEST
    path.write_bytes(manifest if isinstance(manifest, bytes) else manifest.encode())
    with pytest.raises(ModelError) as err:
        load(weights)
    message = str(err.value)
    assert message == f"The model manifest {path} {problem}; reinstall DigitLab to restore it."


def test_a_missing_manifest_names_the_manifest(weights):
    (weights / MANIFEST).unlink()
    with pytest.raises(ModelError) as err:
        load(weights)
    assert str(err.value) == (
        f"The model manifest {weights / MANIFEST} is missing; reinstall DigitLab to restore it."
    )


def test_a_missing_model_file_still_names_the_file(weights):
    (weights / "logreg.json").unlink()
    with pytest.raises(ModelError, match=r"^Model file logreg.json is missing"):
        load(weights)


def test_training_into_an_empty_directory_starts_a_manifest(weights, tmp_path_factory):
    fresh = tmp_path_factory.mktemp("fresh")
    shutil.copy(weights / "logreg.json", fresh / "logreg.json")
    artifacts.record_in_manifest(fresh, ["logreg.json"])
    assert set(artifacts.read_manifest(fresh)) == {"logreg.json"}


@pytest.fixture
def cache_folder(tmp_path):
    """A folder holding one small file recorded in its manifest, as a cache keeps them."""
    (tmp_path / "index.npz").write_bytes(b"x" * 100)
    artifacts.record_in_manifest(tmp_path, ["index.npz"])
    return tmp_path


def test_verified_bytes_reads_a_recorded_file(cache_folder):
    assert artifacts.verified_bytes(cache_folder, "index.npz", max_bytes=100) == b"x" * 100


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(b"y" * 100), "does not match its SHA-256 in"),
        (lambda p: p.write_bytes(b"x" * 101), "is larger than 100 bytes"),
        (lambda p: (p.unlink(), p.symlink_to("/dev/zero")), "is not a regular file"),
        (lambda p: (p.unlink(), os.mkfifo(p)), "is not a regular file"),
        (lambda p: p.unlink(), "cannot be read (No such file or directory)"),
        (lambda p: (p.parent / MANIFEST).write_text('{"sha256": {}}'), "has no SHA-256 in"),
        (lambda p: (p.parent / MANIFEST).unlink(), "manifest.json cannot be read"),
    ],
    ids=["changed", "too large", "/dev/zero", "fifo", "gone", "unrecorded", "no manifest"],
)
def test_verified_bytes_refuses_anything_else_without_reading_it(cache_folder, damage, problem):
    damage(cache_folder / "index.npz")
    with pytest.raises(ModelError, match=re.escape(problem)):
        artifacts.verified_bytes(cache_folder, "index.npz", max_bytes=100)


def test_verified_bytes_ends_a_damaged_manifest_s_sentence_as_asked(cache_folder):
    (cache_folder / MANIFEST).write_text("[]")
    with pytest.raises(ModelError, match=r"has no SHA-256 list; it is rebuilt\.$"):
        artifacts.verified_bytes(cache_folder, "index.npz", 100, restore="it is rebuilt.")


# -- tampering that once gave a traceback (issue 21, item 14) --------------------------------


def test_a_deeply_nested_manifest_is_one_sentence(weights):
    depth = 200_000
    (weights / MANIFEST).write_text('{"sha256": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ModelError, match="is not valid JSON; reinstall DigitLab"):
        load(weights)


def test_an_object_array_npz_with_its_hash_updated_runs_nothing(weights):
    np.savez(weights / "logreg.npz", coef=np.array([object()], dtype=object))
    artifacts.record_in_manifest(weights, ["logreg.npz"])
    with pytest.raises(ModelError, match=r"^Model file logreg.npz cannot be loaded safely \("):
        load(weights)


def test_a_bad_safetensors_header_with_its_hash_updated_is_one_sentence(tmp_path):
    for name in ("ann.json", MANIFEST):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    header = b'{"w": not json}'
    (tmp_path / "ann.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    artifacts.record_in_manifest(tmp_path, ["ann.safetensors"])
    with pytest.raises(ModelError, match=r"^Model file ann.safetensors cannot be loaded \("):
        model_class("ann").load(tmp_path)


def test_the_shipped_metrics_are_recorded_and_checked(tmp_path):
    for model_id in model_ids():
        assert stored_metrics(model_id)["accuracy"] > 0.9
        assert f"{model_id}.metrics.json" in artifacts.read_manifest(WEIGHTS_DIR)
    for name in ("logreg.metrics.json", MANIFEST):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    assert stored_metrics("logreg", tmp_path) == stored_metrics("logreg")
    path = tmp_path / "logreg.metrics.json"
    path.write_text(path.read_text().replace('"accuracy": 0.', '"accuracy": 0.9999', 1))
    with pytest.raises(ModelError, match="does not match its SHA-256"):
        stored_metrics("logreg", tmp_path)
    path.write_text('{"accuracy": ')
    artifacts.record_in_manifest(tmp_path, [path.name])
    with pytest.raises(ModelError, match="^The metrics file .* is not valid JSON; reinstall"):
        stored_metrics("logreg", tmp_path)
    path.unlink()
    assert stored_metrics("logreg", tmp_path) is None


def test_the_evaluate_page_names_a_damaged_metrics_file_and_shows_the_others(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from digitlab.models import registry

    for name in ("logreg.metrics.json", MANIFEST):
        shutil.copy(WEIGHTS_DIR / name, tmp_path / name)
    (tmp_path / "logreg.metrics.json").write_text("{damaged")
    shipped = registry.weights_dir
    monkeypatch.setattr(registry, "weights_dir",
                        lambda m: tmp_path if m == "logreg" else shipped(m))  # fmt: skip
    page = WEIGHTS_DIR.parent / "app" / "pages" / "evaluate.py"
    at = AppTest.from_file(str(page), default_timeout=120).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"{tmp_path / 'logreg.metrics.json'} does not match its SHA-256 in {tmp_path / MANIFEST}."
    ]
    assert len(at.table[0].value) == len(model_ids()) - 1
