"""Accuracy of each model on a folder of people's own labelled digit images.

A folder is either listed by a ``labels.csv`` (header ``file,label[,kind]``, paths relative to
the folder) or laid out as ``<digit>/<image>`` (torchvision's ImageFolder; every image then
has the kind ``"all"``). Each image is read and preprocessed *once*, shared by every model;
then each model answers all of them in one batch.

An image that cannot be read, is blank, or that the model refuses counts as wrong: it is
never dropped, and it is listed apart from the misses (a wrong digit). Run::

    digitlab evaluate-folder my-digits/ --model all --gallery misses.png
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from digitlab.errors import DigitLabError, ImageError, NoDigitError
from digitlab.evaluation.metrics import accuracy
from digitlab.evaluation.tables import header_table, percent
from digitlab.imaging.decode import read_image_file
from digitlab.models.registry import display_name

MAX_IMAGES = 100_000  # a class's scans are hundreds; this bounds time and memory (~320 MB)
MAX_LABELS_BYTES = 50 * 1024 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DEFAULT_KIND = "all"
PIPELINES = ("ours", "naive")
GALLERY_MAX = 60
TOP_CONFUSIONS = 5
LISTED_IN_TEXT = 20  # misses and refusals listed in the human report (--json lists all)


@dataclass(frozen=True)
class LabelledImage:
    """One image of the folder: ``file`` as listed (relative), its full ``path``, truth, kind.

    An uploaded image carries its bytes in ``data`` and is never read from disk; ``path`` is
    then None (and ``data`` None too when a labels CSV lists a file that was not uploaded)."""

    file: str
    path: Path | None
    label: int
    kind: str = DEFAULT_KIND
    data: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ReadImage:
    """An image after preprocessing: the 28x28 the models see, or why there is none."""

    image28: np.ndarray | None
    reason: str | None = None
    cause: str | None = None  # "unreadable" or "blank" when image28 is None


# ---------------------------------------------------------------------------------------------
# Finding the images and their labels


def load_labelled_folder(path: str | os.PathLike) -> list[LabelledImage]:
    """The labelled images of a folder (``labels.csv`` or ``<digit>/<image>``) or a labels.csv.

    Raises ``DigitLabError`` with one sentence for a folder that cannot be evaluated. Listed
    files that are missing are *not* an error here: they are refused later, and counted.
    """
    root = Path(path)
    if root.is_file():
        if root.suffix.lower() != ".csv":
            raise DigitLabError(f"{root} is neither a folder nor a labels.csv file.")
        items = read_labels_csv(root)
    elif not root.is_dir():
        raise DigitLabError(f"{root}: no such folder.")
    elif (root / "labels.csv").is_file():
        items = read_labels_csv(root / "labels.csv")
    else:
        items = read_image_folder(root)
    if not items:
        raise DigitLabError(f"{root} lists no images.")
    if len(items) > MAX_IMAGES:
        raise DigitLabError(
            f"{root} has {len(items):,} images; the limit is {MAX_IMAGES:,}, so split it."
        )
    return items


def read_labels_csv(
    csv_path: Path, anywhere: bool = False, limit: int | None = None,
    over_limit: str = "the limit is {limit:,}, so split it",
) -> list[LabelledImage]:  # fmt: skip
    """Rows of a ``file,label[,kind]`` CSV; files are relative to the CSV's folder.

    With ``anywhere`` (a person's own list of files to teach, not a folder to measure), a file
    may also be an absolute path, or relative to the working directory when it is not found
    beside the CSV. More than ``limit`` rows is one sentence counting them all, ending with
    ``over_limit``: no row is ever dropped without a word (``limit``: ``MAX_IMAGES``)."""
    limit = MAX_IMAGES if limit is None else limit
    try:
        text = csv_text(read_image_file(csv_path, MAX_LABELS_BYTES))
    except ImageError as err:
        raise DigitLabError(f"{csv_path}: {err}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        items = labelled_rows(reader, csv_path, anywhere, limit)
        if len(items) > limit:
            rows = len(items) + sum(1 for _ in reader)
            raise DigitLabError(
                f"{csv_path} lists {rows:,} images; {over_limit.format(limit=limit)}."
            )
        return items
    except csv.Error as err:
        raise DigitLabError(
            f"{csv_path}, near line {reader.line_num + 1}: not valid CSV ({err})."
        ) from None


def csv_text(raw: bytes) -> str:
    """A CSV's text: UTF-8 (with or without a BOM) when it is valid UTF-8, else Windows-1252
    or Latin-1, as spreadsheets on Windows save it, so names keep their accents."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")  # every byte is a character: never fails


