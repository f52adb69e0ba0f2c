"""Temperature scaling: a net's probabilities softened or sharpened by one number fitted on the
validation digits, which changes how sure each answer is and never which answer it is."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.errors import ModelError
from digitlab.models.cnn import Model as CNN
from digitlab.models.torchnet import TEMPERATURES, fit_temperature, probabilities, softened
from test_ensemble import digits, rewrite, tiny_cnn


def sampled(members: int, n: int, scale: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``scale`` times too large for labels drawn from their true softmax: a net
    overconfident by ``scale`` (below 1: underconfident), as ``members`` nets' logits."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 2.5, (members, n, 11))
    p = softened(true, 1.0)
    labels = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return (true * scale).astype(np.float32), labels


@pytest.mark.parametrize(("members", "scale"), [(1, 3.0), (1, 0.5), (2, 2.0), (1, 1.0)])
def test_the_fitted_temperature_undoes_a_known_overconfidence(members, scale):
    logits, labels = sampled(members, 20_000, scale)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(scale, rel=0.08)

    def loss(temperature):
        return -np.mean(np.log(softened(logits, temperature)[np.arange(len(labels)), labels]))

    assert loss(t) <= min(loss(1.0), loss(t * 1.05), loss(t / 1.05)) + 1e-9
    if members == 1:  # one number divides every logit: each answer stays the same digit
        assert (softened(logits, t).argmax(1) == softened(logits, 1.0).argmax(1)).all()


def test_the_fit_stays_in_its_range_for_a_net_that_is_always_right_or_always_wrong():
    logits = np.zeros((1, 50, 11), np.float32)
    logits[0, :, 3] = 5.0
    assert TEMPERATURES[0] <= fit_temperature(logits, np.full(50, 3)) < 0.1  # sharpest
    assert 15 < fit_temperature(logits, np.full(50, 4)) <= TEMPERATURES[1]  # softest


@pytest.mark.parametrize("members", [1, 2])
def test_a_model_answers_at_its_temperature(tmp_path, members):
    model = tiny_cnn(members)
    x = digits()
    plain = model.predict_proba_all(x)
    assert np.allclose(plain, probabilities(model.members, x), atol=1e-6)  # none: 1, as trained
    model.config["temperature"] = 0.25
    sharp = model.predict_proba_all(x)
    assert np.allclose(sharp, probabilities(model.members, x, 0.25), atol=1e-6)
    if members == 1:  # an ensemble's mean of softened answers may lean to another digit
        assert (sharp.max(1) > plain.max(1)).all() and (sharp.argmax(1) == plain.argmax(1)).all()
    model.save(tmp_path)
    assert np.allclose(CNN.load(tmp_path).predict_proba_all(x), sharp, atol=1e-6)


@pytest.mark.parametrize("temperature", [0, -1.0, 21.0, "1.0", True, None, float("nan")])
def test_a_temperature_no_fit_gives_is_one_sentence(tmp_path, temperature):
    tiny_cnn(1).save(tmp_path)
    rewrite(tmp_path, temperature=temperature)
    with pytest.raises(ModelError, match=r"temperature .* not a number from 0\.05 to 20\.0"):
        CNN.load(tmp_path)
