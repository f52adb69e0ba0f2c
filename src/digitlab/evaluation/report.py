"""The README's results tables, rendered from the stored results JSON: one source of truth.

Each table sits in the README between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
and is rendered by ``RENDERERS[NAME]`` from JSON that a benchmark wrote:

* ``mnist``: the four models on MNIST's test set, from each ``weights/<model>.metrics.json``
  (``benchmarks/bench_models.py`` refreshes them; the app's Evaluate page reads the same files);
* ``realworld``: people's own images, ``results/realworld.json``
  (``benchmarks/bench_realworld.py``);
* ``knn_search``: k-NN's search against the former torch code, ``results/knn_search.json``
  (``benchmarks/bench_knn_search.py``);
* ``userlike``: the user-like generator's test renders, ``results/userlike.json``
  (``benchmarks/bench_userlike.py``);
* ``styles``: writing styles and refusals on validation, ``results/styles.json``
  (``benchmarks/bench_styles.py``);
* ``preprocess``: how long preprocessing takes, ``results/preprocess.json``
  (``benchmarks/bench_preprocess.py``);
* ``pipeline``: the preprocessing steps, from ``digitlab.pipeline.PIPELINE``;
* ``profiles``: teaching a profile each writer's digits, ``results/profiles.json``
  (``benchmarks/bench_profiles.py``);
* ``lab``: the learning lab's quick presets and answers while a run trains,
  ``results/lab.json`` (``benchmarks/bench_lab.py``);
* ``refusals``: real digits and non-digits refused as "not a digit", per kind of input,
  ``results/refusals.json`` (``benchmarks/bench_refusals.py``).

``.venv/bin/python benchmarks/update_readme.py`` rewrites every table from the JSON;
``tests/test_readme_results.py`` fails when the README and the JSON disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from digitlab.data.mnist import write_atomic
from digitlab.evaluation.folder import summary_markdown
from digitlab.evaluation.mnist import comparison_rows, markdown_table, stored_metrics
from digitlab.evaluation.refusals import meets_target
from digitlab.evaluation.renders import format_table
from digitlab.evaluation.tables import percent
from digitlab.models.registry import display_name, model_ids, model_spec

RESULTS_DIR = Path(__file__).parents[1] / "results"
BLOCK = re.compile(r"(<!-- results:(\w+) -->\n)(.*?)(<!-- /results:\2 -->)", re.S)


def read_results(name: str) -> dict:
    """The stored results ``name`` (``results/<name>.json``)."""
    return json.loads((RESULTS_DIR / f"{name}.json").read_text())


def write_results(name: str, record: dict) -> None:
    """Store ``record`` as ``results/<name>.json`` (atomically)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    write_atomic(RESULTS_DIR / f"{name}.json", (json.dumps(record, indent=1) + "\n").encode())


def render_mnist() -> str:
    metrics = [stored_metrics(model_id) for model_id in model_ids()]
    table = markdown_table(comparison_rows(metrics))
    trained = [m["train_seconds"] for m in metrics if m.get("train_seconds") is not None]
    bars = ", ".join(f"{display_name(m)} {percent(model_spec(m).bar, 2)}" for m in model_ids())
    notes = (
        f"Training all {len(trained)} took {sum(trained):.0f} s in all (each `digitlab train` "
        "run, choices on the validation split included). The bars the shipped weights must "
        f"keep on this test set ({bars}) are checked by `tests/test_shipped_weights.py`."
    )
    speed = (stored_metrics("knn") or {}).get("speed_vs_sklearn")
    if speed is None:  # retrained since the last benchmark: training's own figures
        return f"From training's own measurements:\n\n{table}\n\n{notes}\n"
    return (
        f"Measured on {speed['measured_at']} with `{speed['command']}`:\n\n{table}\n\n"
        f"k-NN on the 10,000 test images: ours {speed['ours_seconds']:.2f} s "
        f"({percent(speed['ours_accuracy'], 2)}) vs scikit-learn KNeighborsClassifier(3) on raw "
        f"pixels {speed['sklearn_seconds']:.2f} s ({percent(speed['sklearn_accuracy'], 2)}): "
        f"{speed['speedup']:.1f}x faster, timed in the same run.\n\n{notes}\n"
    )


def measured(record: dict, table: str, details: str = "") -> str:
    """A table under the line that says when and how it was measured."""
    return f"Measured on {record['measured_at']} with `{record['command']}`{details}:\n\n{table}\n"


def render_realworld() -> str:
    record = read_results("realworld")
    return measured(record, summary_markdown(record["results"]))