def labelled_rows(
    reader: csv.DictReader, csv_path: Path, anywhere: bool, limit: int
) -> list[LabelledImage]:
    """The ``LabelledImage`` of each row (at most ``limit`` + 1: the caller says how many is
    too many), checking the header, labels and paths."""
    names = [(name or "").strip().lower() for name in reader.fieldnames or []]
    twice = sorted({n for n in names if n in ("file", "label", "kind") and names.count(n) > 1})
    if twice:
        raise DigitLabError(f"{csv_path} has the column {' and '.join(twice)} more than once; "
                            "keep one.")  # fmt: skip
    columns = {(name or "").strip().lower(): name for name in reader.fieldnames or []}
    if "file" not in columns or "label" not in columns:
        raise DigitLabError(f"{csv_path} needs a header with the columns file and label.")
    items = []
    for row in reader:
        where = f"{csv_path}, line {reader.line_num}"
        file = (row.get(columns["file"]) or "").strip()
        if not file:
            raise DigitLabError(f"{where}: the file name is empty.")
        label = parse_label(row.get(columns["label"]), where)
        kind = (row.get(columns.get("kind", ""), "") or "").strip() or DEFAULT_KIND
        path = located(csv_path.parent, file) if anywhere else inside(csv_path.parent, file, where)
        items.append(LabelledImage(file, path, label, kind))
        if len(items) > limit:
            break  # read_labels_csv counts the rest and says how many is too many
    return items


def parse_label(value: str | None, where: str) -> int:
    """A label cell -> its digit; anything but a single digit 0-9 is one clear error."""
    text = (value or "").strip()
    if len(text) != 1 or text not in "0123456789":
        raise DigitLabError(f"{where}: the label {text!r} is not a digit 0-9.")
    return int(text)


def inside(root: Path, file: str, where: str) -> Path:
    """``root/file``, refusing absolute paths and paths that climb out of ``root``."""
    if "\x00" in file:
        raise DigitLabError(f"{where}: the file name contains a NUL character.")
    relative = Path(os.path.normpath(file))
    if relative.is_absolute() or relative.parts[:1] == ("..",) or relative.drive:
        raise DigitLabError(f"{where}: {file!r} is not a path inside the folder.")
    return root / relative


def located(root: Path, file: str) -> Path:
    """An absolute ``file`` as it is; a relative one beside the CSV (``root``), else in the
    working directory if it is there (else beside the CSV, for the error to name)."""
    path = Path(file)
    if path.is_absolute() or (root / path).exists() or not path.exists():
        return root / path
    return path


def read_image_folder(root: Path) -> list[LabelledImage]:
    """Images under ``root/0`` ... ``root/9`` (image suffixes only, hidden files skipped)."""
    digit_dirs = [root / str(d) for d in range(10) if (root / str(d)).is_dir()]
    if not digit_dirs:
        raise DigitLabError(
            f"{root} has neither a labels.csv nor digit subfolders 0-9 (like {root}/3/a.png)."
        )
    items = []
    for folder in digit_dirs:
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            items.append(LabelledImage(f"{folder.name}/{path.name}", path, int(folder.name)))
            if len(items) > MAX_IMAGES:
                return items
    return items


# ---------------------------------------------------------------------------------------------
# Uploaded images (the app): bytes in memory, never a path on the server's disk


def uploaded_items(uploads: list[tuple[str, bytes, int, str]]) -> list[LabelledImage]:
    """``(name, bytes, label, kind)`` uploads -> labelled images that carry their bytes."""
    if len(uploads) > MAX_IMAGES:
        raise DigitLabError(f"That is {len(uploads):,} images; the limit is {MAX_IMAGES:,}.")
    return [LabelledImage(name, None, label, kind or DEFAULT_KIND, data)
            for name, data, label, kind in uploads]  # fmt: skip


def evaluate_uploaded(
    uploads: list[tuple[str, bytes, int, str]], model_ids: list[str] | tuple[str, ...],
    pipeline: str = "ours", profile=None,
) -> dict[str, dict]:  # fmt: skip
    """``evaluate_folder`` on ``(name, bytes, label, kind)`` uploads held in memory."""
    return evaluate_folder(uploaded_items(uploads), model_ids, pipeline, profile)


