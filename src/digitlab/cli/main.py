"""The ``digitlab`` command: thin wrappers over the library, one function per subcommand."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digitlab.answers.inference import predict
from digitlab.answers.number import read_number
from digitlab.cli import lab
from digitlab.cli.common import UNEXPECTED, json_text, read_input, terminal_text
from digitlab.cli.profiles import PROFILE_HELP, add_profile_commands
from digitlab.contract import NO_DIGIT
from digitlab.data.mnist import RESOURCES, SPLIT_SIZES, cache_dir, load_mnist
from digitlab.errors import DigitLabError
from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation import renders as robustness
from digitlab.imaging.decode import MAX_FILE_BYTES
from digitlab.models.registry import DEFAULT_MODEL, model_ids
from digitlab.profiles.adapt import load_model


def cmd_data(args: argparse.Namespace) -> int:
    for split in SPLIT_SIZES:
        images, labels = load_mnist(split, args.data_dir)
        print(f"{split}: {len(images)} images {images.shape[1:]} uint8, {len(labels)} labels")
    names = ", ".join(r.name for r in RESOURCES.values())
    print(f"verified by SHA-256: {names}\ncache: {cache_dir()}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.run:
        return lab.cmd_train_run(args)
    given = lab.learner_options_given(args)
    if given:
        print(f"digitlab: error: {', '.join(given)} only go with --run NAME (a learner "
              "run; the shipped weights keep their own recipe).", file=sys.stderr)  # fmt: skip
        return 2
    # Imported here to buy start-up time: torch, sklearn and pandas only for `digitlab train`.
    from digitlab.evaluation.mnist import all_model_ids
    from digitlab.training.train import train_models

    out = Path(args.out) if args.out else None
    kwargs = {"weights_dir": out} if out else {}
    if args.join:
        return join_nets(args, kwargs)
    results = train_models(
        all_model_ids(args.model),
        seed=args.seed,
        limit=args.limit,
        data_dir=args.data_dir,
        recalibrate=args.recalibrate,
        device=args.device,
        **kwargs,
    )
    if args.recalibrate:
        for r in results:
            print(f"{r['model']}: thresholds chosen again, accuracy {r['accuracy']:.2%}")
        return 0
    total = sum(r["train_seconds"] for r in results)
    for r in results:
        print(f"{r['model']}: accuracy {r['accuracy']:.2%}, trained in {r['train_seconds']:.0f} s")
    print(f"total training time: {total:.0f} s")
    return 0


def join_nets(args: argparse.Namespace, kwargs: dict) -> int:
    from digitlab.training.data import training_data
    from digitlab.training.train import join_members

    if args.model not in ("ann", "cnn"):
        print("digitlab: error: --join joins ANN or CNN nets: name one with --model.",
              file=sys.stderr)  # fmt: skip
        return 2
    data = training_data(args.limit, args.data_dir)
    r = join_members(args.model, [Path(d) for d in args.join], data, **kwargs)
    print(f"{r['model']}: {len(args.join)} nets joined, accuracy {r['accuracy']:.2%}, "
          f"validation {r['val_accuracy']:.2%}")  # fmt: skip
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from digitlab.evaluation import mnist as evaluate  # here to buy start-up time: sklearn

    results = []
    for model_id in evaluate.all_model_ids(args.model):
        model = load_model(model_id, profile=args.profile)
        result = evaluate.evaluate_model(model_id, model=model)
        result.pop("misclassified")
        results.append(result)
        if args.json:
            print(json.dumps(result), flush=True)
    if args.json:
        return 0
    if args.model == "all":
        print(evaluate.markdown_table(evaluate.comparison_rows(results)))
    else:
        r = results[0]
        print(f"{r['display_name']} on the MNIST test set (10,000 images)")
        print(evaluate.markdown_table(evaluate.comparison_rows(results)))
        print(f"\nmacro precision {r['precision_macro']:.4f}, recall {r['recall_macro']:.4f}")
        print(evaluate.per_class_table(r))
        print("\nConfusion matrix (rows: the true digit; columns: the answer):")
        print(evaluate.confusion_table(r))
    return 0


def cmd_evaluate_real(args: argparse.Namespace) -> int:
    ids = list(model_ids()) if args.model == "all" else [args.model]
    result = robustness.evaluate_robustness(ids, args.n, args.seeds, args.split)
    if args.json:
        print(json.dumps(result))
    else:
        print(robustness.table_header(result) + "\n")
        print(robustness.format_table(result))
    return 0


def cmd_evaluate_folder(args: argparse.Namespace) -> int:
    items = folder_eval.load_labelled_folder(args.dir)
    ids = list(model_ids()) if args.model == "all" else [args.model]
    pipelines = ("ours", "naive") if args.pipeline == "both" else (args.pipeline,)
    every = []
    for pipeline in pipelines:
        by_model = folder_eval.evaluate_folder(items, ids, pipeline, args.profile)
        for model_id, result in by_model.items():
            every.append(result)
            if args.gallery:
                gallery = Path(args.gallery)
                suffix = (f"-{model_id}" if args.model == "all" else "") + (
                    f"-{pipeline}" if len(pipelines) > 1 else "")  # fmt: skip
                gallery = gallery.with_name(f"{gallery.stem}{suffix}{gallery.suffix}")
                folder_eval.draw_gallery(result, items, gallery)
                print(f"wrote {gallery}", file=sys.stderr)
            if args.json:
                print(json.dumps(result), flush=True)
            elif not args.markdown:
                print(folder_eval.format_result(result) + "\n", flush=True)
    if args.markdown:
        print(folder_eval.summary_markdown(every))
    return 0


def prediction_record(path: str, prediction, model_id: str) -> dict:
    """One file's answer as a JSON object; a refusal is the ``error``, in one sentence."""
    record = {"file": path, "model": model_id}
    if not prediction.found:
        error = prediction.refusal or NO_DIGIT
        return record | {"digit": None, "confidence": 0.0, "low_confidence": False,
                         "probabilities": None, "error": error}  # fmt: skip
    return record | {"digit": prediction.digit, "confidence": round(prediction.confidence, 6),
                     "low_confidence": prediction.low_confidence,
                     "probabilities": [round(float(p), 6) for p in prediction.probabilities],
                     "error": None}  # fmt: skip


