"""The learning lab on the command line: ``digitlab train --run NAME`` and ``digitlab runs``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from digitlab.errors import ModelError

RUN_OPTIONS = ("train_size", "epochs", "C", "max_iter", "k", "hidden", "width", "lr", "batch",
               "preset", "augment", "time_limit", "pipeline")  # fmt: skip
RUN_FLAGS = ("replace", "json", "progress")  # a learner run's switches: off unless given
TIME_LIMIT_HELP = "stop the run after this many seconds (nothing is saved)"


def model_id_arg(text: str) -> str:
    """An argparse type: a registered model id or ``run:NAME`` of a complete run."""
    from digitlab.models.registry import check_model_id

    try:
        return check_model_id(text)
    except ModelError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The learner-sized settings of ``digitlab train`` (only with ``--run NAME``)."""
    p.add_argument(
        "--run",
        metavar="NAME",
        help="train a learner run into your data folder (never the shipped weights)",
    )
    p.add_argument("--preset", choices=("quick", "full"), help="run settings to start from")
    p.add_argument(
        "--train-size",
        type=int,
        metavar="N",
        help="a stratified subset of N training digits (100-55000)",
    )
    p.add_argument("--epochs", type=int, metavar="E", help="passes over the training digits")
    p.add_argument("--C", type=float, dest="C", help="logistic regression: inverse regularisation")
    p.add_argument("--max-iter", type=int, help="logistic regression: optimiser iterations")
    p.add_argument("--k", type=int, help="k-NN: neighbours that vote")
    p.add_argument("--hidden", type=int, help="ANN: neurons in the hidden layer")
    p.add_argument("--width", type=int, help="CNN: filters in the first convolution")
    p.add_argument("--lr", type=float, help="ANN and CNN: the peak learning rate")
    p.add_argument("--batch", type=int, help="ANN and CNN: digits per training step")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="augmentation and synthesised digits (default: on)",
    )
    p.add_argument(
        "--pipeline",
        choices=("ours", "naive"),
        help="measure the run on user-like images through ours (the default) or the naive one",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the ANN and CNN train (default auto: CUDA when present, else the CPU; the "
        "same code on either)",
    )
    p.add_argument("--time-limit", type=float, metavar="S", help=TIME_LIMIT_HELP)
    p.add_argument("--replace", action="store_true", help="replace a run of the same name")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per epoch, then one with the result")  # fmt: skip
    p.add_argument(
        "--progress",
        action="store_true",
        help="with --json: also a line of progress within each epoch (for the app)",
    )


def learner_options_given(args: argparse.Namespace) -> list[str]:
    """The learner-run options given without ``--run`` (training the shipped models would
    silently ignore them)."""
    given = [name for name in RUN_OPTIONS if getattr(args, name, None) is not None]
    given += [name for name in RUN_FLAGS if getattr(args, name, False)]
    return ["--" + name.replace("_", "-") for name in given]


def cmd_train_run(args: argparse.Namespace) -> int:
    """``digitlab train --run NAME``: one family, learner-sized, epoch lines as it goes."""
    from digitlab.training.runs import Progress, RunStopped, run_settings, train_run

    if args.model == "all":
        print("digitlab: error: a run trains one model: choose --model logreg, ann or cnn.",
              file=sys.stderr)  # fmt: skip
        return 2
    knobs = {k: getattr(args, k) for k in ("C", "max_iter", "k", "hidden", "width", "lr", "batch")}
    settings = run_settings(
        args.model, args.preset or "quick", train_size=args.train_size, epochs=args.epochs,
        augment=True if args.augment is None else args.augment, device=args.device,
        seed=args.seed, pipeline=args.pipeline or "ours", **knobs,
    )  # fmt: skip

    def say(line: dict) -> None:
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            loss = "-" if line["train_loss"] is None else f"{line['train_loss']:.4f}"
            train_acc = line["train_accuracy"]
            train = "-" if train_acc is None else f"{train_acc:.2%}"
            print(f"epoch {line['epoch']}: loss {loss}, train {train}, validation "
                  f"{line['val_accuracy']:.2%}, {line['seconds']:.1f} s", flush=True)  # fmt: skip

    last = [0.0]

    def tell_batch(epoch: int, seen: int, total: int) -> None:
        now = time.monotonic()
        if args.json and args.progress and (now - last[0] > 0.5 or seen >= total):
            last[0] = now
            progress_line = {"epoch": epoch, "seen": seen, "total": total}
            print(json.dumps({"progress": progress_line}), flush=True)

    progress = Progress(settings, on_epoch=say, on_batch=tell_batch, deadline=args.time_limit)
    # SIGTERM (the app's Stop, or a closed tab) ends the run at the next batch, cleanly.
    signal.signal(signal.SIGTERM, lambda *_: progress.stop())
    try:
        record = train_run(args.run, settings, progress, replace_existing=args.replace)
    except RunStopped as err:
        print(json.dumps({"stopped": str(err)}) if args.json else f"digitlab: {err}",
              flush=True)  # fmt: skip
        return 3
    if not progress.curves:  # a model fitted in one go: its one line
        say(record["curves"][0])
    card = record["card"]
    if args.json:
        print(json.dumps({"run": args.run, "done": True, "val_accuracy": card["val_accuracy"],
                          "userlike_accuracy": card["userlike_accuracy"],
                          "train_seconds": record["train_seconds"],
                          "disk_bytes": record["disk_bytes"]}), flush=True)  # fmt: skip
    else:
        print(
            f"run {args.run}: validation {card['val_accuracy']:.2%}, user-like test renders "
            f"{card['userlike_accuracy']:.2%}, {record['train_seconds']:.0f} s, "
            f"{record['disk_bytes'] / 1024:.0f} KiB; use it as --model run:{args.run}"
        )
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from digitlab.models.runs import list_runs, remove_run

    if args.action == "rm":
        if not args.name:
            print("digitlab: error: say which run to remove: digitlab runs rm NAME",
                  file=sys.stderr)  # fmt: skip
            return 2
        remove_run(args.name)
        print(f"removed run {args.name}")
        return 0
    records = list_runs()
    for r in records:
        row = {
            "name": r["name"], "settings": r.get("settings", {}),
            "val_accuracy": r.get("val_accuracy"),
            "userlike_accuracy": r.get("card", {}).get("userlike_accuracy"),
            "train_seconds": r.get("train_seconds"), "disk_bytes": r["disk_bytes"],
            "created": r.get("created"), "damaged": bool(r.get("damaged")),
        }  # fmt: skip
        if args.json:
            print(json.dumps(row))
        elif row["damaged"]:
            print(f"{row['name']}: damaged ({r.get('error')})")
        else:
            s = row["settings"]
            knobs = ", ".join(f"{k}={v}" for k, v in s.get("knobs", {}).items())
            augment = "on" if s.get("augment") else "off"
            print(f"{row['name']}: {s.get('family')} on {s.get('train_size')} digits, "
                  f"{s.get('epochs')} epoch(s), {knobs}, augment {augment}; validation "
                  f"{row['val_accuracy']:.2%}, user-like {row['userlike_accuracy']:.2%}, "
                  f"{row['train_seconds']:.0f} s, {row['disk_bytes'] / 1024:.0f} KiB")  # fmt: skip
    if not records and not args.json:
        print("no runs yet: digitlab train --model cnn --run my-first-cnn")
    return 0


def add_runs_command(sub) -> None:
    p = sub.add_parser("runs", help="list your trained runs, or remove one (runs rm NAME)")
    p.add_argument("action", nargs="?", choices=("list", "rm"), default="list")
    p.add_argument("name", nargs="?", help="the run to remove")
    p.add_argument("--json", action="store_true", help="one JSON line per run")
    p.set_defaults(func=cmd_runs)