def labelled_by_csv(
    labels_csv: bytes, images: dict[str, bytes], csv_name: str = "labels.csv"
) -> tuple[list[LabelledImage], list[str]]:
    """Uploaded ``images`` (name -> bytes) labelled by an uploaded ``file,label[,kind]`` CSV.

    A row's file matches an image by its name, or by its last part (``scans/a.png`` is the
    upload ``a.png``); a listed file not uploaded is refused later, and counted. Returns the
    items and the names of uploaded images the CSV does not list (not evaluated)."""
    if len(labels_csv) > MAX_LABELS_BYTES:
        raise DigitLabError(f"{csv_name} is too large (over {MAX_LABELS_BYTES // 2**20} MB).")
    reader = csv.DictReader(io.StringIO(csv_text(labels_csv), newline=""))
    try:
        rows = labelled_rows(reader, Path(csv_name), False, MAX_IMAGES)
    except csv.Error as err:
        raise DigitLabError(
            f"{csv_name}, near line {reader.line_num + 1}: not valid CSV ({err})."
        ) from None
    if not rows:
        raise DigitLabError(f"{csv_name} lists no images.")
    if len(rows) > MAX_IMAGES:
        raise DigitLabError(f"{csv_name} lists over {MAX_IMAGES:,} images, the limit.")
    items, used = [], set()
    for row in rows:
        name = row.file if row.file in images else Path(row.file.replace("\\", "/")).name
        data = images.get(name)
        used.add(name)
        items.append(LabelledImage(row.file, None, row.label, row.kind, data))
    return items, [name for name in images if name not in used]


# ---------------------------------------------------------------------------------------------
# Preprocessing once, predicting per model


def pipeline_function(pipeline: str) -> Callable:
    """``"ours"`` -> ``preprocess``; ``"naive"`` -> ``naive_preprocess`` (the tutorial way)."""
    from digitlab.imaging.pipeline import naive_preprocess, preprocess

    if pipeline not in PIPELINES:
        raise DigitLabError(f"Unknown pipeline {pipeline!r}; choose ours or naive.")
    return preprocess if pipeline == "ours" else naive_preprocess


def image_bytes(item: LabelledImage) -> bytes:
    """An item's bytes: uploaded ones as they are, else read from its path (bounded)."""
    if item.data is not None:
        return item.data
    if item.path is None:
        raise ImageError(f"{item.file} is listed in the labels CSV but was not uploaded.")
    return read_image_file(item.path)


def read_image(item: LabelledImage, pipeline: str = "ours") -> ReadImage:
    """Read and preprocess one image; an unusable or blank image says why instead."""
    try:
        return ReadImage(pipeline_function(pipeline)(image_bytes(item)))
    except NoDigitError as err:
        return ReadImage(None, str(err), "blank")
    except DigitLabError as err:
        return ReadImage(None, str(err), "unreadable")


def evaluate_folder(
    items: list[LabelledImage], model_ids: list[str] | tuple[str, ...], pipeline: str = "ours",
    profile=None,
) -> dict[str, dict]:  # fmt: skip
    """Per model id: accuracy overall, per kind and per digit, confusions, refusals, misses
    (through ``profile``, a ``digitlab.Profile`` or a profile's name, if given)."""
    from digitlab.answers.inference import predict_preprocessed_batch
    from digitlab.profiles.adapt import load_model

    pipeline_function(pipeline)  # an unknown pipeline fails before any work
    progress = tqdm(items, desc=f"reading images ({pipeline})", leave=False, disable=None)
    read = [read_image(item, pipeline) for item in progress]
    usable = [i for i, r in enumerate(read) if r.image28 is not None]
    results = {}
    for model_id in model_ids:
        predictions = {}
        if usable:
            model = load_model(model_id, profile=profile)
            batch = predict_preprocessed_batch([read[i].image28 for i in usable], model)
            predictions = dict(zip(usable, batch, strict=True))
        outcomes = [outcome(item, r, predictions.get(i)) for i, (item, r) in
                    enumerate(zip(items, read, strict=True))]  # fmt: skip
        results[model_id] = summarise(model_id, pipeline, items, outcomes)
    return results


def outcome(item: LabelledImage, read: ReadImage, prediction) -> dict:
    """One image's answer: ``answer`` (None when refused), confidence, and the refusal."""
    if read.image28 is None:
        return {"answer": None, "confidence": 0.0, "reason": read.reason, "cause": read.cause}
    if prediction.digit is None:
        return {"answer": None, "confidence": 0.0, "reason": prediction.refusal, "cause": "model"}
    return {"answer": prediction.digit, "confidence": prediction.confidence, "reason": None}


