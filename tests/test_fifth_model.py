"""A fifth model, added by this file alone, shows up everywhere the four built-in ones do.

It is a real (if simple) model: each digit's mean training image, and the softmax of minus
the distances to them. Nothing else in the project is edited to make it appear: the test
registers it, trains it into its own weights folder, and finds it in ``digitlab predict``,
``digitlab evaluate``, *Compare all* and *How it works*. Its registry entry has no profile
blend: through a person's profile it answers as it would without one, in the API and the app.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import digitlab
from digitlab.answers.inference import predict_preprocessed_batch
from digitlab.contract import calibrate
from digitlab.data.mnist import load_mnist
from digitlab.imaging.features import as_float_images
from digitlab.models import registry
from digitlab.models.base import NpzModel, softmax
from digitlab.profiles.adapt import ProfiledModel, with_profile
from digitlab.profiles.store import Profile
from digitlab.training.data import TrainingData

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
NAME = "Nearest centroid (a fifth model)"


class Model(NpzModel):
    id = "centroid"
    # probe: the sizes of calibration's validation probe. Small: with no "not a digit" class
    # its thresholds come out the same with any probe (only the plain validation digits set
    # them), and the full one takes ~20 s to make.
    SMALL_PROBE = {"rendered": 20, "coarse": 10, "styled": 20, "negative": 20, "uploads": 0}
    HPARAMS = {"sharpness": 0.5, "probe": SMALL_PROBE}
    ARRAYS = ("centroids",)

    def __init__(self, centroids: np.ndarray, config: dict):
        self.centroids, self.config = centroids, config

    @classmethod
    def describe(cls, config: dict) -> str:
        return (
            "Each digit's mean training image; your digit goes to the nearest mean. A baseline "
            f"trained on {config.get('train_images', 'the')} training digits."
        )

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        x = as_float_images(images).reshape(len(images), -1)
        distances = np.sqrt(((x[:, None, :] - self.centroids[None]) ** 2).sum(-1))
        return softmax(-self.config["sharpness"] * distances)

    @classmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> Model:
        hp = cls.hparams(overrides)
        probe = hp.pop("probe")
        x = data.train_x.reshape(len(data.train_x), -1)
        centroids = np.stack([x[data.train_y == d].mean(0) for d in range(10)])
        model = cls(centroids.astype(np.float32), hp | {"train_images": len(x), "seed": seed})
        model.config |= calibrate(model.predict_proba_all, data, probe)
        return model


@pytest.fixture(scope="module")
def fifth(tmp_path_factory):
    from digitlab.training.data import training_data

    weights_dir = tmp_path_factory.mktemp("centroid")
    model = Model.train(training_data(limit=3000))
    model.save(weights_dir)  # records its files in the folder's manifest itself
    registry.register(
        registry.ModelSpec("centroid", NAME, __name__, bar=0.75, weights_dir=weights_dir)
    )
    yield model
    registry.unregister("centroid")


def digit_file(index: int = 0) -> tuple[bytes, int]:
    """An MNIST test digit as dark ink on white paper, enlarged, as PNG bytes."""
    images, labels = load_mnist("test")
    page = Image.fromarray(255 - np.pad(images[index], 8)).resize((176, 176))
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue(), int(labels[index])


def test_it_is_registered_after_the_built_in_models(fifth):
    assert registry.model_ids()[-1] == "centroid"
    assert registry.load_model("centroid").config["train_images"] == 3000


def test_digitlab_predict_and_evaluate_know_it(fifth, tmp_path, capsys):
    from digitlab.cli.main import main

    data, label = digit_file()
    path = tmp_path / "digit.png"
    path.write_bytes(data)
    assert main(["predict", str(path), "--model", "centroid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["digit"] == label
    assert main(["evaluate", "--model", "centroid", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["model"] == "centroid" and result["accuracy"] >= 0.75


def test_train_model_trains_saves_and_measures_it(fifth, tmp_path):
    from digitlab.training.data import training_data
    from digitlab.training.train import train_model

    result = train_model("centroid", training_data(limit=1000), weights_dir=tmp_path)
    assert result["model"] == "centroid" and result["accuracy"] >= 0.75
    assert result["train_images"] == 1000 and result["seed"] == 0
    assert Model.load(tmp_path).config["train_images"] == 1000


def test_compare_all_and_how_it_works_show_it(fifth):
    at = AppTest.from_file(str(HOME), default_timeout=120)
    at.run()
    at.selectbox(key="model").set_value("Compare all")
    at.file_uploader[0].set_value(("digit.png", digit_file()[0], "image/png"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    answers, probabilities = (t.value for t in at.table[:2])
    assert list(answers.index)[-1] == NAME and len(answers) == 5
    assert probabilities.shape == (10, 5)  # a column of ten probabilities per model
    at.switch_page("pages/how_it_works.py").run()
    assert NAME in [s.value for s in at.subheader]
    assert any("nearest mean" in m.value for m in at.markdown)


def test_without_a_blend_it_answers_unblended_through_a_profile(fifth):
    assert registry.model_spec("centroid").blend is None
    images, labels = load_mnist("test")
    x = images[:30]
    profile = Profile.in_memory()
    profile.teach_preprocessed(list(x[:10]), (labels[:10] + 1) % 10)  # against the model
    base = registry.load_model("centroid")
    for profiled in (digitlab.load_model("centroid", profile=profile),
                     with_profile(base, profile)):  # fmt: skip
        assert isinstance(profiled, ProfiledModel) and profiled.id == "centroid"
        assert np.array_equal(profiled.predict_proba_all(x), base.predict_proba_all(x))
    answers = predict_preprocessed_batch(list(x), with_profile(base, profile))
    assert [a.digit for a in answers] == [
        a.digit for a in predict_preprocessed_batch(list(x), base)
    ]
    through_it = digitlab.predict(digit_file()[0], model="centroid", profile=profile)
    assert through_it.digit == digitlab.predict(digit_file()[0], model="centroid").digit


def test_the_app_answers_with_it_while_the_profile_holds_a_taught_digit(fifth):
    at = AppTest.from_file(str(HOME), default_timeout=120)
    at.run()
    at.selectbox(key="model").set_value(NAME)
    data, label = digit_file()
    at.file_uploader[0].set_value(("digit.png", data, "image/png"))
    at.run()
    [before] = [m.value for m in at.metric if m.label == "Predicted digit"]
    at.selectbox(key="teach_digit").set_value((label + 1) % 10)
    at.run()
    at.button(key="teach_button").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["demo_profile"].counts()[(label + 1) % 10] == 1
    [message] = [s.value for s in at.success]
    assert message.startswith("Taught as")
    assert [m.value for m in at.metric if m.label == "Predicted digit"] == [before]  # unblended
    at.selectbox(key="model").set_value("Compare all")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert list(at.table[0].value.index)[-1] == NAME
