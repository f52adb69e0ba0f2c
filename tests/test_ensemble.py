"""A net model of several nets (``members``): averaged answers, one weights file, safe loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from digitlab.cli.main import main
from digitlab.errors import ModelError
from digitlab.evaluation.mnist import stored_metrics
from digitlab.imaging.pipeline import pipeline_version
from digitlab.models import artifacts
from digitlab.models.cnn import Model as CNN
from digitlab.models.registry import model_spec
from digitlab.models.torchnet import merged_state, probabilities, split_state
from digitlab.training.data import training_data
from digitlab.training.runs import overrides_for, run_settings
from digitlab.training.train import join_members

TINY = {"width": 2, "hidden": 4, "dropout": 0.0}


def tiny_cnn(members: int, seed: int = 0) -> CNN:
    config = CNN.hparams(TINY | {"members": members})
    config |= {"id": "cnn", "preprocessing": pipeline_version()}
    nets = []
    for k in range(members):
        torch.manual_seed(seed + k)
        nets.append(CNN.build(config))
    return CNN(nets[0], config, tuple(nets[1:]))


def digits(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).random((n, 28, 28), dtype=np.float32)


def test_an_ensemble_answers_with_its_members_mean():
    model = tiny_cnn(3)
    x = digits()
    each = [CNN(net, model.config).predict_proba_all(x) for net in model.members]
    together = model.predict_proba_all(x)
    assert together.shape == (6, 11)
    assert np.allclose(together, np.mean(each, axis=0), atol=1e-6)
    assert np.allclose(together.sum(1), 1, atol=1e-5)
    assert model.net is model.members[0]  # what Look inside shows


def test_an_ensembles_gradient_and_embedding_are_its_members_mean():
    model = tiny_cnn(2)
    x = digits(4)
    singles = [CNN(net, model.config) for net in model.members]
    grads = [s.input_gradient(x[0], 3) for s in singles]
    assert np.allclose(model.input_gradient(x[0], 3), np.mean(grads, axis=0), atol=1e-6)

    def d2(e):
        return ((e[:, None] - e[None]) ** 2).sum(-1)

    each = [d2(s.embed(x)) for s in singles]
    assert np.allclose(d2(model.embed(x)), np.mean(each, axis=0), rtol=1e-4, atol=1e-6)


def test_an_ensemble_saves_to_one_file_and_loads_back(tmp_path):
    model = tiny_cnn(2)
    model.save(tmp_path)
    keys = load_file(tmp_path / "cnn.safetensors").keys()
    assert "0.weight" in keys and "member1.0.weight" in keys  # the first net's keys unprefixed
    loaded = CNN.load(tmp_path)
    assert len(loaded.members) == 2
    assert np.allclose(loaded.predict_proba_all(digits()), model.predict_proba_all(digits()))


def test_one_net_keeps_the_file_it_always_had(tmp_path):
    model = tiny_cnn(1)
    model.save(tmp_path)
    assert set(load_file(tmp_path / "cnn.safetensors")) == set(model.net.state_dict())
    # A file from before ensembles (no "members" in its settings) loads as one net.
    config = artifacts.load_json(tmp_path, "cnn.json")
    del config["members"]
    artifacts.save_json(tmp_path / "cnn.json", config)
    artifacts.record_in_manifest(tmp_path, ["cnn.json"])
    assert len(CNN.load(tmp_path).members) == 1


def rewrite(folder, state=None, **config_changes):
    if state is not None:
        save_file(state, folder / "cnn.safetensors")
    config = artifacts.load_json(folder, "cnn.json") | config_changes
    artifacts.save_json(folder / "cnn.json", config)
    artifacts.record_in_manifest(folder, ["cnn.safetensors", "cnn.json"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"members": 3}, "do not fit"),  # settings name a net the file lacks
        ({"members": 1}, "none of 1 nets"),  # the file holds a net the settings do not name
        ({"members": 9}, "1-8 load"),
        ({"members": "2"}, "1-8 load"),
    ],
)
def test_weights_that_disagree_with_their_settings_are_one_sentence(tmp_path, change, message):
    tiny_cnn(2).save(tmp_path)
    rewrite(tmp_path, **change)
    with pytest.raises(ModelError, match=message):
        CNN.load(tmp_path)


def test_a_misshapen_member_is_refused(tmp_path):
    model = tiny_cnn(2)
    model.save(tmp_path)
    state = {k: v.clone() for k, v in merged_state(model.members).items()}
    state["member1.0.weight"] = torch.zeros(5, 1, 3, 3)
    rewrite(tmp_path, state)
    with pytest.raises(ModelError, match="do not fit"):
        CNN.load(tmp_path)


def test_split_state_undoes_merged_state():
    nets = tiny_cnn(3).members
    parts = split_state(merged_state(nets), 3)
    for net, part in zip(nets, parts, strict=True):
        assert part.keys() == net.state_dict().keys()
        assert all(torch.equal(part[k], v) for k, v in net.state_dict().items())


def test_a_learners_run_trains_one_net():
    for family in ("ann", "cnn"):
        assert overrides_for(run_settings(family, preset="full"))["members"] == 1


@pytest.fixture(scope="module")
def quick_nets(tmp_path_factory):
    """Three quick single CNNs (seeds 0, 1, 2) on 2,000 images, each in its own folder with a
    stored training time, as ``digitlab train --seed S --out DIR`` leaves them."""
    data = training_data(limit=2000)
    quick = model_spec("cnn").quick | {"members": 1}
    folders = []
    for seed in range(3):
        folder = tmp_path_factory.mktemp(f"net{seed}")
        CNN.train(data, seed=seed, **quick).save(folder)
        artifacts.save_json(folder / "cnn.metrics.json", {"train_seconds": 10.0 + seed})
        artifacts.record_in_manifest(folder, ["cnn.metrics.json"])
        folders.append(folder)
    return data, folders


def test_nets_trained_apart_join_into_the_ensemble(quick_nets, tmp_path):
    data, folders = quick_nets
    result = join_members("cnn", folders[:2], data, tmp_path)
    joined = CNN.load(tmp_path)
    singles = [CNN.load(f) for f in folders[:2]]
    x = data.val_x[:30]
    # The joined nets answer together at a temperature fitted to the pair: the mean of the
    # two nets' softmax of their logits divided by it (each net alone had its own).
    mean = np.mean([probabilities(s.net, x, joined.config["temperature"]) for s in singles], 0)
    assert np.allclose(joined.predict_proba_all(x), mean, atol=1e-6)
    config = joined.config
    assert config["members"] == 2 and config["seed"] == 0
    assert [f["seed"] for f in config["member_fits"]] == [0, 1]
    assert config["member_fits"][1]["val_accuracy"] == singles[1].config["val_accuracy"]
    assert config["history"] == singles[0].config["history"]
    together = (mean[:, :10].argmax(1) == data.val_y[:30]).mean()
    assert 0 < config["val_accuracy"] <= 1 and together > 0.5
    assert 0.5 <= config["not_digit_threshold"] <= 1  # calibrated on the two together
    assert result["train_seconds"] == 21.0 and result["member_train_seconds"] == [10.0, 11.0]
    assert stored_metrics("cnn", tmp_path)["accuracy"] == result["accuracy"] > 0.5


def test_only_nets_of_one_recipe_and_running_seeds_join(quick_nets, tmp_path):
    data, folders = quick_nets
    with pytest.raises(ModelError, match="seeds must run on from 0"):
        join_members("cnn", [folders[0], folders[2]], data, tmp_path / "a")
    with pytest.raises(ModelError, match="Join 2 to 8 nets"):
        join_members("cnn", folders[:1], data, tmp_path / "b")
    with pytest.raises(ModelError, match="not made of nets"):
        join_members("knn", folders[:2], data, tmp_path / "c")
    other = tmp_path / "other"
    other.mkdir()
    for f in folders[1].iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    rewrite(other, dropout=0.5)
    with pytest.raises(ModelError, match="dropout differ"):
        join_members("cnn", [folders[0], other], data, tmp_path / "d")
    join_members("cnn", folders[:2], data, tmp_path / "e")
    with pytest.raises(ModelError, match="holds an ensemble"):
        join_members("cnn", [tmp_path / "e", folders[1]], data, tmp_path / "f")
    assert not any((tmp_path / x).exists() for x in "abcdf")  # nothing written when refused


def test_join_from_the_command_line(quick_nets, tmp_path, capsys):
    _, folders = quick_nets
    argv = ["train", "--model", "cnn", "--limit", "2000", "--out", str(tmp_path), "--join"]
    assert main([*argv, *map(str, folders[:2])]) == 0
    assert "2 nets joined" in capsys.readouterr().out
    assert len(CNN.load(tmp_path).members) == 2
    assert main(["train", "--model", "knn", "--join", *map(str, folders[:2])]) == 2
    assert "--join joins ANN or CNN nets" in capsys.readouterr().err
    assert main([*argv, str(folders[0]), str(folders[2])]) == 2
    err = capsys.readouterr().err
    assert "seeds must run on" in err and "Traceback" not in err


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_label_smoothing_is_the_loss_a_net_trains_on(smoothing):
    """``label_smoothing`` (0 in the shipped recipes) reaches the loss of each training step."""
    import copy

    from tqdm import tqdm

    from digitlab.models.torchnet import TRAINING, train_one_epoch

    assert TRAINING["label_smoothing"] == 0.0
    torch.manual_seed(0)
    net = CNN.build(CNN.hparams(TINY))
    x = torch.rand(8, 1, 28, 28)
    y = torch.arange(8) % 11
    with torch.no_grad():
        logits = copy.deepcopy(net).train()(x)
    expected = float(torch.nn.functional.cross_entropy(logits, y, label_smoothing=smoothing))
    plain = float(torch.nn.functional.cross_entropy(logits, y))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    loss, _ = train_one_epoch(net, [(x, y)], optimizer, scheduler, False, tqdm(disable=True),
                              label_smoothing=smoothing)  # fmt: skip
    assert loss == pytest.approx(expected, rel=1e-5)
    assert (loss == pytest.approx(plain, rel=1e-5)) == (smoothing == 0.0)


def test_distillation_adds_the_teachers_answers_to_the_loss():
    """``Teacher.loss``: (1 - weight) of the labels' loss and weight of the KL divergence from
    the teachers' mean answer, both at ``temperature`` (scaled by its square)."""
    from digitlab.models.torchnet import Teacher

    teachers = [tiny_cnn(2, seed=0), tiny_cnn(1, seed=5)]
    for t, model in zip((0.5, 2.0), teachers, strict=True):
        model.config["temperature"] = t
    x = torch.from_numpy(digits(5))[:, None]
    mean = np.mean([m.predict_proba_all(x[:, 0].numpy()) for m in teachers], axis=0)
    logits = torch.randn(5, 11)
    labels = torch.tensor([3, 10, 0, 10, 7])
    hard = torch.tensor(0.7)
    for weight, temperature in ((0.0, 2.0), (0.5, 1.0), (0.3, 3.0)):
        target = np.exp(np.log(mean) / temperature)
        target /= target.sum(1, keepdims=True)
        student = torch.log_softmax(logits / temperature, -1).numpy()
        kl = np.sum(target * (np.log(target) - student), 1)
        for digits_only, rows in ((False, slice(None)), (True, [0, 2, 4])):
            teacher = Teacher(teachers, weight, temperature, digits_only)
            expected = (1 - weight) * 0.7 + weight * temperature**2 * float(np.mean(kl[rows]))
            got = float(teacher.loss(logits, hard, x, labels))
            assert got == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("weight,temperature", [(-0.1, 2.0), (1.5, 2.0), (0.5, 0.0)])
