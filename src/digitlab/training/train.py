"""Train models, save their artifacts (with SHA-256s in the manifest) and their test metrics."""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from tqdm import tqdm

from digitlab.errors import ModelError
from digitlab.evaluation.mnist import evaluate_model, metrics_path
from digitlab.models import artifacts
from digitlab.models.artifacts import WEIGHTS_DIR
from digitlab.models.registry import model_class
from digitlab.models.torchnet import MAX_MEMBERS, resolve_device
from digitlab.training.data import training_data

DEFAULT_SEED = 0


def device_overrides(model_id: str, device: str | None) -> dict:
    """What ``train`` is told of the device: only nets (whose settings hold a ``device``) train
    on one; logistic regression and k-NN train on the CPU whatever is asked."""
    hparams = getattr(model_class(model_id), "HPARAMS", {})
    return {"device": device} if device is not None and "device" in hparams else {}


def train_model(
    model_id: str,
    data,
    weights_dir: Path = WEIGHTS_DIR,
    seed: int = DEFAULT_SEED,
    device: str | None = None,
):
    """Train one model, save it, evaluate it on the test set and store the metrics JSON.
    ``device`` (``auto``, ``cpu`` or ``cuda``) is where a net trains; the other models ignore it.
    A net comes back to the CPU to be calibrated, saved and measured."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    model = model_class(model_id).train(data, seed=seed, **device_overrides(model_id, device))
    train_seconds = time.perf_counter() - start
    model.save(weights_dir)  # records the files' SHA-256s in the manifest
    result = evaluate_model(model_id, weights_dir, model=model)
    result |= {
        "train_seconds": round(train_seconds, 1),
        "val_accuracy": model.config.get("val_accuracy"),
        "low_confidence_threshold": model.config.get("low_confidence_threshold"),
        "seed": seed,
        "train_images": len(data.train_x),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
    }
    metrics = metrics_path(model_id, weights_dir)
    artifacts.save_json(metrics, result)
    artifacts.record_in_manifest(weights_dir, [metrics.name])  # checked by stored_metrics
    tqdm.write(
        f"{model_id}: test accuracy {result['accuracy']:.2%}, trained in {train_seconds:.0f} s"
    )
    return result


def recalibrate_model(
    model_id: str, data, weights_dir: Path = WEIGHTS_DIR, probe: dict | None = None
) -> dict:
    """Choose a trained model's thresholds again by today's rule (``contract.calibrate``, on
    the validation data it never trained on) without training it again; save its config and
    measure its test metrics again (a refused digit counts as wrong, so they can change).
    ``probe``: the sizes of the validation probe (the full one unless given)."""
    model = model_class(model_id).load(weights_dir)
    model.calibrate(data, probe)  # a net's temperature first, then the thresholds
    model.save(weights_dir)
    metrics = metrics_path(model_id, weights_dir)
    result = artifacts.load_json(weights_dir, metrics.name)
    result |= evaluate_model(model_id, weights_dir, model=model)
    result |= {
        "low_confidence_threshold": model.config.get("low_confidence_threshold"),
        "recalibrated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    artifacts.save_json(metrics, result)
    artifacts.record_in_manifest(weights_dir, [metrics.name])
    tqdm.write(f"{model_id}: thresholds chosen again, test accuracy {result['accuracy']:.2%}")
    return result


def member_train_seconds(model_id: str, folder: Path) -> float | None:
    """How long a net in ``folder`` took to train, from its stored metrics (None: unknown)."""
    try:
        return artifacts.load_json(folder, metrics_path(model_id, folder).name)["train_seconds"]
    except (ModelError, KeyError, TypeError):
        return None


def join_members(
    model_id: str, member_dirs: list[Path], data, weights_dir: Path = WEIGHTS_DIR
) -> dict:
    """The model's ensemble from single nets trained apart (``digitlab train --model M --seed S
    --out DIR``, one folder per seed: on several machines, say, or one at a time): the model
    ``digitlab train`` makes with ``members`` nets, calibrated together on validation, saved
    and measured on the test set. Its training time is the sum of its members'. Nets trained
    unlike one another (other settings or preprocessing; a device may differ) or from seeds
    other than ``seed``, ``seed + 1``, ... are refused with a ``ModelError``."""
    cls = model_class(model_id)
    if not hasattr(cls, "assemble"):
        raise ModelError(f"{model_id} is not made of nets; train it with digitlab train.")
    if not 2 <= len(member_dirs) <= MAX_MEMBERS:
        raise ModelError(f"Join 2 to {MAX_MEMBERS} nets, not {len(member_dirs)}.")
    singles = [cls.load(Path(d)) for d in member_dirs]
    recipe = [k for k in cls.HPARAMS if k not in ("members", "device")] + ["preprocessing"]
    first = singles[0].config
    for k, single in enumerate(singles):
        config = single.config
        if config.get("members", 1) != 1:
            raise ModelError(f"{member_dirs[k]} holds an ensemble, not one net.")
        if config["seed"] != first["seed"] + k:
            raise ModelError(f"The nets' seeds must run on from {first['seed']}: "
                             f"{member_dirs[k]} has seed {config['seed']}.")  # fmt: skip
        differ = [key for key in recipe if config.get(key) != first.get(key)]
        if differ:
            raise ModelError(f"{member_dirs[k]} was trained unlike {member_dirs[0]} "
                             f"({', '.join(differ)} differ).")  # fmt: skip
    fits = [{key: s.config[key] for key in ("val_accuracy", "best_epoch", "history")}
            for s in singles]  # fmt: skip
    settings = {key: first[key] for key in [*cls.HPARAMS, "id", "seed", "preprocessing"]
                if key in first}  # fmt: skip
    model = cls.assemble([s.net for s in singles], fits, settings, data)
    seconds = [member_train_seconds(model_id, Path(d)) for d in member_dirs]
    model.save(weights_dir)
    result = evaluate_model(model_id, weights_dir, model=model)
    result |= {
        "train_seconds": None if None in seconds else round(sum(seconds), 1),
        "member_train_seconds": seconds,
        "val_accuracy": model.config["val_accuracy"],
        "low_confidence_threshold": model.config["low_confidence_threshold"],
        "seed": first["seed"],
        "train_images": len(data.train_x),
        "joined_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
    }
    metrics = metrics_path(model_id, weights_dir)
    artifacts.save_json(metrics, result)
    artifacts.record_in_manifest(weights_dir, [metrics.name])
    tqdm.write(f"{model_id}: {len(singles)} nets joined, test accuracy {result['accuracy']:.2%}")
    return result


def train_models(
    model_ids,
    weights_dir: Path = WEIGHTS_DIR,
    seed: int = DEFAULT_SEED,
    limit: int | None = None,
    data_dir=None,
    recalibrate: bool = False,
    device: str | None = None,
) -> list[dict]:
    """Train each model in turn on one fixed train/validation split of MNIST's training set
    (or, with ``recalibrate``, only choose the trained models' thresholds again). ``device``:
    where the nets train (``resolve_device``: a missing CUDA is one sentence, before any work)."""
    if device is not None:
        resolve_device(device)
    weights_dir.mkdir(parents=True, exist_ok=True)
    data = training_data(limit, data_dir)
    if recalibrate:
        return [recalibrate_model(m, data, weights_dir) for m in model_ids]
    return [train_model(m, data, weights_dir, seed, device) for m in model_ids]
