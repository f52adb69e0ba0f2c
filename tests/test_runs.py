"""Learner runs (``digitlab.training.runs``, ``digitlab.models.runs``, ``digitlab train --run``):
checked knobs, atomic run folders, stop and kill, verified weights, ``run:NAME`` everywhere.

Runs here are tiny (a few hundred digits) and their result card looks at two user-like
renders of each kind, so the fast ones stay fast; the CLI's child processes are ``slow``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import digitlab
from digitlab.cli.main import main
from digitlab.data.splits import stratified_subset
from digitlab.errors import ModelError
from digitlab.evaluation import lab
from digitlab.models import registry, runs
from digitlab.training import runs as training_runs
from digitlab.training.runs import (
    MAX_TRAIN,
    Progress,
    RunSettingsError,
    RunStopped,
    run_settings,
    train_run,
)


@pytest.fixture(autouse=True)
def own_runs(tmp_path, monkeypatch):
    """Each test its own runs folder; calibration and the result card look at few images."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(lab, "RENDERS_PER_KIND", 2)
    small = {"rendered": 20, "coarse": 10, "styled": 20, "negative": 40}
    monkeypatch.setattr(training_runs, "RUN_PROBE", small)
    lab._renders.cache_clear()
    yield
    lab._renders.cache_clear()


def tiny(family: str = "logreg", **kw):
    defaults = {"train_size": 200}
    if family in ("ann", "cnn"):
        defaults |= {"epochs": 1, "width": 4} if family == "cnn" else {"epochs": 1, "hidden": 16}
    return run_settings(family, "quick", **(defaults | kw))


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"family": "svm"}, "Choose a model family"),
        ({"family": "cnn", "preset": "huge"}, "Choose a preset"),
        ({"family": "cnn", "train_size": 10}, "The training size must be from 100"),
        ({"family": "cnn", "train_size": MAX_TRAIN + 1}, "The training size must be from"),
        ({"family": "cnn", "train_size": "many"}, "The training size must be a number"),
        ({"family": "cnn", "epochs": 0}, "Epochs must be from 1"),
        ({"family": "cnn", "epochs": 2.5}, "Epochs must be a number"),
        ({"family": "cnn", "epochs": True}, "Epochs must be a number"),
        ({"family": "cnn", "lr": float("nan")}, "lr (peak learning rate) must be from"),
        ({"family": "cnn", "lr": -1}, "lr (peak learning rate) must be from"),
        ({"family": "cnn", "width": 1000}, "width (filters in the first convolution)"),
        ({"family": "cnn", "k": 3}, "cnn has no knob k; its knobs: width, lr, batch."),
        ({"family": "logreg", "C": 0}, "C (inverse regularisation strength) must be from"),
        ({"family": "cnn", "device": "tpu"}, "Choose a device"),
        ({"family": "cnn", "pipeline": "magic"}, "Choose a pipeline"),
    ],
)
def test_every_knob_is_checked_with_one_sentence(kwargs, says):
    with pytest.raises(RunSettingsError) as err:
        run_settings(**kwargs)
    message = str(err.value)
    assert says in message
    assert message.endswith(".") and "\n" not in message


def test_presets_fill_in_what_is_not_given():
    s = run_settings("cnn", "quick", width=12)
    assert (s.train_size, s.epochs, s.knobs["width"], s.knobs["batch"]) == (10_000, 2, 12, 64)
    assert run_settings("ann", "full").train_size == MAX_TRAIN


def test_stratified_subset_keeps_each_digit_in_its_share():
    labels = np.repeat(np.arange(10), [500, 600, 400, 500, 500, 500, 500, 500, 500, 1000])
    picked = stratified_subset(labels, 1000, seed=0)
    assert len(picked) == len(set(picked.tolist())) == 1000
    counts = np.bincount(labels[picked], minlength=10)
    assert counts[9] == pytest.approx(1000 * 1000 / 5500, abs=1)
    assert counts[2] == pytest.approx(400 * 1000 / 5500, abs=1)


def test_a_run_is_written_whole_and_answers_as_run_name():
    record = train_run("tiny-lr", tiny())
    folder = runs.run_path("tiny-lr")
    assert sorted(p.name for p in folder.iterdir()) == [
        "logreg.json", "logreg.npz", "manifest.json", "run.json",
    ]  # fmt: skip
    assert record["settings"]["train_size"] == 200
    assert 0.0 < record["card"]["val_accuracy"] <= 1.0
    assert len(record["card"]["val_confusion"]) == 10
    assert sum(map(sum, record["card"]["val_confusion"])) == 5000
    assert [r["name"] for r in runs.list_runs()] == ["tiny-lr"]
    assert "run:tiny-lr" in registry.run_model_ids()
    assert registry.display_name("run:tiny-lr") == "Your Log. Regr. (tiny-lr)"
    image = digitlab.load_mnist("test")[0][0]
    answer = digitlab.predict(image, model="run:tiny-lr")
    assert answer.model == "run:tiny-lr" and answer.digit is not None
    # The shipped weights are untouched: the package's own logreg still loads as before.
    assert registry.load_model("logreg").weights.shape != ()


