"""Tests for `digitlab.answers.explain` on small models whose right answer is known by construction,
plus one check per trained model when its weights are present."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from digitlab.answers import explain
from digitlab.models.registry import model_ids, model_spec
from digitlab.models.torchnet import TorchModel


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


class LeftHalfModel:
    """Says "1" in proportion to the ink in the left half; the right half is ignored."""

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, np.float32)
        logits = np.zeros((len(x), 10), np.float32)
        logits[:, 1] = 20 * x[:, :, :14].mean(axis=(1, 2))
        return softmax(logits)


def digit_like() -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 6:10] = 1.0  # a stroke on the left
    image[4:24, 18:22] = 1.0  # and one on the right
    return image


def test_occlusion_map_marks_only_the_pixels_the_model_uses():
    heat = explain.occlusion_map(LeftHalfModel(), digit_like(), digit=1)
    assert heat.shape == (28, 28) and heat.dtype == np.float32
    assert heat[10:18, 6:10].min() > 0.01  # hiding the left stroke hurts the answer
    assert np.abs(heat[:, 16:]).max() < 1e-6  # the right stroke is ignored by the model
    assert heat.argmax() // 28 in range(4, 24)


def test_occlusion_map_accepts_uint8_and_rejects_other_shapes():
    image = (digit_like() * 255).astype(np.uint8)
    assert explain.occlusion_map(LeftHalfModel(), image, digit=1)[12, 8] > 0
    with pytest.raises(ValueError):
        explain.occlusion_map(LeftHalfModel(), np.zeros((2, 28, 28)), digit=1)


def linear_net(seed: int = 0) -> tuple[TorchModel, torch.Tensor]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).eval()
    return TorchModel(net, {}), net[1].weight.detach()


def test_gradients_of_a_linear_net_are_its_weights():
    model, weight = linear_net()
    image = digit_like()
    template = weight[3].reshape(28, 28).numpy()
    np.testing.assert_allclose(model.input_gradient(image, 3), template, atol=1e-6)
    contribution = explain.gradient_times_input(model, image, 3)
    np.testing.assert_allclose(contribution, template * image, atol=1e-6)
    assert np.all(contribution[image == 0] == 0)  # blank pixels never contribute
    # The contributions add up to the class score minus the bias (exact for a linear net).
    score = model.net(torch.from_numpy(image)[None, None])[0, 3] - model.net[1].bias[3]
    assert contribution.sum() == pytest.approx(float(score.detach()), abs=1e-4)


def test_gradients_leave_the_network_in_eval_mode_and_unchanged():
    model, weight = linear_net()
    before = weight.clone()
    explain.gradient_times_input(model, digit_like(), 0)
    assert not model.net.training
    assert torch.equal(model.net[1].weight.detach(), before)


class FakeKnn:
    """An index of 30 MNIST digits then 10 styled ones, with identity "PCA" features."""

    mean = np.zeros(784, np.float32)
    components = np.eye(784, dtype=np.float32)
    feats = np.random.default_rng(0).random((40, 784)).astype(np.float32)

    def styled_features(self):
        return self.feats[30:]

    def kneighbors(self, images, k=None):
        """Positions 0, 10, 20 in MNIST's training set, then the first styled digit."""
        k = k or 3
        distances = np.arange(1, k + 1, dtype=np.float32)[None] * 0.5
        positions = np.array([0, 10, 20, 60_000][:k])[None]
        return distances, positions, np.full((1, k), 7)


def test_nearest_training_digits_closest_first_with_pictures():
    train = np.arange(30 * 28 * 28, dtype=np.uint32).reshape(30, 28, 28).astype(np.uint8)
    found = explain.nearest_training_digits(FakeKnn(), digit_like(), train, k=4)
    assert [n.index for n in found] == [0, 10, 20, 60_000]
    assert [n.label for n in found] == [7, 7, 7, 7]
    assert [n.distance for n in found] == sorted(n.distance for n in found)
    np.testing.assert_array_equal(found[2].image, train[20])
    assert [n.styled for n in found] == [False, False, False, True]
    # a styled digit (beyond MNIST's training digits) is pictured from its features
    np.testing.assert_allclose(found[3].image, FakeKnn.feats[30].reshape(28, 28))
    assert explain.nearest_training_digits(FakeKnn(), digit_like())[0].image is None


