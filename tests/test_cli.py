"""The `digitlab` command's contracts: JSON lines, errors, exit codes (real models, real data)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from digitlab.cli.main import main
from digitlab.data.mnist import load_mnist
from digitlab.evaluation.mnist import stored_metrics

PREDICT_KEYS = {"file", "model", "digit", "confidence", "low_confidence", "probabilities", "error"}
NUMBER_KEYS = {"file", "model", "number", "confidence", "low_confidence", "digits", "error"}
EVALUATE_KEYS = {"model", "accuracy", "precision_macro", "recall_macro", "f1_macro", "per_class",
                 "confusion_matrix"}  # fmt: skip


def paper_png(index: int, path) -> int:
    """An MNIST test digit as dark ink on white paper, 4x larger; returns its label."""
    images, labels = load_mnist("test")
    ink = Image.fromarray(255 - images[index]).resize((112, 112), Image.LANCZOS)
    ink.save(path)
    return int(labels[index])


def run_json(capsys, argv: list[str]) -> tuple[int, list[dict]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_evaluate_json_contract(capsys):
    code, lines = run_json(capsys, ["evaluate", "--model", "logreg", "--json"])
    assert code == 0 and len(lines) == 1
    result = lines[0]
    assert set(result) >= EVALUATE_KEYS
    assert result["model"] == "logreg"
    cm = np.array(result["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 10_000
    assert result["accuracy"] == pytest.approx(np.trace(cm) / 10_000)
    assert set(result["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "f1", "support"} == set(result["per_class"]["3"])
    supports = [result["per_class"][str(d)]["support"] for d in range(10)]
    assert supports == cm.sum(1).tolist()  # rows are the true digit


def test_evaluate_tables_with_the_confusion_matrix(capsys):
    assert main(["evaluate", "--model", "logreg"]) == 0
    out = capsys.readouterr().out
    assert "Logistic Regression" in out and "Accuracy" in out and "| 9 " in out
    matrix = out.split("Confusion matrix")[1].splitlines()[3:13]  # after the header rows
    counts = [[int(c) for c in line.strip("| ").split("|")[1:]] for line in matrix]
    assert len(counts) == 10 and sum(map(sum, counts)) == 10_000


def test_predict_json_good_and_bad_files(capsys, tmp_path):
    good = tmp_path / "seven.png"
    label = paper_png(0, good)
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"this is not an image")
    missing = tmp_path / "missing.png"
    argv = ["predict", str(good), str(bad), str(missing), "--model", "logreg", "--json"]
    code, lines = run_json(capsys, argv)
    assert code == 1  # some files failed
    assert [line["file"] for line in lines] == [str(good), str(bad), str(missing)]
    assert all(set(line) == PREDICT_KEYS for line in lines)
    ok, not_image, absent = lines
    assert ok["error"] is None and ok["digit"] == label
    assert len(ok["probabilities"]) == 10 and sum(ok["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert ok["confidence"] == pytest.approx(max(ok["probabilities"]), abs=1e-5)
    for line in (not_image, absent):
        assert line["digit"] is None and isinstance(line["error"], str)
        assert "\n" not in line["error"] and "Traceback" not in line["error"]


def test_predict_all_good_exits_zero(capsys, tmp_path):
    files = []
    for i in range(3):
        files.append(str(tmp_path / f"{i}.png"))
        paper_png(i, files[-1])
    code, lines = run_json(capsys, ["predict", *files, "--model", "logreg", "--json"])
    assert code == 0 and all(line["error"] is None for line in lines)


def test_predict_blank_image_is_no_digit(capsys, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    code, lines = run_json(capsys, ["predict", str(blank), "--model", "logreg", "--json"])
    assert lines[0]["digit"] is None and "no digit" in lines[0]["error"].lower()
    assert code == 1


def test_predict_a_drawn_star_is_not_a_digit(capsys, tmp_path):
    from PIL import ImageDraw

    star = tmp_path / "star.png"
    image = Image.new("L", (200, 200), 255)
    points = [(100 + 80 * np.cos(a) * (1 if i % 2 == 0 else 0.4),
               100 + 80 * np.sin(a) * (1 if i % 2 == 0 else 0.4))
              for i, a in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 11))]  # fmt: skip
    ImageDraw.Draw(image).line(points, fill=0, width=9, joint="curve")
    image.save(star)
    code, lines = run_json(capsys, ["predict", str(star), "--json"])
    assert lines[0]["digit"] is None
    assert lines[0]["error"] == "This doesn't look like a single digit."
    assert code == 1


def test_unknown_model_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", "x.png", "--model", "svm"])
    assert exc.value.code == 2
    assert (
        "Unknown model 'svm'; choose one of logreg, knn, ann, cnn or run:NAME."
        in capsys.readouterr().err
    )


@pytest.mark.slow  # over ten seconds: a fresh process
def test_console_script_reads_stdin(tmp_path):
    path = tmp_path / "d.png"
    label = paper_png(1, path)
    buf = io.BytesIO(path.read_bytes())
    done = subprocess.run(
        [sys.executable, "-m", "digitlab.cli", "predict", "-", "--model", "logreg", "--json"],
        input=buf.getvalue(), capture_output=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["digit"] == label


@pytest.mark.slow  # over ten seconds: trains every model
def test_train_quick_run_writes_artifacts_and_metrics(tmp_path, capsys):
    out = tmp_path / "weights"
    argv = ["train", "--model", "logreg", "--limit", "2000", "--out", str(out)]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert {"logreg.npz", "logreg.json", "logreg.metrics.json", "manifest.json"} <= names
    metrics = json.loads((out / "logreg.metrics.json").read_text())
    assert metrics["train_seconds"] > 0 and 0.8 < metrics["accuracy"] < 1
    assert len(metrics["confusion_matrix"]) == 10
    manifest = json.loads((out / "manifest.json").read_text())["sha256"]
    assert set(manifest) >= {"logreg.npz", "logreg.json", "logreg.metrics.json"}
    assert stored_metrics("logreg", out) == metrics  # recorded, so checked on every read


def test_predict_number_json(capsys, tmp_path):
    images, labels = load_mnist("test")
    tiles = []
    for char in "2026":
        tile = np.kron(images[int(np.flatnonzero(labels == int(char))[0])], np.ones((4, 4)))
        tiles.append(np.pad(tile[8:-8, 12:-12], ((0, 0), (0, 12))))
    row = np.pad(np.concatenate(tiles, axis=1), 40)
    path = tmp_path / "house.png"
    Image.fromarray((230 - 0.8 * row).clip(0, 255).astype(np.uint8)).save(path)
    code, lines = run_json(capsys, ["predict", str(path), "--number", "--model", "knn", "--json"])
    assert code == 0
    line = lines[0]
    assert line["number"] == "2026" and line["error"] is None
    assert [d["digit"] for d in line["digits"]] == [2, 0, 2, 6]
    assert all(len(d["box"]) == 4 for d in line["digits"])
    assert set(line) == NUMBER_KEYS and line["low_confidence"] is False
    assert all(d["refusal"] is None for d in line["digits"])


# --- `digitlab app`: the command line it runs, read the way `streamlit run` reads it ----------


def streamlit_options(argv: list[str]) -> dict:
    """The config options `streamlit run` would run with, given `digitlab app` ``argv``."""
    from streamlit import config
    from streamlit.web import bootstrap
    from streamlit.web import cli as streamlit_cli

    from digitlab.cli.main import app_command, build_parser

    command = app_command(build_parser().parse_args(["app", *argv]))
    assert command[1:4] == ["-m", "streamlit", "run"]
    params = streamlit_cli.main_run.make_context("run", command[4:]).params  # click's own parse
    flags = {k: v for k, v in params.items() if k not in ("target", "args")}
    try:
        bootstrap.load_config_options(flag_options=flags)
        names = ("server.address", "server.port", "server.maxUploadSize",
                 "client.showErrorDetails", "server.headless")  # fmt: skip
        return {name: config.get_option(name) for name in names}
    finally:
        bootstrap.load_config_options(flag_options={})  # back to the defaults for other tests


def test_app_listens_on_localhost_only_by_default():
    options = streamlit_options(["--port", "8765"])
    assert options["server.address"] == "127.0.0.1"
    assert options["server.port"] == 8765 and options["server.headless"] is True


def test_app_host_opens_it_deliberately():
    assert streamlit_options(["--host", "0.0.0.0"])["server.address"] == "0.0.0.0"


def test_app_upload_limit_is_ours():
    from digitlab.imaging.decode import MAX_FILE_BYTES

    # Streamlit's megabytes are MiB: it refuses bodies over maxUploadSize * 1024 * 1024 bytes.
    assert streamlit_options([])["server.maxUploadSize"] * 1024 * 1024 == MAX_FILE_BYTES


def test_app_never_shows_a_traceback_in_the_browser():
    # "false" is not enough: this Streamlit reads it as "stacktrace", which shows tracebacks.
    assert streamlit_options([])["client.showErrorDetails"] == "none"


class NanModel:
    """A model whose files are damaged: every answer is NaN."""

    id, config = "broken", {}

    def predict_proba_all(self, images):
        return np.full((len(images), 11), np.nan, np.float32)

    @classmethod
    def load(cls, weights_dir):
        return cls()


def describe(config: dict) -> str:
    return "A model whose files are damaged."


Model = NanModel  # what the registry imports from this module


@pytest.mark.parametrize("number", [False, True], ids=["digit", "number"])
def test_predict_never_prints_a_non_finite_answer(capsys, tmp_path, number):
    from digitlab.models import registry

    paper_png(0, tmp_path / "seven.png")
    registry.register(registry.ModelSpec("broken", "Broken", __name__))
    try:
        argv = ["predict", str(tmp_path / "seven.png"), "--model", "broken", "--json"]
        code, [line] = run_json(capsys, argv + ["--number"] * number)
    finally:
        registry.unregister("broken")
    assert code == 1 and "not a number" in line["error"]
    assert line["confidence"] == 0.0  # and the line was written with allow_nan=False


# --- issue 18: predict --model all, unsure answers, refused numbers, help that shows defaults ----


def test_predict_model_all_gives_one_line_per_file_per_model(capsys, tmp_path):
    from digitlab.models.registry import model_ids

    files = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    labels = [paper_png(i, f) for i, f in enumerate(files)]
    code, lines = run_json(capsys, ["predict", *files, "--model", "all", "--json"])
    ids = list(model_ids())
    assert code == 0 and len(lines) == 2 * len(ids)
    assert [(line["file"], line["model"]) for line in lines] == [(f, m) for f in files for m in ids]
    assert all(set(line) == PREDICT_KEYS for line in lines)
    assert [line["digit"] for line in lines if line["model"] == "cnn"] == labels
    assert main(["predict", files[0], "--model", "all"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in plain] == [f"{files[0]} [{m}]" for m in ids]


def test_an_unsure_answer_is_flagged_in_json_and_marked_in_plain_output(
    capsys, tmp_path, monkeypatch
):
    from digitlab.models.registry import load_model

    path = tmp_path / "seven.png"
    paper_png(0, path)
    code, [line] = run_json(capsys, ["predict", str(path), "--model", "logreg", "--json"])
    assert line["low_confidence"] is False
    main(["predict", str(path), "--model", "logreg"])
    # After the file name: pytest's folder for this test has "unsure" in its own name.
    assert "unsure" not in capsys.readouterr().out.split(": ", 1)[1]
    monkeypatch.setitem(load_model("logreg").config, "low_confidence_threshold", 1.01)
    code, [line] = run_json(capsys, ["predict", str(path), "--model", "logreg", "--json"])
    assert line["low_confidence"] is True and line["error"] is None
    main(["predict", str(path), "--model", "logreg"])
    assert capsys.readouterr().out.rstrip().endswith(", unsure)")


def letters_png(path, text: str = "AB") -> None:
    from PIL import ImageDraw, ImageFont

    image = Image.new("L", (320, 200), 255)
    font = ImageFont.load_default(size=150)
    ImageDraw.Draw(image).text((160, 100), text, fill=0, font=font, anchor="mm")
    image.save(path)


def test_predict_number_refuses_letters_and_says_so_per_digit(capsys, tmp_path):
    """Issue 18, bug 4: letters are not read as a number; each piece carries its refusal."""
    path = tmp_path / "letters.png"
    letters_png(path)
    code, [line] = run_json(capsys, ["predict", str(path), "--number", "--json"])
    assert code == 1 and set(line) == NUMBER_KEYS
    assert line["number"] is None and line["error"].startswith("This doesn't look like a row")
    assert set(line["digits"][0]) == {"box", "digit", "confidence", "low_confidence", "refusal"}
    refused = [d for d in line["digits"] if d["refusal"]]
    assert refused and all(d["digit"] is None and not d["low_confidence"] for d in refused)
    main(["predict", str(path), "--number"])
    assert "error: This doesn't look like a row of digits" in capsys.readouterr().out


def test_model_help_shows_the_default_and_app_port_has_help(capsys):
    for argv in (["predict", "--help"], ["app", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
    out = " ".join(capsys.readouterr().out.split())
    assert "or all: one line per file per model (default: cnn)" in out
    assert "--port PORT port to listen on (default 8501)" in out