def summarise(model_id: str, pipeline: str, items: list, outcomes: list[dict]) -> dict:
    """The JSON-able result of one model on all items (refusals count as wrong)."""
    correct = [o["answer"] == item.label for item, o in zip(items, outcomes, strict=True)]
    confusions = Counter(
        (item.label, o["answer"])
        for item, o, ok in zip(items, outcomes, correct, strict=True)
        if not ok and o["answer"] is not None
    )
    refused = [{"file": item.file, "reason": o["reason"], "cause": o["cause"]}
               for item, o in zip(items, outcomes, strict=True) if o["answer"] is None]  # fmt: skip
    misses = [{"file": item.file, "truth": item.label, "answer": o["answer"],
               "confidence": round(o["confidence"], 4)}
              for item, o, ok in zip(items, outcomes, correct, strict=True)
              if not ok and o["answer"] is not None]  # fmt: skip
    return {
        "model": model_id,
        "pipeline": pipeline,
        "n": len(items),
        "correct": int(sum(correct)),
        "accuracy": accuracy([o["answer"] for o in outcomes], [item.label for item in items]),
        "per_kind": grouped_accuracy([item.kind for item in items], correct),
        "per_digit": grouped_accuracy([str(item.label) for item in items], correct, sort=True),
        "confusions": [[t, a, c] for (t, a), c in sorted(confusions.items(),
                                                         key=lambda tc: (-tc[1], tc[0]))],
        "refused": refused,
        "misses": misses,
    }  # fmt: skip


def grouped_accuracy(groups: list[str], correct: list[bool], sort: bool = False) -> dict:
    """{group: {n, accuracy}}, groups sorted or in order of first appearance."""
    order = sorted(set(groups)) if sort else dict.fromkeys(groups)
    totals = Counter(groups)
    hits = Counter(g for g, ok in zip(groups, correct, strict=True) if ok)
    return {g: {"n": totals[g], "accuracy": hits[g] / totals[g]} for g in order}


# ---------------------------------------------------------------------------------------------
# Reports


def format_result(result: dict) -> str:
    """The human report of one model: accuracy by kind and digit, confusions, refusals."""
    name = display_name(result["model"])
    lines = [f"## {name} (pipeline: {result['pipeline']}): {percent(result['accuracy'])} "
             f"({result['correct']}/{result['n']} images)", ""]  # fmt: skip
    kinds = result["per_kind"]
    if len(kinds) > 1 or DEFAULT_KIND not in kinds:
        rows = [[k, g["n"], percent(g["accuracy"])] for k, g in kinds.items()]
        lines += [header_table(["kind", "n", "accuracy"], rows), ""]
    digits = result["per_digit"]
    lines += [header_table(["digit", *digits],
                             [["n", *(g["n"] for g in digits.values())],
                              ["accuracy", *(percent(g["accuracy"]) for g in digits.values())]]),
              ""]  # fmt: skip
    if result["confusions"]:
        rows = [[f"{t} -> {a}", c] for t, a, c in result["confusions"][:TOP_CONFUSIONS]]
        lines += ["Most frequent confusions:", header_table(["truth -> answer", "count"], rows)]
        lines.append("")
    lines += listing(f"Misses ({len(result['misses'])})", result["misses"],
                     lambda m: f"{m['file']}: {m['truth']} read as {m['answer']} "
                               f"({percent(m['confidence'])})")  # fmt: skip
    lines += listing(f"Refused or blank ({len(result['refused'])}, counted as wrong)",
                     result["refused"], lambda r: f"{r['file']}: {r['reason']}")  # fmt: skip
    return "\n".join(lines).rstrip()


def report_rows(result: dict) -> dict[str, list[dict]]:
    """``format_result``'s tables as rows for a table widget (the app): per kind, per digit,
    the most frequent confusions, the misses and the refusals (file names stay plain text)."""
    return {
        "per_kind": [{"Kind": k, "Images": g["n"], "Accuracy": percent(g["accuracy"])}
                     for k, g in result["per_kind"].items()],
        "per_digit": [{"Digit": d, "Images": g["n"], "Accuracy": percent(g["accuracy"])}
                      for d, g in result["per_digit"].items()],
        "confusions": [{"True digit": t, "Read as": a, "Count": c}
                       for t, a, c in result["confusions"][:TOP_CONFUSIONS]],
        "misses": [{"File": m["file"], "True digit": m["truth"], "Read as": m["answer"],
                    "Confidence": percent(m["confidence"])} for m in result["misses"]],
        "refused": [{"File": r["file"], "Why": r["reason"]} for r in result["refused"]],
    }  # fmt: skip


