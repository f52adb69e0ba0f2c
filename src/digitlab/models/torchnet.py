"""What the two neural models share: predict, save/load as safetensors, and the training loop.

The loop is plain PyTorch (as in pytorch/examples' MNIST): one function per epoch, AdamW
with a one-cycle learning-rate schedule, augmentation on each batch, an exponential moving
average of the weights (``WeightAverage``), and the weights with the best validation accuracy
kept (early stopping when it stops improving).
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from digitlab.contract import NOT_A_DIGIT_CLASS
from digitlab.errors import ModelError
from digitlab.imaging.features import as_float_images
from digitlab.imaging.pipeline import pipeline_version
from digitlab.models import artifacts
from digitlab.models.artifacts import RESTORE, unsafe_why
from digitlab.models.base import DigitModel

if TYPE_CHECKING:  # only a type here: the models never import training or synthesis
    from digitlab.training.data import TrainingData

EVAL_BATCH = 2000
MAX_MEMBERS = 8  # an ensemble larger than this is not a file we wrote


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8/float [N,28,28] -> float tensor [N,1,28,28] in [0,1]."""
    return torch.from_numpy(as_float_images(images))[:, None]


def logits_in_batches(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    net.eval()
    with torch.inference_mode():
        return torch.cat([net(x[i : i + EVAL_BATCH]) for i in range(0, len(x), EVAL_BATCH)])


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits_in_batches(net, x).argmax(1) == y).float().mean())


def fast_bf16_available() -> bool:
    """Whether this CPU does bfloat16 matrix work natively (AMX or AVX512-BF16)."""
    return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()


def training_batches(x, y, batch_size: int, augment, augment_fn, pool, gen):
    """One epoch of shuffled (images, labels) batches, each augmented; with a ``pool``, a
    share of each batch (``augment.p_pool``) is swapped for pool digits first."""
    order = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        xb, yb = x[idx], y[idx]
        if pool is not None:
            swap = torch.rand(len(idx), generator=gen) < augment.p_pool
            picks = torch.randint(len(pool[0]), (int(swap.sum()),), generator=gen)
            xb[swap], yb[swap] = pool[0][picks], pool[1][picks]
        xb = augment_fn(xb, augment, gen) if augment else xb
        yield xb.contiguous(memory_format=torch.channels_last), yb


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), ``cpu`` or ``cuda``; the same code runs on either."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("There is no CUDA device here; train with --device cpu or auto.")
    return torch.device(name)


class WeightAverage:
    """An exponential moving average of a net's weights and batch-norm statistics.

    The average of the last few hundred steps' weights sits nearer the middle of the basin the
    optimiser wanders in, so it usually reads unseen digits a little better than the last
    step's weights. The decay warms up, ``min(decay, (1 + t) / (10 + t))``, so a short run of
    a few hundred steps is not dominated by its random start.
    """

    def __init__(self, net: nn.Module, decay: float):
        self.decay, self.steps = decay, 0
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for name, value in net.state_dict().items():
            if value.dtype.is_floating_point:
                self.state[name].lerp_(value, 1 - decay)
            else:  # counters such as batch norm's num_batches_tracked
                self.state[name].copy_(value)

    def averaged(self, net: nn.Module) -> nn.Module:
        """A copy of ``net`` holding the averaged weights."""
        copy_ = copy.deepcopy(net)
        copy_.load_state_dict(self.state)
        return copy_