def render_knn_search() -> str:
    record = read_results("knn_search")
    rows = [
        {"search": s["name"], "time": f"{s['seconds']:.2f} s", "extra memory": s["memory"],
         "same neighbours": "-" if s["same"] is None else percent(s['same'], 2)}
        for s in record["searches"]
    ]  # fmt: skip
    details = f" ({record['index']}; FAISS is {record['speedup']:.1f}x faster)"
    return measured(record, markdown_table(rows), details)


def render_styles() -> str:
    record = read_results("styles")
    sizes = record["style_sizes"]
    rows = [
        {"model": display_name(r["model"]),
         **{f"{name} (n={n})": percent(r['styles'][name]) for name, n in sizes.items()},
         "val plain": percent(r['val_plain'], 2),
         "val 7s leaning to 1": f"{r['sevens_leaning_to_1']} of {r['sevens']}",
         "val digits refused": percent(r['val_digits_refused'], 2),
         "val negatives refused": percent(r['val_negatives_refused'])}
        for r in record["models"]
    ]  # fmt: skip
    return measured(record, markdown_table(rows))


def render_userlike() -> str:
    record = read_results("userlike")
    return measured(record, format_table(record["result"]))


def render_pipeline() -> str:
    from digitlab.imaging.pipeline import describe_pipeline, pipeline_version

    version = f"Pipeline version (a hash of its parameters): `{pipeline_version()}`."
    return f"{describe_pipeline()}\n\n{version}\n"


def render_preprocess() -> str:
    record = read_results("preprocess")
    timings = " and ".join(
        f"{u['median_ms']:.1f} ms for {u['upload']} "
        f"(the naive pipeline: {u['naive_median_ms']:.1f} ms)"
        for u in record["uploads"]
    )
    return (
        f"Preprocessing one upload takes a median {timings}, measured on {record['measured_at']} "
        f"with `{record['command']}`.\n"
    )


def render_profiles() -> str:
    record = read_results("profiles")
    ks = [str(k) for k in record["ks"]]
    largest = ks[-1]

    def change(figures: dict) -> str:
        return f"{percent(figures['error_without'])} → {percent(figures['error_with'])}"

    def signed(value: float, decimals: int = 1) -> str:
        return percent(value, decimals, signed=True)

    rows = [
        {"model": display_name(r["model"]),
         **{f"error, first {k} taught": change(r["first_k"][k]) for k in ks},
         "online": change(r["online"]) + f" ({r['online']['taught']} taught)",
         f"worst writer (k={largest})": signed(r['first_k'][largest]['worst_writer_change']),
         "taught back": percent(r['first_k'][largest]['taught_back']),
         "MNIST test cost (worst writer)": signed(r['mnist_test']['worst_cost'], 2),
         f"ms/image (profile of {record['timed_profile']})": f"{r['timing']['ms_without']:.2f} → "
                                        f"{r['timing']['ms_with']:.2f} "
                                        f"(x{r['timing']['ratio']:.2f})",
         "teach one": f"{r['timing']['teach_ms']:.0f} ms"}
        for r in record["results"]
    ]  # fmt: skip
    details = (
        f" ({record['writers']} writers, {record['images']} images; error = wrong digits, "
        "refusals and unreadable images, of the images not taught)"
    )
    return measured(record, markdown_table(rows), details)


def render_lab() -> str:
    record = read_results("lab")
    rows = []
    for family, r in record["families"].items():
        preset = r["preset"]
        knobs = ", ".join(f"{k} {v}" for k, v in preset.items() if k != "train_size")
        rows.append({
            "model": display_name(family),
            "quick preset": f"{preset['train_size']:,} digits, {knobs}",
            "first run": f"{r['cold']['seconds']:.0f} s",
            "next runs": f"{r['warm']['seconds']:.0f} s",
            "target": f"{r['target_s']} s",
            "validation accuracy": percent(r["warm"]["val_accuracy"], 2),
            "user-like test renders": percent(r["warm"]["userlike_accuracy"]),
        })  # fmt: skip
    a = record["answers"]
    answers = (
        f"While a quick CNN trains, one phone-photo upload is answered by all four shipped "
        f"models in a median {a['busy_median_s']:.2f} s ({a['busy_max_s']:.2f} s at worst, "
        f"{a['answers_while_busy']} answers; {a['quiet_median_s']:.2f} s with nothing training)."
    )
    details = f" on {record['device']} ({record['machine']})"
    return measured(record, markdown_table(rows), details) + "\n" + answers + "\n"