@pytest.mark.slow
def test_a_taken_name_is_refused_unless_replacing():
    train_run("same", tiny())
    with pytest.raises(RunSettingsError, match="A run named 'same' exists"):
        train_run("same", tiny())
    first = runs.read_run("same")["created"]
    time.sleep(1.1)
    train_run("same", tiny(C=0.5), replace_existing=True)
    assert runs.read_run("same")["settings"]["knobs"]["C"] == 0.5
    assert runs.read_run("same")["created"] != first
    # The replaced run is read anew, not served from the first one's cache.
    assert registry.load_model("run:same").config["C"] == 0.5


@pytest.mark.slow  # a training run of 2-6 s; the tiny end-to-end run stays fast
def test_a_stopped_run_leaves_nothing_behind():
    progress = Progress(tiny("cnn"))
    progress.stop()
    with pytest.raises(RunStopped, match="stopped; nothing was saved"):
        train_run("stopped", tiny("cnn"), progress)
    assert runs.run_names() == []
    assert list(runs.runs_dir().iterdir()) == []


@pytest.mark.slow  # a training run of 2-6 s; the tiny end-to-end run stays fast
def test_a_run_that_would_be_too_big_is_refused_and_leaves_nothing(monkeypatch):
    monkeypatch.setattr(training_runs, "MAX_RUN_BYTES", 1000)
    with pytest.raises(RunSettingsError, match="choose a smaller model"):
        train_run("huge", tiny())
    assert list(runs.runs_dir().iterdir()) == []


@pytest.mark.slow  # a training run of 2-6 s; the tiny end-to-end run stays fast
def test_an_iterative_run_keeps_its_curves_and_first_layer_snapshots():
    epochs = []
    record = train_run("tiny-ann", tiny("ann", epochs=2), Progress(tiny("ann"), epochs.append))
    assert [e["epoch"] for e in epochs] == [1, 2] == [c["epoch"] for c in record["curves"]]
    assert set(epochs[0]) == {"epoch", "train_loss", "train_accuracy", "val_accuracy", "seconds"}
    manifest = json.loads((runs.run_path("tiny-ann") / "manifest.json").read_text())
    assert "snapshots.npz" in manifest["sha256"]
    snaps = np.load(runs.run_path("tiny-ann") / "snapshots.npz", allow_pickle=False)
    assert sorted(snaps.files) == ["epoch1", "epoch2"] and snaps["epoch1"].shape == (16, 784)


@pytest.mark.slow
def test_tampered_run_weights_are_refused_and_a_damaged_record_is_listed_as_damaged():
    train_run("tamper", tiny())
    weights = runs.run_path("tamper") / "logreg.npz"
    raw = bytearray(weights.read_bytes())
    raw[-20] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelError):
        registry.load_model("run:tamper")
    (runs.run_path("tamper") / "run.json").write_text("{" * 100_000)
    listed = runs.list_runs()
    assert listed[0]["damaged"] and "damaged" in listed[0]["error"]
    with pytest.raises(ModelError, match="damaged"):
        registry.check_model_id("run:tamper")


