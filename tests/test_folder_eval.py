"""``digitlab evaluate-folder``: loading labelled folders, scoring real models, reports, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from digitlab.answers.inference import NOT_A_DIGIT, Prediction
from digitlab.cli.main import main
from digitlab.contract import NO_DIGIT
from digitlab.data.mnist import load_mnist
from digitlab.errors import DigitLabError
from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation.folder import (
    LabelledImage,
    ReadImage,
    evaluate_folder,
    load_labelled_folder,
)
from digitlab.models.registry import model_ids

RESULT_KEYS = {"model", "pipeline", "n", "correct", "accuracy", "per_kind", "per_digit",
               "confusions", "refused", "misses"}  # fmt: skip
DIGITS = 8  # MNIST test digits per folder: 0..7 of the test set


def paper_png(index: int, path) -> int:
    """An MNIST test digit as dark ink on white paper, 4x larger; returns its label."""
    images, labels = load_mnist("test")
    Image.fromarray(255 - images[index]).resize((112, 112), Image.LANCZOS).save(path)
    return int(labels[index])


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory):
    """A labels.csv folder: 8 digits (two kinds, one deliberately mislabelled, in a
    subfolder), a blank page, a corrupt file and a listed file that does not exist."""
    root = tmp_path_factory.mktemp("csv-folder")
    (root / "scans").mkdir()
    rows = ["file,label,kind"]
    for i in range(DIGITS):
        name = f"scans/d{i}.png"
        label = paper_png(i, root / name)
        if i == 0:
            label = (label + 1) % 10  # a sure miss: truth label+1, answer label
        rows.append(f"{name},{label},{'drawn' if i % 2 else 'photo'}")
    Image.new("L", (112, 112), 255).save(root / "blank.png")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    rows += ["blank.png,4,photo", "corrupt.png,5,drawn", "missing.png,6,drawn"]
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """The ImageFolder layout <digit>/<image>, with a stray non-image file to skip."""
    root = tmp_path_factory.mktemp("image-folder")
    for i in range(DIGITS):
        images, labels = load_mnist("test")
        folder = root / str(labels[i])
        folder.mkdir(exist_ok=True)
        paper_png(i, folder / f"img{i}.png")
    (root / str(labels[0]) / "notes.txt").write_text("not an image")
    (root / str(labels[0]) / ".hidden.png").write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def logreg_result(csv_folder):
    items = load_labelled_folder(csv_folder)
    return evaluate_folder(items, ["logreg"])["logreg"]


# ---------------------------------------------------------------------------------------------
# Loading


def test_labels_csv_lists_every_row_with_its_kind(csv_folder):
    items = load_labelled_folder(csv_folder)
    assert len(items) == DIGITS + 3
    assert items[1].file == "scans/d1.png" and items[1].path == csv_folder / "scans/d1.png"
    assert {item.kind for item in items} == {"drawn", "photo"}
    assert items[-1].file == "missing.png" and not items[-1].path.exists()  # refused later
    assert load_labelled_folder(csv_folder / "labels.csv") == items  # the CSV itself


def test_labels_csv_without_kind_and_with_spaces_and_bom(tmp_path):
    (tmp_path / "labels.csv").write_text("\ufeffFile , Label\n a.png , 7 \n")
    (item,) = load_labelled_folder(tmp_path)
    assert (item.file, item.label, item.kind) == ("a.png", 7, "all")


def test_image_folder_layout(image_folder):
    items = load_labelled_folder(image_folder)
    labels = load_mnist("test")[1][:DIGITS]
    assert sorted(item.label for item in items) == sorted(labels.tolist())
    assert all(item.kind == "all" for item in items)
    assert all(item.file == f"{item.label}/{item.path.name}" for item in items)
    assert not any(item.path.suffix == ".txt" or item.path.name.startswith(".") for item in items)


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("name,digit\na.png,3\n", "needs a header with the columns file and label"),
        ("file,label\na.png,x\n", "line 2: the label 'x' is not a digit 0-9"),
        ("file,label\na.png,3\nb.png,10\n", "line 3: the label '10' is not a digit 0-9"),
        ("file,label\na.png,\n", "the label '' is not a digit 0-9"),
        ("file,label\n,3\n", "the file name is empty"),
        ("file,label\n../secret.png,3\n", "is not a path inside the folder"),
        ("file,label\n/etc/passwd,3\n", "is not a path inside the folder"),
        ("file,label\n", "lists no images"),
        ("file,label\n\x00a.png,3\n", "line 2: the file name contains a NUL character"),
        ("file,label\n" + "a" * 200_000 + ",3\n", "near line 2: not valid CSV"),
    ],
)
def test_bad_labels_csv_is_one_sentence(tmp_path, csv_text, message):
    (tmp_path / "labels.csv").write_text(csv_text)
    with pytest.raises(DigitLabError, match=message):
        load_labelled_folder(tmp_path)


def test_bad_folders_are_one_sentence(tmp_path):
    with pytest.raises(DigitLabError, match="no such folder"):
        load_labelled_folder(tmp_path / "nope")
    with pytest.raises(DigitLabError, match="neither a labels.csv nor digit subfolders 0-9"):
        load_labelled_folder(tmp_path)
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(DigitLabError, match="neither a folder nor a labels.csv file"):
        load_labelled_folder(tmp_path / "a.png")
    (tmp_path / "3").mkdir()
    with pytest.raises(DigitLabError, match="lists no images"):
        load_labelled_folder(tmp_path)


def test_too_many_images_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_eval, "MAX_IMAGES", 2)
    (tmp_path / "labels.csv").write_text("file,label\na.png,1\nb.png,2\nc.png,3\nd.png,4\n")
    with pytest.raises(DigitLabError, match="the limit is 2"):
        load_labelled_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# Scoring (real models on real MNIST digits)


def test_result_counts_refusals_as_wrong(logreg_result):
    r = logreg_result
    assert set(r) == RESULT_KEYS and r["model"] == "logreg" and r["pipeline"] == "ours"
    assert r["n"] == DIGITS + 3
    assert r["accuracy"] == pytest.approx(r["correct"] / r["n"])
    assert r["correct"] + len(r["misses"]) + len(r["refused"]) == r["n"]
    refused = {x["file"]: x for x in r["refused"]}
    assert set(refused) == {"blank.png", "corrupt.png", "missing.png"}
    assert refused["blank.png"] == {"file": "blank.png", "reason": NO_DIGIT, "cause": "blank"}
    assert refused["corrupt.png"]["cause"] == "unreadable"
    assert "damaged" in refused["corrupt.png"]["reason"]
    assert refused["missing.png"]["reason"] == "This file does not exist."
    assert r["correct"] >= DIGITS - 2  # MNIST test digits on paper: logreg reads nearly all


def test_result_groups_and_confusions_agree(logreg_result):
    r = logreg_result
    truth0 = (int(load_mnist("test")[1][0]) + 1) % 10
    assert {"file": "scans/d0.png", "truth": truth0} in [
        {k: m[k] for k in ("file", "truth")} for m in r["misses"]
    ]
    assert sum(g["n"] for g in r["per_kind"].values()) == r["n"]
    assert sum(g["n"] for g in r["per_digit"].values()) == r["n"]
    assert list(r["per_digit"]) == sorted(r["per_digit"])
    assert list(r["per_kind"]) == ["photo", "drawn"]  # order of first appearance
    assert sum(c for _, _, c in r["confusions"]) == len(r["misses"])
    counts = [c for _, _, c in r["confusions"]]
    assert counts == sorted(counts, reverse=True)
    assert json.loads(json.dumps(r)) == r  # plain JSON-able values


def test_a_model_refusal_is_listed_with_its_sentence():
    item = LabelledImage("a.png", None, 3)
    image = np.zeros((28, 28), np.float32)
    refused = Prediction("cnn", None, 0.4, np.full(10, 0.1), False, image, NOT_A_DIGIT)
    outcome = folder_eval.outcome(item, ReadImage(image), refused)
    assert outcome["answer"] is None and outcome["reason"] == NOT_A_DIGIT
    result = folder_eval.summarise("cnn", "ours", [item], [outcome])
    assert result["refused"] == [{"file": "a.png", "reason": NOT_A_DIGIT, "cause": "model"}]
    assert result["accuracy"] == 0.0 and result["misses"] == [] and result["confusions"] == []


def test_images_are_preprocessed_once_for_all_models(csv_folder, monkeypatch):
    calls = []
    original = folder_eval.read_image
    monkeypatch.setattr(folder_eval, "read_image", lambda *a: calls.append(1) or original(*a))
    items = load_labelled_folder(csv_folder)
    results = evaluate_folder(items, ["logreg", "ann"])
    assert list(results) == ["logreg", "ann"] and len(calls) == len(items)


def test_naive_pipeline_reads_what_ours_finds_blank(csv_folder):
    items = load_labelled_folder(csv_folder)
    r = evaluate_folder(items, ["logreg"], "naive")["logreg"]
    assert r["pipeline"] == "naive"
    # The tutorial baseline resizes anything, so the blank page gets an answer.
    assert {x["file"] for x in r["refused"]} == {"corrupt.png", "missing.png"}
    with pytest.raises(DigitLabError, match="Unknown pipeline"):
        evaluate_folder(items, ["logreg"], "fancy")


# ---------------------------------------------------------------------------------------------
# Reports and gallery


def test_human_report_and_readme_table(logreg_result):
    text = folder_eval.format_result(logreg_result)
    assert text.startswith("## Logistic Regression (pipeline: ours):")
    assert "| kind " in text and "| photo " in text and "| accuracy |" in text
    assert "Most frequent confusions:" in text and "Refused or blank (3, counted as wrong):" in text
    assert "- missing.png: This file does not exist." in text
    naive = dict(logreg_result, pipeline="naive", accuracy=0.5)
    table = folder_eval.summary_markdown([logreg_result, naive]).splitlines()
    assert table[0].split("|")[1:-1] == [
        " model               ", " pipeline ", " overall (n=11) ", " photo (n=5) ", " drawn (n=6) "
    ]  # fmt: skip
    assert len(table) == 4 and "| naive " in table[3] and "| 50.0% " in table[3]


@pytest.mark.slow  # draws the gallery, about 3 s
def test_gallery_draws_misses_and_an_empty_note(logreg_result, csv_folder, tmp_path):
    items = load_labelled_folder(csv_folder)
    drawn = folder_eval.draw_gallery(logreg_result, items, tmp_path / "misses.png")
    assert drawn == len(logreg_result["misses"]) >= 1
    with Image.open(tmp_path / "misses.png") as png:
        assert png.format == "PNG" and png.width > 300
    perfect = dict(logreg_result, misses=[])
    assert folder_eval.draw_gallery(perfect, items, tmp_path / "none.png") == 0
    assert (tmp_path / "none.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------
# The command


def test_cli_json_lines(csv_folder, capsys):
    assert main(["evaluate-folder", str(csv_folder), "--model", "logreg", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(lines) == 1 and set(lines[0]) == RESULT_KEYS and lines[0]["n"] == DIGITS + 3


def test_cli_human_report_naive_pipeline_on_image_folder(image_folder, capsys):
    argv = ["evaluate-folder", str(image_folder), "--model", "ann", "--pipeline", "naive"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("## ANN (multilayer perceptron) (pipeline: naive):")
    assert "| kind " not in out  # one kind: no kind table


def test_cli_both_pipelines_in_one_table(csv_folder, capsys):
    argv = ["evaluate-folder", str(csv_folder), "--model", "logreg", "--pipeline", "both"]
    assert main([*argv, "--markdown"]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 4 and "| ours " in table[2] and "| naive " in table[3]


def test_cli_bad_input_is_one_line_on_stderr(tmp_path, capsys):
    assert main(["evaluate-folder", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err == f"digitlab: error: {tmp_path / 'nope'}: no such folder.\n"


@pytest.mark.slow
def test_cli_all_models_gallery_per_model_and_markdown(csv_folder, tmp_path, capsys):
    gallery = tmp_path / "misses.png"
    argv = ["evaluate-folder", str(csv_folder), "--gallery", str(gallery), "--markdown"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    for model_id in model_ids():
        path = tmp_path / f"misses-{model_id}.png"
        assert f"wrote {path}" in err
        with Image.open(path) as png:
            assert png.format == "PNG"
    table = out.strip().splitlines()
    assert table[0].startswith("| model ") and len(table) == 2 + len(model_ids())
    assert "k-Nearest Neighbours" in out and "| ours " in out


def test_accuracy_counts_refusals_as_wrong():
    from digitlab.evaluation.metrics import accuracy

    assert accuracy([3, None, 5, 1], [3, 4, 5, 2]) == 0.5
    assert accuracy(np.array([1, 2]), np.array([1, 2])) == 1.0
    with pytest.raises(ValueError):
        accuracy([1], [1, 2])


def test_duplicate_file_or_label_columns_are_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("file,label,File,label\na.png,1,b.png,2\n")
    with pytest.raises(DigitLabError, match="has the column file and label more than once"):
        load_labelled_folder(tmp_path)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8", "utf-8-sig"])
def test_a_latin1_csv_keeps_its_accented_names(tmp_path, encoding):
    (tmp_path / "café.png").write_bytes(b"x")
    (tmp_path / "labels.csv").write_bytes("file,label\ncafé.png,3\n".encode(encoding))
    (item,) = load_labelled_folder(tmp_path)
    assert item.file == "café.png" and item.path.exists()


def test_rows_past_the_limit_are_counted_not_dropped(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_eval, "MAX_IMAGES", 2)
    (tmp_path / "labels.csv").write_text("file,label\n" + "a.png,1\n" * 7)
    with pytest.raises(DigitLabError, match="lists 7 images; the limit is 2, so split it"):
        load_labelled_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# Uploaded images (the app's Evaluate page): in memory, never read from disk


def test_uploaded_images_score_like_the_same_folder(csv_folder, logreg_result):
    items = load_labelled_folder(csv_folder)
    uploads = [(i.file, i.path.read_bytes(), i.label, i.kind) for i in items if i.path.exists()]
    result = folder_eval.evaluate_uploaded(uploads, ["logreg"])["logreg"]
    assert set(result) == RESULT_KEYS
    assert result["n"] == len(uploads) == logreg_result["n"] - 1  # the missing file is not here
    assert result["correct"] == logreg_result["correct"]
    assert result["per_kind"]["drawn"]["n"] == logreg_result["per_kind"]["drawn"]["n"] - 1
    assert [m["file"] for m in result["misses"]] == [m["file"] for m in logreg_result["misses"]]


def test_a_labels_csv_labels_uploads_and_never_reads_the_disk(csv_folder):
    images = {p.name: p.read_bytes() for p in (csv_folder / "scans").glob("*.png")}
    images["extra.png"] = images["d1.png"]
    labels = (csv_folder / "labels.csv").read_bytes()  # lists scans/d0.png, blank.png, ...
    items, unlisted = folder_eval.labelled_by_csv(labels, images)
    assert unlisted == ["extra.png"]
    by_file = {i.file: i for i in items}
    assert by_file["scans/d3.png"].data == images["d3.png"] and by_file["scans/d3.png"].kind
    assert by_file["missing.png"].data is None and by_file["missing.png"].path is None
    read = folder_eval.read_image(by_file["missing.png"])
    assert read.image28 is None and "was not uploaded" in read.reason


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [("name,digit\na.png,1\n", "header"), ("file,label\na.png,x\n", "not a digit"),
     ("file,label\n", "lists no images")],
)  # fmt: skip
def test_a_bad_uploaded_csv_is_one_sentence(csv_text, message):
    with pytest.raises(DigitLabError, match=message):
        folder_eval.labelled_by_csv(csv_text.encode(), {"a.png": b"x"})