def temperature_cells(figures: dict) -> tuple[str, str]:
    """A model's stored calibration figures -> (its temperature, its validation ECE at
    temperature 1), as a table shows them ("none", "same" for a model without one)."""
    if "temperature" not in figures:
        return "none", "same"
    return f"{figures['temperature']:.2f}", percent(figures["untempered"]["ece"], 2)


def render_calibration() -> str:
    record = read_results("calibration")
    people = record.get("people_images")
    rows = []
    for m, r in record["models"].items():
        temperature, untempered = temperature_cells(r)
        row = {"model": display_name(m), "temperature": temperature,
               "ECE": percent(r["ece"], 2), "ECE at temperature 1": untempered}  # fmt: skip
        if people:
            row["ECE on people's images"] = percent(r["people"]["ece"], 2)
            before = r.get("untempered")
            row["at temperature 1"] = percent(before["people_ece"], 2) if before else "same"
        row |= {"answers shown as sure": percent(r["sure_share"]),
                "of those, wrong": percent(r["sure_wrong"], 2),
                "answers flagged unsure, wrong": percent(r.get("unsure_wrong", 0)),
                "digits refused": percent(r["refused"], 2)}  # fmt: skip
        rows.append(row)
    details = f" on the {record['digits']:,} validation digits ({record['bins']} confidence bins)"
    if people:
        details += f" and on {people} people's images in which a digit was found"
    return measured(record, markdown_table(rows), details)


def render_refusals() -> str:
    record = read_results("refusals")
    folder_kinds = record.get("folder_kinds") or []
    rows = []
    for m, r in record["models"].items():
        digits = {k: r["userlike"][k]["refused"] for k in record["kinds"]}
        digits |= {f"folder {k}": r["folder"][k]["refused"] for k in folder_kinds}
        not_digits = {"non-digits": r["not_digits"]["negatives"]["refused"],
                      "paper photos": r["not_digits"]["paper_photos"]["refused"]}  # fmt: skip
        rows.append({
            "model": display_name(m),
            **{k: percent(s, 2) for k, s in digits.items()},
            **{k: percent(s) for k, s in not_digits.items()},
            "target met": "yes" if meets_target(digits.values(), not_digits.values()) else "no",
        })  # fmt: skip
    first = next(iter(record["models"].values()))
    negatives, photos = first["not_digits"]["negatives"], first["not_digits"]["paper_photos"]
    details = (
        f" ({record['n_per_kind'] * len(record['seeds'])} validation renders per kind, seeds "
        f"{','.join(map(str, record['seeds']))}; {negatives['n']:,} non-digits and "
        f"{photos['n']:,} paper photos, seed {record['not_digit_seed']}"
    )
    if folder_kinds:
        sizes = ", ".join(f"{k} {first['folder'][k]['n']}" for k in folder_kinds)
        details += f"; a labelled folder: {sizes}"
    pipeline = (
        f"Of the paper photos, the pipeline itself finds no digit in {percent(photos['pipeline'])}"
        " before any model answers (counted in every model's column, logistic regression's too)."
    )
    return measured(record, markdown_table(rows), details + ")") + "\n" + pipeline + "\n"


def render_teach_app() -> str:
    record = read_results("teach_app")
    seconds = record["seconds"]
    return (
        f"In a real browser, from the click on *Teach it* to the updated answer takes a median "
        f"{record['median_s']:.2f} s (the slowest of {len(seconds)}: {max(seconds):.2f} s; the "
        f"target is {record['bound_s']:g} s), measured on {record['measured_at']} with "
        f"`{record['command']}` ({record['machine']}; the CNN, a fresh server).\n"
    )


RENDERERS: dict[str, Callable[[], str]] = {
    "preprocess": render_preprocess,
    "pipeline": render_pipeline,
    "styles": render_styles,
    "userlike": render_userlike,
    "mnist": render_mnist,
    "realworld": render_realworld,
    "knn_search": render_knn_search,
    "profiles": render_profiles,
    "lab": render_lab,
    "teach_app": render_teach_app,
    "calibration": render_calibration,
    "refusals": render_refusals,
}


def rendered_readme(text: str) -> str:
    """``text`` with every results block re-rendered from the stored JSON."""
    return BLOCK.sub(lambda m: m.group(1) + RENDERERS[m.group(2)]() + m.group(4), text)


def readme_blocks(text: str) -> dict[str, str]:
    """The results blocks of a README: name -> its current content."""
    return {m.group(2): m.group(3) for m in BLOCK.finditer(text)}