def test_unknown_runs_and_bad_names_are_one_sentence(capsys):
    with pytest.raises(ModelError, match="There is no run named 'ghost'"):
        registry.load_model("run:ghost")
    with pytest.raises(ModelError, match="A run's name must be"):
        registry.check_model_id("run:../../etc")
    assert main(["runs", "rm", "ghost"]) == 2
    assert "There is no run named 'ghost'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_cli_lists_removes_and_predicts_with_runs(capsys, tmp_path):
    train_run("cli-lr", tiny())
    assert main(["runs", "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["name"] == "cli-lr" and row["settings"]["family"] == "logreg"
    assert row["disk_bytes"] > 0 and not row["damaged"]
    image = tmp_path / "seven.png"
    from PIL import Image

    Image.fromarray(digitlab.load_mnist("test")[0][0]).save(image)
    assert main(["predict", str(image), "--model", "run:cli-lr", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["digit"] == 7
    assert main(["evaluate", "--model", "run:cli-lr", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "run:cli-lr"
    assert main(["runs", "rm", "cli-lr"]) == 0
    assert runs.run_names() == []


def test_learner_settings_need_a_run_name(capsys):
    assert main(["train", "--model", "cnn", "--epochs", "2"]) == 2
    assert "--epochs only go with --run NAME" in capsys.readouterr().err
    # A run's switches too: training the shipped models would ignore them without a word.
    for given in (["--pipeline", "naive"], ["--json"], ["--replace"], ["--progress"]):
        assert main(["train", "--model", "cnn", *given]) == 2
        assert f"{given[0]} only go with --run NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "x.png", "--model", "run:nothing"])


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digitlab.cli", "train", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kwargs,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_prints_one_json_line_per_epoch_then_the_result():
    proc = cli("--model", "ann", "--run", "cli-ann", "--json", "--train-size", "300",
               "--epochs", "2", "--hidden", "16")  # fmt: skip
    out, _ = proc.communicate(timeout=600)
    lines = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0
    assert [line["epoch"] for line in lines[:2]] == [1, 2]
    assert set(lines[0]) == {"epoch", "train_loss", "train_accuracy", "val_accuracy", "seconds"}
    assert lines[2]["done"] and lines[2]["run"] == "cli-ann"
    assert runs.run_names() == ["cli-ann"]


@pytest.mark.slow
def test_cli_logreg_prints_one_line_and_a_killed_run_is_never_listed():
    proc = cli("--model", "logreg", "--run", "one-line", "--json", "--train-size", "200")
    out, _ = proc.communicate(timeout=600)
    lines = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0 and len(lines) == 2 and lines[0]["train_loss"] is None

    proc = cli("--model", "cnn", "--run", "killed", "--json", "--progress", "--train-size",
               "2000", "--epochs", "5", "--width", "4")  # fmt: skip
    for line in proc.stdout:  # wait until it is training
        if "progress" in json.loads(line):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert runs.run_names() == ["one-line"]
    partials = [p for p in runs.runs_dir().iterdir() if p.name.startswith(runs.PARTIAL_PREFIX)]
    assert partials  # left by the killed writer, never listed...
    runs.remove_stale_partials(now=time.time() + runs.STALE_PARTIAL_S + 1)
    assert not [p for p in runs.runs_dir().iterdir() if p.name.startswith(runs.PARTIAL_PREFIX)]


@pytest.mark.slow
def test_sigterm_stops_a_run_cleanly():
    proc = cli("--model", "cnn", "--run", "termed", "--json", "--progress", "--train-size",
               "2000", "--epochs", "5", "--width", "4")  # fmt: skip
    for line in proc.stdout:
        if "progress" in json.loads(line):
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=60) == 3, rest[-3000:]
    assert '"stopped"' in rest
    assert runs.run_names() == [] and list(runs.runs_dir().iterdir()) == []


@pytest.mark.slow
def test_one_trainer_runs_one_job_and_stop_ends_it():
    from digitlab.training.jobs import Trainer, TrainerBusy

    trainer = Trainer()
    settings = tiny("cnn", train_size=2000, epochs=5)
    job = trainer.start("job", settings, owner="a")
    with pytest.raises(TrainerBusy, match="Someone is training 'job'"):
        trainer.start("other", settings, owner="b")
    deadline = time.time() + 300
    while not job.progress and time.time() < deadline:
        trainer.heartbeat("a")
        time.sleep(0.2)
    trainer.stop("b")  # not theirs: nothing happens
    assert job.running
    trainer.stop("a")
    while job.running and time.time() < deadline:
        time.sleep(0.2)
    assert job.state == "stopped" and "nothing was saved" in job.message
    assert runs.run_names() == [] and list(runs.runs_dir().iterdir()) == []


@pytest.mark.slow
def test_a_run_nobody_watches_is_stopped():
    from digitlab.training.jobs import Trainer

    trainer = Trainer(heartbeat_timeout=1.0)
    job = trainer.start("unwatched", tiny("cnn", train_size=2000, epochs=5), owner="gone")
    deadline = time.time() + 300
    while job.running and time.time() < deadline:
        time.sleep(0.2)
    assert job.state == "stopped" and "closed" in job.message
    assert runs.run_names() == []


@pytest.mark.slow
def test_a_knn_run_searches_only_its_training_subset():
    train_run("tiny-knn", tiny("knn", train_size=300, k=3))
    model = registry.load_model("run:tiny-knn")
    feats, labels = model.mnist_index()
    assert len(feats) == len(labels) == 300
    assert np.bincount(labels, minlength=10).min() >= 20  # every digit in its share
    assert model.config["train_subset"] == {"size": 300, "seed": 0}
    # The shipped k-NN still searches the whole training split.
    assert registry.load_model("knn").config.get("train_subset") is None


@pytest.mark.slow
def test_queued_runs_started_from_a_thread_that_ends_all_complete():
    """A page's script thread ends once the page is drawn; the runs it started (and those
    queued after them) must live on: children are started by the trainer's own thread."""
    import threading

    from digitlab.training.jobs import Trainer

    trainer = Trainer()
    started = []
    thread = threading.Thread(
        target=lambda: started.append(
            trainer.start("first", tiny(), owner="page", then=[("second", tiny(C=0.5))])
        )
    )
    thread.start()
    thread.join()
    deadline = time.time() + 600
    while time.time() < deadline and not (
        trainer.job.name == "second" and trainer.job.state != "running"
    ):
        trainer.heartbeat("page")
        time.sleep(0.3)
    assert trainer.job.state == "done", trainer.job.message
    assert trainer.job.done_before == ["first"]
    assert runs.run_names() == ["first", "second"]