def number_record(path: str, reading, model_id: str) -> dict:
    """One file's number as a JSON object: each digit with its own confidence, unsure flag
    and refusal; a row with a piece refused as not a digit is refused as a whole (``error``)."""
    digits = [
        {"box": list(map(int, d.box)), "digit": None if d.refused else d.digit,
         "confidence": round(d.confidence, 6), "low_confidence": d.low_confidence,
         "refusal": d.refusal}
        for d in reading.digits
    ]  # fmt: skip
    answered = [d.confidence for d in reading.digits if not d.refused]
    error = reading.refusal or (None if reading.found else NO_DIGIT)
    return {"file": path, "model": model_id, "number": reading.text if error is None else None,
            "confidence": round(min(answered, default=0.0), 6) if error is None else 0.0,
            "low_confidence": reading.low_confidence, "digits": digits,
            "error": error}  # fmt: skip


def error_record(path: str, message: str, number: bool, model_id: str) -> dict:
    record = {"file": path, "model": model_id}
    if number:
        return record | {"number": None, "confidence": 0.0, "low_confidence": False,
                         "digits": [], "error": message}  # fmt: skip
    return record | {"digit": None, "confidence": 0.0, "low_confidence": False,
                     "probabilities": None, "error": message}  # fmt: skip


def answer_record(name: str, raw: bytes, model_id: str, model, number: bool) -> dict:
    """One file's bytes read by one model, as a record; never raises (a bug costs one record)."""
    try:
        if number:
            return number_record(name, read_number(raw, model=model), model_id)
        return prediction_record(name, predict(raw, model=model), model_id)
    except DigitLabError as err:
        return error_record(name, json_text(str(err)), number, model_id)
    except Exception:  # a bug must not cost the other files their answers
        return error_record(name, UNEXPECTED, number, model_id)


