"""Model artifacts: a damaged or missing manifest is one clear sentence, never a traceback."""

from __future__ import annotations

import shutil

import pytest

from digitlab.errors import ModelError
from digitlab.models import artifacts
from digitlab.models.artifacts import MANIFEST, WEIGHTS_DIR
from digitlab.models.registry import model_class


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
