"""``digitlab train --device``: the nets train on CUDA where there is one and on the CPU
otherwise, by the same code; asking for CUDA where there is none is one sentence, before any
work. Every test here runs on the CPU (there is no GPU in CI)."""

from __future__ import annotations

import pytest
import torch

from digitlab.cli.main import build_parser, main
from digitlab.errors import ModelError
from digitlab.models.torchnet import resolve_device
from digitlab.training.train import device_overrides


def test_auto_is_cuda_only_where_there_is_one(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ModelError, match="no CUDA device"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine's answer
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")


def test_the_device_reaches_the_nets_and_only_them():
    assert device_overrides("cnn", "cuda") == {"device": "cuda"}
    assert device_overrides("ann", "auto") == {"device": "auto"}
    assert device_overrides("logreg", "cuda") == device_overrides("knn", "cuda") == {}
    assert device_overrides("cnn", None) == {}  # the net's own setting, as before


def test_train_uses_cuda_where_present_by_default():
    for argv in (["train"], ["train", "--model", "cnn", "--run", "mine"]):
        assert build_parser().parse_args(argv).device == "auto"


def test_cuda_where_there_is_none_is_one_sentence_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as here and in CI
    out = tmp_path / "weights"
    argv = ["train", "--model", "cnn", "--limit", "500", "--out", str(out), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == "digitlab: error: There is no CUDA device here; train with --device cpu or auto."
    assert not out.exists()