def cmd_predict(args: argparse.Namespace) -> int:
    """Each file with each model of ``--model``; ``all``: every shipped model, one line per
    file per model, a file's lines together, in the registry's order."""
    ids = list(model_ids()) if args.model == "all" else [args.model]
    models = {m: load_model(m, profile=args.profile) for m in ids}
    failed = 0
    for path in args.files:
        name = json_text(path)
        try:
            raw, why = read_input(path), None  # once: standard input can be read only once
        except DigitLabError as err:
            raw, why = None, json_text(str(err))
        except Exception:
            raw, why = None, UNEXPECTED
        for model_id, model in models.items():
            if raw is None:
                record = error_record(name, why, args.number, model_id)
            else:
                record = answer_record(name, raw, model_id, model, args.number)
            failed += record["error"] is not None
            line = human_line(record, named=len(models) > 1)
            print(json.dumps(record, allow_nan=False) if args.json else line, flush=True)
    return 1 if failed else 0


def human_line(record: dict, named: bool = False) -> str:
    """One file's answer on one terminal line (a file name's control characters escaped);
    ``named``: with the model's id, for ``--model all``. An unsure answer is marked."""
    where = f"{record['file']} [{record['model']}]" if named else record["file"]
    if record["error"]:
        return terminal_text(f"{where}: error: {record['error']}")
    answer = record.get("number", record.get("digit"))
    unsure = ", unsure" if record["low_confidence"] else ""
    return terminal_text(f"{where}: {answer} (confidence {record['confidence']:.1%}{unsure})")


def app_command(args: argparse.Namespace) -> list[str]:
    """The `streamlit run` command line of ``digitlab app``: safe unless told otherwise.

    It listens on ``--host`` only (127.0.0.1 unless you open it deliberately), refuses uploads
    over DigitLab's own file limit before they reach us, and never shows a traceback in the
    browser (``none``: this Streamlit reads ``false`` as ``stacktrace``).
    """
    home = Path(__file__).parents[1] / "app" / "Home.py"
    upload_mb = MAX_FILE_BYTES // (1024 * 1024)  # Streamlit's megabytes are MiB
    return [sys.executable, "-m", "streamlit", "run", str(home), "--server.headless", "true",
            "--server.address", args.host, "--server.port", str(args.port),
            "--server.maxUploadSize", str(upload_mb), "--client.showErrorDetails", "none",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
            "--server.fileWatcherType", "none"]  # fmt: skip


DEFAULT_HOST = "127.0.0.1"  # this machine only, unless --host opens it on purpose


