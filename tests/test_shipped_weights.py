"""The weights that ship in the repo meet their accuracy bars on the real MNIST test set."""

from __future__ import annotations

import pytest

from digitlab.evaluation.mnist import evaluate_model
from digitlab.models.artifacts import WEIGHTS_DIR, file_sha256, read_manifest
from digitlab.models.registry import model_ids, model_spec

# Negatives made with a seed neither training (0) nor validation (10,000) used.
HELD_OUT_NEGATIVE_SEED = 777


def test_every_shipped_file_matches_the_manifest():
    manifest = read_manifest(WEIGHTS_DIR)
    for model_id in model_ids():
        assert any(name.startswith(f"{model_id}.") for name in manifest), model_id
    for name, digest in manifest.items():
        assert file_sha256(WEIGHTS_DIR / name) == digest, name


@pytest.mark.slow
@pytest.mark.parametrize("model_id", model_ids())
def test_shipped_model_meets_its_bar(model_id):
    result = evaluate_model(model_id)
    bar = model_spec(model_id).bar  # each model's bar lives in its registry entry
    assert result["accuracy"] >= bar, f"{model_id}: {result['accuracy']:.2%}"
    assert sum(map(sum, result["confusion_matrix"])) == 10_000


@pytest.mark.slow
def test_cnn_refuses_what_is_not_a_digit_and_keeps_the_digits():
    import numpy as np

    from digitlab.answers.inference import NOT_A_DIGIT, predict_preprocessed_batch
    from digitlab.data.mnist import load_mnist
    from digitlab.synth.negatives import not_digit_images

    train_images, _ = load_mnist("train")
    negatives = not_digit_images(train_images[:1000] / 255.0, 400, HELD_OUT_NEGATIVE_SEED)
    refused = [p.refusal == NOT_A_DIGIT for p in predict_preprocessed_batch(list(negatives))]
    assert np.mean(refused) >= 0.8, f"refused {np.mean(refused):.1%} of negatives"
    test_images, _ = load_mnist("test")
    digits = predict_preprocessed_batch(list(test_images))
    share = np.mean([p.digit is None for p in digits])
    assert share <= 0.005, f"refused {share:.2%} of MNIST's test digits"