class Teacher:
    """Trained models whose averaged answers a net learns from (knowledge distillation,
    Hinton, Vinyals and Dean, 2015): ``models`` (TorchModels with the same classes) answer
    each training batch as augmented, at their own temperatures; the student's loss is
    ``(1 - weight)`` of the usual cross-entropy and ``weight`` of the KL divergence from the
    teachers' answers, both softened by ``temperature`` (the loss scaled by its square). With
    ``digits_only``, the divergence is averaged over the batch's digits only.

    The teachers are the weights that ship in the package (``artifacts.WEIGHTS_DIR``) when
    training starts, whatever folder the student is saved to; the student's settings record
    their files' SHA-256s (``distilled_from``)."""

    def __init__(self, models: list, weight: float, temperature: float, digits_only=False):
        if not 0 <= weight <= 1 or temperature <= 0:
            raise ModelError("A distillation weight is from 0 to 1 and its temperature above 0.")
        self.models, self.weight, self.temperature = models, weight, temperature
        self.digits_only = digits_only
        for model in models:  # they answer, never learn
            for member in model.members:
                member.eval()

    @torch.no_grad()
    def log_probabilities(self, xb: torch.Tensor) -> torch.Tensor:
        """[B,C] float32: the log of the teachers' mean probabilities (each one's members'
        mean at its own temperature)."""
        total = 0
        for model in self.models:
            t = model.config.get("temperature", 1.0)
            for member in model.members:
                total = total + F.softmax(member(xb).float() / t, -1) / len(model.members)
        return torch.log((total / len(self.models)).clamp_min(1e-12))

    def loss(self, logits: torch.Tensor, hard: torch.Tensor, xb: torch.Tensor,
             yb: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """The student's loss for ``logits`` of images ``xb`` labelled ``yb``, given the
        labels' loss ``hard``. With ``digits_only``, the teachers' answers count for the
        digits only: what is not a digit, its label alone says."""
        t = self.temperature
        target = F.log_softmax(self.log_probabilities(xb) / t, -1)
        student = F.log_softmax(logits.float() / t, -1)
        per_row = (target.exp() * (target - student)).sum(-1)  # KL(teachers || student)
        keep = (yb != NOT_A_DIGIT_CLASS) if self.digits_only else torch.ones_like(yb, dtype=bool)
        soft = (per_row * keep).sum() / keep.sum().clamp_min(1)
        return (1 - self.weight) * hard + self.weight * t * t * soft

    @classmethod
    def from_settings(cls, spec: dict | None, device) -> Teacher | None:
        """The teachers ``spec`` names (``{"teachers": [model ids], "weight", "temperature",
        "digits_only"}``), loaded from the shipped weights and moved to ``device``; None
        without a spec."""
        if not spec:
            return None
        from digitlab.models.registry import model_class  # the registry imports this module

        models = [model_class(t).load(artifacts.WEIGHTS_DIR) for t in spec["teachers"]]
        for model in models:
            if not isinstance(model, TorchModel):
                raise ModelError(f"Only a network can teach another; {model.id} is not one.")
            for member in model.members:
                member.to(device, memory_format=torch.channels_last)
        return cls(models, spec["weight"], spec["temperature"], spec.get("digits_only", False))


def teacher_files(spec: dict | None) -> dict:
    """{file: SHA-256} of the shipped weights a distilled net learnt from (from the manifest)."""
    if not spec:
        return {}
    hashes = artifacts.read_manifest(artifacts.WEIGHTS_DIR)
    return {f"{t}.safetensors": hashes.get(f"{t}.safetensors") for t in spec["teachers"]}


def train_one_epoch(
    net, batches, optimizer, scheduler, use_bf16: bool, bar, device=None, on_batch=None,
    average: WeightAverage | None = None, label_smoothing: float = 0.0,
    teacher: Teacher | None = None,
) -> tuple[float, float]:  # fmt: skip
    """One pass over ``batches``; returns the mean training loss and accuracy (on the
    batches as trained, augmented). ``on_batch(images_seen)`` is called after each batch,
    ``average`` (if any) is updated after each step, ``label_smoothing`` spreads that
    share of each target over all classes (0: plain cross-entropy), and a ``teacher`` (if
    any) adds what it answers to the loss."""
    net.train()
    total, right, count = 0.0, 0, 0
    for xb, yb in batches:
        if device is not None:
            xb, yb = xb.to(device), yb.to(device)
        # bfloat16 autocast halves the time on CPUs with native bf16; weights stay float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            logits = net(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            if teacher is not None:
                loss = teacher.loss(logits, loss, xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update(net)
        total += loss.item() * len(yb)
        right += int((logits.argmax(1) == yb).sum())
        count += len(yb)
        bar.update(len(yb))
        if on_batch is not None:
            on_batch(count)
    return total / max(count, 1), right / max(count, 1)


def first_layer_weights(net: nn.Module) -> np.ndarray:
    """The first layer's weights as float32 numpy (conv filters or dense rows)."""
    layer = next(m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear))
    return layer.weight.detach().float().cpu().numpy()


def fit_network(
    net: nn.Module, data: TrainingData, hp: dict, seed: int, teacher: Teacher | None = None
) -> dict:
    """Train ``net`` in place on ``data.train``; keep the best weights on ``data.val``; a
    ``teacher`` (if any) adds its answers to the loss. Returns their validation accuracy,
    their epoch and the curves (``history``)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = resolve_device(hp.get("device", "cpu"))
    x, y = to_tensor(data.train_x), torch.from_numpy(data.train_y)
    vx, vy = to_tensor(data.val_x).to(device), torch.from_numpy(data.val_y).to(device)
    augment = data.augmentation(hp.get("augment"))
    net.to(device, memory_format=torch.channels_last)
    pool = None
    if augment is not None and augment.p_pool > 0:
        pool = torch_pool(data, hp, seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    steps = hp["epochs"] * ((len(x) + hp["batch_size"] - 1) // hp["batch_size"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, hp["lr"], total_steps=steps)
    use_bf16 = hp["bf16"] and device.type == "cpu" and fast_bf16_available()
    best = {"val_accuracy": -1.0, "epoch": 0, "state": None}
    average = WeightAverage(net, hp["ema"]) if hp.get("ema") else None
    history = []
    for epoch in range(1, hp["epochs"] + 1):
        start = time.perf_counter()
        with tqdm(
            total=len(x), desc=f"{hp['id']} epoch {epoch}/{hp['epochs']}", unit="img", leave=False
        ) as bar:
            batches = training_batches(x, y, hp["batch_size"], augment, data.augment, pool, gen)
            loss, train_acc = train_one_epoch(
                net, batches, optimizer, scheduler, use_bf16, bar, device,
                lambda seen, epoch=epoch: data.on_batch(epoch, seen, len(x)), average,
                hp.get("label_smoothing", 0.0), teacher,
            )  # fmt: skip
        judged = net if average is None else average.averaged(net)  # the weights we would keep
        val_acc = accuracy(judged, vx, vy)
        history.append(
            {
                "epoch": epoch,
                "loss": round(loss, 5),
                "train_accuracy": round(train_acc, 5),
                "val_accuracy": val_acc,
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
        data.on_epoch(history[-1], first_layer_weights(judged))
        tqdm.write(
            f"{hp['id']} epoch {epoch}: loss {loss:.4f}  val acc {val_acc:.4%}", file=sys.stderr
        )
        if val_acc > best["val_accuracy"]:
            best = {
                "val_accuracy": val_acc,
                "epoch": epoch,
                "state": copy.deepcopy(judged.state_dict()),
            }
        elif epoch - best["epoch"] >= hp["patience"]:
            tqdm.write(f"{hp['id']}: early stop, best epoch {best['epoch']}", file=sys.stderr)
            break
    net.load_state_dict(best["state"])
    net.to("cpu")
    return {"val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"], "history": history}


def torch_pool(data: TrainingData, hp: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What a share of each batch is swapped for: training digits as the pipeline renders
    them, digits in the styles MNIST lacks, and negatives ("not a digit")."""
    px, py = data.rendered_pool(hp["pool"]["pipeline"], hp["pool"]["coarse"], seed)
    extra = hp["pool"].get("styled", 0), hp["pool"].get("negative", 0)
    ex, ey = data.extra_examples(*extra, seed)
    x = np.concatenate([px, ex]).astype(np.float32)
    y = np.concatenate([py, ey])
    return torch.from_numpy(x)[:, None], torch.from_numpy(y)


def member_logits(nets: list[nn.Module], images: np.ndarray) -> np.ndarray:
    """[M,N,C] float32: each of ``nets``' logits for ``images``."""
    x = to_tensor(images)
    return np.stack([logits_in_batches(net, x).float().numpy() for net in nets])


def softened(logits: np.ndarray, temperature: float) -> np.ndarray:
    """[M,N,C] logits -> [N,C]: the mean of the members' softmax of logits / temperature."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(-1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(-1, keepdims=True)).mean(0)


def probabilities(
    nets: nn.Module | list[nn.Module], images: np.ndarray, temperature: float = 1.0
) -> np.ndarray:
    """[N,11] (or [N,10] for a net without the not-a-digit class) softmax probabilities of
    the logits divided by ``temperature``; for several nets (an ensemble), the mean of theirs."""
    nets = nets if isinstance(nets, list) else [nets]
    return softened(member_logits(nets, images), temperature).astype(np.float32)


# The temperatures ``fit_temperature`` chooses among (and the ones a config may hold).
TEMPERATURES = (0.05, 20.0)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature scaling (Guo et al., 2017): the T in ``TEMPERATURES`` that minimises the
    log-loss of ``softened(logits, T)`` on ``labels`` (validation data the nets never trained
    on). It divides every logit alike, so one net's answers stay the same digits and only how
    sure they are changes (an ensemble's mean may lean another way where its nets disagree):
    T > 1 softens an overconfident net, T < 1 sharpens an underconfident one (label smoothing
    makes one). A search on a log grid, then golden-section refinement around the best one."""
    rows = np.arange(len(labels))

    def loss(log_t: float) -> float:
        p = softened(logits, float(np.exp(log_t)))[rows, labels]
        return float(-np.mean(np.log(np.maximum(p, 1e-12))))

    lo, hi = np.log(TEMPERATURES)
    grid = np.linspace(lo, hi, 41)
    best = int(np.argmin([loss(t) for t in grid]))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(30):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        a, b = (a, d) if loss(c) < loss(d) else (c, b)
    return float(np.exp((a + b) / 2))


def checked_temperature(model_id: str, config: dict) -> float:
    """A config's temperature (1.0 where it has none); ``ModelError`` for one no fit gives."""
    t = config.get("temperature", 1.0)
    lo, hi = TEMPERATURES
    if isinstance(t, bool) or not isinstance(t, int | float) or not lo <= t <= hi:
        raise ModelError(
            f"The {model_id} settings hold temperature {t!r}, not a number from {lo} to {hi}; "
            f"{RESTORE}"
        )
    return float(t)


MEMBER_PREFIX = "member{}."  # the keys of an ensemble's k-th net (k >= 1) in its weights file


def merged_state(nets: list[nn.Module]) -> dict[str, torch.Tensor]:
    """One state dict for an ensemble's nets: the first net's keys as they are (so a single
    net's file is the same as ever), the k-th net's prefixed ``member{k}.``."""
    state = dict(nets[0].state_dict())
    for k, net in enumerate(nets[1:], start=1):
        state |= {MEMBER_PREFIX.format(k) + key: v for key, v in net.state_dict().items()}
    return state


def split_state(state: dict[str, torch.Tensor], count: int) -> list[dict[str, torch.Tensor]]:
    """``merged_state`` undone for ``count`` nets; ``ModelError`` for a key of no net."""
    parts: list[dict[str, torch.Tensor]] = [{} for _ in range(count)]
    for key, value in state.items():
        k = next((k for k in range(1, count) if key.startswith(MEMBER_PREFIX.format(k))), 0)
        if k == 0 and key.startswith("member"):
            raise ModelError(f"The weights hold {key!r}, which belongs to none of {count} nets.")
        parts[k][key.removeprefix(MEMBER_PREFIX.format(k)) if k else key] = value
    return parts


# What the ANN and the CNN train with alike (each adds its own architecture and schedule).
TRAINING = {
    "device": "cpu",  # or "cuda", or "auto" (CUDA when present): the same code on either
    # How many validation digits calibration looks at (None: ``FULL_PROBE``; quick runs: fewer).
    "probe": None,
    "batch_size": 128,
    "augment": "default",
    # Batches swap in pipeline-rendered, coarse, styled digits and negatives ("not a digit").
    "pool": {"pipeline": 8000, "coarse": 6000, "styled": 6000, "negative": 8000},
    "classes": 11,  # ten digits and "not a digit"
    "bf16": True,
    # Decay of the moving average of the weights that is validated and kept (None: the last
    # step's weights); about the last thousand steps, two epochs of the full training split.
    "ema": 0.999,
    # Nets trained alike from seeds seed, seed + 1, ... whose probabilities are averaged.
    "members": 1,
    # Share of each training target spread over all classes (0: plain cross-entropy).
    "label_smoothing": 0.0,
    # Knowledge distillation: {"teachers": [shipped model ids], "weight", "temperature",
    # "digits_only"} (``Teacher``), or None to learn from the labels alone.
    "distill": None,
}


class PipelineChangedWarning(UserWarning):
    """The weights were trained with another version of the preprocessing pipeline."""


def warn_if_pipeline_changed(model_id: str, config: dict) -> None:
    trained_with = config.get("preprocessing")
    if trained_with != pipeline_version():
        warnings.warn(
            f"The {model_id} weights were trained with preprocessing {trained_with or 'unknown'}"
            f", not today's {pipeline_version()}: retrain it (digitlab train --model "
            f"{model_id}) for answers you can trust.",
            PipelineChangedWarning,
            stacklevel=3,
        )


class TorchModel(DigitModel):
    """Base of the ANN and the CNN: subclasses set ``id``, ``HPARAMS`` and ``build(config)``.

    ``HPARAMS`` must hold what ``fit_network`` reads: epochs, batch_size, lr, weight_decay,
    patience, ema (the weight average's decay, or None), augment (``"default"``, a dict for
    ``AugmentConfig`` or None), pool (how many rendered, coarse, styled and negative digits
    are swapped into batches), bf16 (use bfloat16 autocast where the CPU does it natively)
    and classes; and ``members``: how many such nets, trained from consecutive seeds, answer
    together (their probabilities averaged). ``net`` is the first of them, the one *Look
    inside* shows; ``members`` holds them all.
    """

    def __init__(self, net: nn.Module, config: dict, others: tuple[nn.Module, ...] = ()):
        self.net, self.config = net.eval(), config
        self.members = [self.net, *(other.eval() for other in others)]

    @staticmethod
    def build(config: dict) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def describe(cls, config: dict) -> str:
        return (
            "A neural network trained by DigitLab's shared loop: AdamW with a one-cycle "
            "learning-rate schedule, augmented batches, and the weights of the epoch that read "
            "the validation digits best."
        )

    @staticmethod
    def describe_members(config: dict) -> str:
        """A sentence for an ensemble's description ("" for one net)."""
        count = config.get("members", 1)
        if count < 2:
            return ""
        return (
            f" The shipped model is {count} such nets, trained alike from different random "
            "starts, whose answers are averaged: they err on different digits, so together "
            "they err less and are surer only where all agree."
        )

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        """[N,11]: the ten digits, then "not a digit" (the members' mean), at the config's
        temperature (1: the softmax as trained)."""
        return probabilities(self.members, images, self.config.get("temperature", 1.0))

    def calibrate(self, data: TrainingData, probe: dict | None = None) -> None:
        """Fit the temperature on the validation digits, then choose the thresholds at it."""
        logits = member_logits(self.members, data.val_x)
        self.config["temperature"] = fit_temperature(logits, np.asarray(data.val_y, np.int64))
        super().calibrate(data, probe)

    def input_gradient(self, image28: np.ndarray, digit: int) -> np.ndarray:
        """d logit[digit] / d input for one 28x28 image, as [28,28] float32 (an ensemble's:
        the mean of its members' logits)."""
        x = to_tensor(image28[None]).requires_grad_(True)
        with torch.enable_grad():
            total = 0
            for net in self.members:
                net.eval()
                total = total + net(x)[0, digit]
            (total / len(self.members)).backward()
        return x.grad[0, 0].numpy().astype(np.float32)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,D] float32: the penultimate layer, the space the last layer decides in
        (what a profile's taught digits are compared in, ``digitlab.profiles.adapt``); an
        ensemble's members' side by side, scaled by 1/sqrt(members) so that a squared
        distance is the mean of theirs."""
        x = to_tensor(images)
        parts = [logits_in_batches(net[:-1], x).float().numpy() for net in self.members]
        return np.concatenate(parts, axis=1) / np.float32(np.sqrt(len(parts)))

    @classmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> TorchModel:
        """Train with ``HPARAMS`` (``overrides`` replace some, e.g. ``epochs=1`` in tests):
        ``members`` nets from seeds ``seed``, ``seed + 1``, ..., then calibrate them together."""
        # The digits in its training batches are partly pipeline-rendered: record which pipeline.
        config = cls.hparams(overrides) | {"id": cls.id, "seed": seed,
                                           "preprocessing": pipeline_version()}  # fmt: skip
        config["augment"] = data.augmentation_settings(config.get("augment"))
        if config.get("distill"):  # which weights it learnt from
            config["distilled_from"] = teacher_files(config["distill"])
        # The teachers are loaded once, whatever the number of nets that learn from them.
        device = resolve_device(config.get("device", "cpu"))
        teacher = Teacher.from_settings(config.get("distill"), device)
        nets, fits = [], []
        for k in range(config["members"]):
            torch.manual_seed(seed + k)
            net = cls.build(config)
            fits.append(fit_network(net, data, config, seed + k, teacher))
            nets.append(net)
        return cls.assemble(nets, fits, config, data)

    @classmethod
    def assemble(cls, nets: list[nn.Module], fits: list[dict], config: dict, data) -> TorchModel:
        """The model of ``nets`` (trained with ``config`` from seeds ``config["seed"]``,
        ``+ 1``, ...; ``fits`` what ``fit_network`` returned for each): their curves, each
        one's validation accuracy and theirs together, and thresholds calibrated on them
        together."""
        config = config | {"members": len(nets)} | fits[0]
        model = cls(nets[0], config, tuple(nets[1:]))
        if len(nets) > 1:
            # As ``fit_network`` measures one net: "not a digit" counts as a wrong answer.
            val = model.predict_proba_all(data.val_x).argmax(1)
            config["val_accuracy"] = float((val == data.val_y).mean())
            config["member_fits"] = [
                {"seed": config["seed"] + k, "val_accuracy": fit["val_accuracy"],
                 "best_epoch": fit["best_epoch"]}
                for k, fit in enumerate(fits)
            ]  # fmt: skip
        model.calibrate(data, config.get("probe"))
        return model

    def save(self, weights_dir: Path) -> list[str]:
        names = [f"{type(self).id}.safetensors", f"{type(self).id}.json"]  # a run: run:NAME
        artifacts.save_tensors(weights_dir / names[0], merged_state(self.members))
        artifacts.save_json(weights_dir / names[1], self.config)
        artifacts.record_in_manifest(weights_dir, names)
        return names

    @classmethod
    def load(cls, weights_dir: Path) -> TorchModel:
        config = artifacts.load_json(weights_dir, f"{cls.id}.json")
        warn_if_pipeline_changed(cls.id, config)
        checked_temperature(cls.id, config)
        count = config.get("members", 1)
        if not isinstance(count, int) or not 1 <= count <= MAX_MEMBERS:
            raise ModelError(f"The {cls.id} settings name {count!r} nets; 1-{MAX_MEMBERS} load.")
        state = artifacts.load_tensors(weights_dir, f"{cls.id}.safetensors")
        nets = []
        for part in split_state(state, count):
            net = cls.build(config)
            try:
                net.load_state_dict(part)
            except RuntimeError as err:  # missing, extra or misshapen tensors
                raise ModelError(f"The {cls.id} weights do not fit its settings "
                                 f"({unsafe_why(err)}); {RESTORE}") from None  # fmt: skip
            nets.append(net)
        return cls(nets[0], config, tuple(nets[1:]))