def summary_rows(results: list[dict]) -> list[dict]:
    """One row per model: overall accuracy (refusals count as wrong), then per kind."""
    kinds = list(dict.fromkeys(k for r in results for k in r["per_kind"]))
    return [{"Model": display_name(r["model"]), "Accuracy": percent(r["accuracy"]),
             "Correct": f"{r['correct']}/{r['n']}", "Refused": len(r["refused"]),
             **({} if kinds == [DEFAULT_KIND] else
                {k: percent(r["per_kind"][k]["accuracy"]) if k in r["per_kind"] else "-"
                 for k in kinds})}
            for r in results]  # fmt: skip


def listing(title: str, records: list[dict], line: Callable[[dict], str]) -> list[str]:
    """A titled bullet list of at most ``LISTED_IN_TEXT`` records."""
    if not records:
        return [f"{title}: none.", ""]
    lines = [f"{title}:", *(f"- {line(r)}" for r in records[:LISTED_IN_TEXT])]
    if len(records) > LISTED_IN_TEXT:
        lines.append(f"- ... and {len(records) - LISTED_IN_TEXT} more (--json lists all)")
    return [*lines, ""]


def summary_markdown(results: list[dict]) -> str:
    """The README table: one row per model and pipeline; overall accuracy, then per kind."""
    if not results:
        return ""
    kinds = list(dict.fromkeys(k for r in results for k in r["per_kind"]))
    counts = {k: next(r["per_kind"][k]["n"] for r in results if k in r["per_kind"]) for k in kinds}
    header = ["model", "pipeline", f"overall (n={results[0]['n']})",
              *(f"{k} (n={counts[k]})" for k in kinds)]  # fmt: skip
    rows = [[display_name(r["model"]), r["pipeline"], percent(r["accuracy"]),
             *(percent(r["per_kind"][k]["accuracy"]) if k in r["per_kind"] else "-"
               for k in kinds)]
            for r in results]  # fmt: skip
    return header_table(header, rows)


# ---------------------------------------------------------------------------------------------
# Gallery of misses


def draw_gallery(
    result: dict, items: list[LabelledImage], path: str | os.PathLike, limit: int = GALLERY_MAX
) -> int:
    """Write a PNG of the first ``limit`` misses: the input, the 28x28 the model saw, truth,
    answer and confidence. Returns the number of misses drawn (0 writes a "no misses" note)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_file = {item.file: item for item in items}
    misses = result["misses"][:limit]
    columns = 6  # pairs per row
    rows = max(1, -(-len(misses) // columns))
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(2 * columns * 0.95, rows * 1.25 + 0.5),
                             dpi=100, squeeze=False)  # fmt: skip
    for ax in axes.ravel():
        ax.axis("off")
    for index, miss in enumerate(misses):
        source, seen = miss_images(by_file[miss["file"]], result["pipeline"])
        left, right = axes[index // columns, 2 * (index % columns) : 2 * (index % columns) + 2]
        left.imshow(source, cmap="gray", vmin=0, vmax=1)
        left.set_title(short_name(miss["file"]), fontsize=6)
        right.imshow(seen, cmap="gray", vmin=0, vmax=1)
        right.set_title(f"{miss['truth']} -> {miss['answer']} ({percent(miss['confidence'])})",
                        fontsize=7, color="firebrick")  # fmt: skip
    name = display_name(result["model"])
    shown = f"first {len(misses)} of " if len(misses) < len(result["misses"]) else ""
    title = (f"{name}, pipeline {result['pipeline']}: {shown}{len(result['misses'])} misses "
             "(input | what the model saw: truth -> answer)")  # fmt: skip
    if not misses:
        title = f"{name}, pipeline {result['pipeline']}: no misses"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(misses)


def miss_images(item: LabelledImage, pipeline: str) -> tuple[np.ndarray, np.ndarray]:
    """The input (grey, at most 128 px) and the 28x28 of a missed image, read again."""
    from digitlab.imaging.decode import decode_image

    data = image_bytes(item)
    source = decode_image(data, max_side=128).grey
    return source, np.asarray(pipeline_function(pipeline)(data), dtype=np.float32)


def short_name(file: str, width: int = 18) -> str:
    return file if len(file) <= width else "..." + file[-(width - 3) :]