def test_a_distillation_setting_out_of_range_is_one_sentence(weight, temperature):
    from digitlab.models.torchnet import Teacher

    with pytest.raises(ModelError, match="distillation weight is from 0 to 1"):
        Teacher([tiny_cnn(1)], weight, temperature)


def test_only_a_network_teaches():
    from digitlab.models.torchnet import Teacher

    spec = {"teachers": ["knn"], "weight": 0.5, "temperature": 2.0}
    with pytest.raises(ModelError, match="Only a network can teach"):
        Teacher.from_settings(spec, torch.device("cpu"))


def test_a_distilled_net_records_what_it_learnt_from():
    """The shipped CNN's recipe learns from the shipped CNN and ANN; its settings keep their
    files' SHA-256s. A learner's run and the tests' quick nets learn from the labels alone."""
    spec = CNN.HPARAMS["distill"]
    assert spec["teachers"] == ["cnn", "ann"] and spec["digits_only"]
    shipped = artifacts.load_json(artifacts.WEIGHTS_DIR, "cnn.json")
    assert shipped["distill"] == spec
    assert sorted(shipped["distilled_from"]) == ["ann.safetensors", "cnn.safetensors"]
    assert all(len(sha) == 64 for sha in shipped["distilled_from"].values())
    data = training_data(limit=2000)
    quick = model_spec("cnn").quick | {"distill": spec, "epochs": 1, "patience": 1}
    model = CNN.train(data, seed=0, **quick)
    manifest = artifacts.read_manifest(artifacts.WEIGHTS_DIR)
    assert model.config["distilled_from"] == {
        name: manifest[name] for name in ("cnn.safetensors", "ann.safetensors")
    }
    assert 0 < model.config["val_accuracy"] <= 1
    assert model_spec("cnn").quick["distill"] is None
    for preset in ("quick", "full"):
        assert overrides_for(run_settings("cnn", preset=preset))["distill"] is None