def cmd_app(args: argparse.Namespace) -> int:
    cmd = app_command(args)
    if args.profiles:  # read by digitlab.app.profile_state; the server inherits it
        os.environ["DIGITLAB_PROFILES"] = "1"
    # Students join from their phones only when --host opened the app on purpose.
    from digitlab.app.join import JOIN_ENV, join_url_for

    os.environ.pop(JOIN_ENV, None)  # never inherited from a shell: the app says what it is
    join = join_url_for(args.host, args.port) if args.host != DEFAULT_HOST else None
    if join:
        os.environ[JOIN_ENV] = join
    print(f"DigitLab app on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    if join:
        print(f"Students join at {join}", file=sys.stderr, flush=True)
    # Become the Streamlit server (no child left behind when we are stopped).
    os.execv(sys.executable, cmd)
    return 0  # not reached


MODEL_HELP = "a model id (" + ", ".join(model_ids()) + ") or run:NAME, one of your runs"


def model_or_all(text: str) -> str:
    return text if text == "all" else lab.model_id_arg(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="digitlab", description="Handwritten digit recognition on MNIST."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    models_or_all = (*model_ids(), "all")

    p = sub.add_parser("data", help="get and verify the MNIST data")
    p.add_argument("--data-dir", help="a directory with the IDX files (raw or .gz)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train models and write their artifacts and metrics")
    p.add_argument("--model", choices=models_or_all, default="all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="train on the first N images only (quick runs)")
    p.add_argument("--out", help="weights directory (default: the package's shipped weights)")
    p.add_argument("--data-dir", help="a directory with the IDX files (raw or .gz)")
    p.add_argument(
        "--recalibrate",
        action="store_true",
        help="only fit the temperature and choose the thresholds again, on validation",
    )
    p.add_argument(
        "--join", nargs="+", metavar="DIR",
        help="join nets trained apart (--out DIR, one per seed: seed, seed + 1, ...) into the "
        "model's ensemble, calibrated together; its training time is the sum of theirs",
    )  # fmt: skip
    lab.add_run_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics on the official MNIST test set")
    p.add_argument("--model", type=model_or_all, default="all",
                   help=f"{MODEL_HELP}, or all (default: %(default)s)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON line per model")
    p.add_argument("--profile", help=PROFILE_HELP)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("evaluate-real", help="accuracy on user-like images, by kind")
    p.add_argument("--model", choices=models_or_all, default="all")
    p.add_argument("--n", type=int, default=300, help="images per kind and seed")
    p.add_argument("--split", choices=robustness.SPLITS, default="val", help=robustness.SPLIT_HELP)
    p.add_argument("--seeds", type=robustness.parse_seeds, default=robustness.DEFAULT_SEEDS,
                   help=robustness.SEEDS_HELP)  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate_real)

    p = sub.add_parser("evaluate-folder", help="accuracy on your own labelled images")
    p.add_argument("dir", metavar="DIR", help="a folder with labels.csv or 0/ ... 9/ subfolders")
    p.add_argument("--model", type=model_or_all, default="all",
                   help=f"{MODEL_HELP}, or all (default: %(default)s)")  # fmt: skip
    p.add_argument("--pipeline", choices=("ours", "naive", "both"), default="ours",
                   help="ours, naive (resize to 28x28 as tutorials do) or both")  # fmt: skip
    p.add_argument("--gallery", metavar="FILE.png", help="write a picture of the misses")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="one JSON line per model")
    output.add_argument("--markdown", action="store_true", help="one table for the README")
    p.add_argument("--profile", help=PROFILE_HELP)
    p.set_defaults(func=cmd_evaluate_folder)

    p = sub.add_parser("predict", help="recognise the digit in image files")
    p.add_argument("files", nargs="+", metavar="FILE", help="image files ('-' for stdin)")
    p.add_argument("--model", type=model_or_all, default=DEFAULT_MODEL,
                   help=f"{MODEL_HELP}, or all: one line per file per model "
                   "(default: %(default)s)")  # fmt: skip
    p.add_argument("--json", action="store_true",
                   help="one JSON line per file (per file and model with --model all)")  # fmt: skip
    p.add_argument("--number", action="store_true", help="read a row of digits (a number)")
    p.add_argument("--profile", help=PROFILE_HELP)
    p.set_defaults(func=cmd_predict)

    add_profile_commands(sub)
    lab.add_runs_command(sub)

    p = sub.add_parser("app", help="start the web app (Streamlit, headless)")
    p.add_argument("--port", type=int, default=8501,
                   help="port to listen on (default %(default)s); the app is then at "
                   "http://HOST:PORT")  # fmt: skip
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to listen on (default 127.0.0.1: this machine only; "
                   "0.0.0.0 opens it to the network)")  # fmt: skip
    p.add_argument("--profiles", action="store_true",
                   help="keep personal profiles on disk (default: a demo profile per browser "
                   "session, nothing saved)")  # fmt: skip
    p.set_defaults(func=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DigitLabError as err:
        print(f"digitlab: error: {terminal_text(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digitlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