class FakeLogreg:
    def __init__(self):
        self.weights = np.random.default_rng(0).normal(size=(10, 784)).astype(np.float32)

    def templates(self):
        return self.weights.reshape(10, 28, 28)


def test_logreg_evidence_is_template_times_the_deskewed_input():
    from digitlab.imaging.features import deskew

    model = FakeLogreg()
    slanted = np.zeros((28, 28), np.float32)
    for row in range(4, 24):
        slanted[row, 8 + (24 - row) // 2 : 11 + (24 - row) // 2] = 1.0
    evidence = explain.logreg_evidence(model, slanted, 4)
    np.testing.assert_array_equal(evidence.template, model.templates()[4])
    np.testing.assert_allclose(evidence.deskewed, deskew(slanted[None])[0], atol=1e-6)
    np.testing.assert_allclose(evidence.contribution, evidence.template * evidence.deskewed)
    # Deskewing straightens the stroke: its columns spread less than the slanted original's.
    spread = lambda im: np.ptp(np.nonzero(im > 0.5)[1])  # noqa: E731
    assert spread(evidence.deskewed) < spread(slanted)


# --- the shipped models -----------------------------------------------------------------------


def trained(model_id: str):
    """A shipped model: it not loading is a failure (ModelError), never a skip."""
    from digitlab.models.registry import load_model

    return load_model(model_id)


@pytest.fixture(scope="module")
def test_digit() -> tuple[np.ndarray, int]:
    from digitlab.data.mnist import load_mnist

    images, labels = load_mnist("test")
    return images[0], int(labels[0])  # a 7


@pytest.mark.parametrize("model_id", [m for m in model_ids() if "gradient" in model_spec(m).why])
def test_trained_nets_heat_maps_lie_on_the_ink(model_id, test_digit):
    model = trained(model_id)
    image, label = test_digit
    ink = image > 64
    heat = explain.occlusion_map(model, image, label)
    contrib = explain.gradient_times_input(model, image, label)
    assert heat.shape == contrib.shape == (28, 28)
    # Hiding the ink hurts the answer more than hiding the background does.
    assert heat[ink].mean() > heat[~ink].mean()
    assert np.abs(contrib[image == 0]).max() == 0
    assert contrib.sum() > 0  # the ink, taken together, argues for the right digit


def test_trained_knn_neighbours_vote_for_the_answer(test_digit):
    model = trained("knn")
    image, label = test_digit
    found = explain.nearest_training_digits(model, image)
    assert len(found) == model.config["k"]
    assert [n.label for n in found].count(label) > len(found) / 2


def test_trained_logreg_evidence_adds_up_to_the_winning_score(test_digit):
    model = trained("logreg")
    image, label = test_digit
    scores = [
        explain.logreg_evidence(model, image, d).contribution.sum() + model.bias[d]
        for d in range(10)
    ]
    assert int(np.argmax(scores)) == label
    probabilities = model.predict_proba(image[None])[0]
    np.testing.assert_allclose(np.exp(scores) / np.exp(scores).sum(), probabilities, atol=1e-4)


@pytest.mark.parametrize("model_id", model_ids())
def test_every_model_s_why_views_explain_its_answer(model_id, test_digit):
    image, label = test_digit
    model = trained(model_id)
    for name in model_spec(model_id).why:
        view = explain.VIEWS[name](model, image, label)
        assert view.pictures and str(label) in view.caption
        for picture in view.pictures:
            assert picture.values.shape == (28, 28) and np.isfinite(picture.values).all()
            assert picture.kind in ("heatmap", "digit")
