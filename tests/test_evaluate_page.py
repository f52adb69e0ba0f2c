"""The Evaluate page's own-digits report and How it works's pictures, under AppTest
(issue 18, what students asked for)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.data.mnist import load_mnist
from digitlab.models.registry import display_name

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
TIMEOUT = 120  # s per run: the first run loads models on a possibly busy machine
DIGITS = 6  # MNIST test digits uploaded


def run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def evaluate_page() -> AppTest:
    at = run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))
    return run(at.switch_page("pages/evaluate.py"))


def own_digits(at: AppTest, files: list[tuple[str, bytes, str]]) -> AppTest:
    # Fewer models, a faster test: the page evaluates the models whose figures are stored.
    at.file_uploader(key="own_digits").set_value(files)
    return run(at)


@pytest.fixture(scope="module")
def digit_pngs() -> list[tuple[str, bytes, int]]:
    """MNIST test digits as dark ink on white paper, 4x larger: (name, PNG bytes, label)."""
    images, labels = load_mnist("test")
    pngs = []
    for i in range(DIGITS):
        buffer = io.BytesIO()
        Image.fromarray(255 - images[i]).resize((112, 112), Image.LANCZOS).save(buffer, "PNG")
        pngs.append((f"d{i}.png", buffer.getvalue(), int(labels[i])))
    return pngs


def report_tables(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def test_images_and_a_labels_csv_give_the_folder_report(digit_pngs):
    rows = ["file,label,kind"]
    for i, (name, _, label) in enumerate(digit_pngs):
        rows.append(
            f"{name},{(label + 1) % 10 if i == 0 else label},{'photo' if i % 2 else 'drawn'}"
        )
    rows.append("gone.png,3,photo")  # listed, not uploaded: refused, counted as wrong
    files = [(n, d, "image/png") for n, d, _ in digit_pngs]
    files.append(("labels.csv", "\n".join(rows).encode(), "text/csv"))
    at = own_digits(evaluate_page(), files)
    assert not at.error, [e.value for e in at.error]
    summary = report_tables(at)[0]
    assert list(summary["Model"])[:1] and "CNN" in list(summary["Model"])
    assert set(summary.columns) >= {"Accuracy", "Correct", "Refused", "drawn", "photo"}
    assert all(c.endswith(f"/{DIGITS + 1}") for c in summary["Correct"])
    assert all(r >= 1 for r in summary["Refused"])  # the file that was not uploaded
    tables = report_tables(at)
    assert any(list(t.columns) == ["Digit", "Images", "Accuracy"] for t in tables)
    refused = [t for t in tables if list(t.columns) == ["File", "Why"]]
    assert refused and "gone.png" in list(refused[0]["File"])
    misses = [t for t in tables if "Read as" in t.columns and "File" in t.columns]
    assert misses and "d0.png" in list(misses[0]["File"])  # mislabelled on purpose: a miss
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Misses: ") and "what the model saw" in c for c in captions)
    assert len(at.tabs) >= 2 * len(summary)  # the MNIST matrices' tabs, then the own report's


def test_a_zip_of_digit_folders_gives_the_report(digit_pngs):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, label in digit_pngs:
            archive.writestr(f"mine/{label}/{name}", data)
    at = own_digits(evaluate_page(), [("mine.zip", buffer.getvalue(), "application/zip")])
    assert not at.error, [e.value for e in at.error]
    summary = report_tables(at)[0]
    assert all(c.endswith(f"/{DIGITS}") for c in summary["Correct"])
    assert display_name("cnn") in list(summary["Model"])


def test_a_hostile_zip_gives_one_sentence_and_its_name_is_never_markdown(digit_pngs):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../../etc/3/a.png", digit_pngs[0][1])
    name = "![x](http://127.0.0.1:8999/track.png).zip"
    at = own_digits(evaluate_page(), [(name, buffer.getvalue(), "application/zip")])
    [error] = [e.value for e in at.error]
    assert "has an entry outside its folder" in error and error.endswith(r"\)\.")
    assert "](" not in error and "![" not in error  # shown literally: no image fetched
    assert not at.dataframe


def test_images_without_a_csv_give_one_sentence(digit_pngs):
    name, data, _ = digit_pngs[0]
    at = own_digits(evaluate_page(), [(name, data, "image/png")])
    [error] = [e.value for e in at.error]
    assert error.startswith("Add one labels CSV")


def test_how_it_works_shows_each_step_on_the_example_photo():
    from digitlab.imaging.pipeline import PIPELINE

    at = run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))
    run(at.switch_page("pages/how_it_works.py"))
    assert not at.error, [e.value for e in at.error]
    pictures = at.get("image")
    captions = [image.caption for picture in pictures for image in picture.proto.imgs]
    assert captions[0] == "The input: a phone photo of a 3"
    steps = [f"{i}. {step.title}" for i, step in enumerate(PIPELINE, 1)]
    assert sorted(captions[1:], key=steps.index) == steps  # a grid: the tree lists by column
    expanders = [e.label for e in at.expander]
    assert "Each step in words" in expanders


def test_the_gallery_sits_beside_the_matrices_and_the_per_digit_report_folds():
    from digitlab.evaluation.mnist import stored_metrics
    from digitlab.models.registry import model_ids

    at = evaluate_page()
    trained = [m for m in model_ids() if stored_metrics(m) is not None]
    matrices, gallery = at.columns[:2]
    assert len(matrices.tabs) == len(trained)
    assert gallery.selectbox(key="gallery_model").value == "CNN"
    folded = [e for e in at.expander if e.label == "Precision, recall and F1 per digit"]
    assert len(folded) == len(trained) and all(len(e.table) == 1 for e in folded)


def test_the_reliability_diagram_shows_each_models_calibration_and_what_unsure_means():
    from digitlab.evaluation.calibration import trust
    from digitlab.evaluation.tables import percent
    from digitlab.models.registry import load_model, model_ids

    at = evaluate_page()
    assert any(s.value == "How far confidence can be trusted" for s in at.subheader)
    table = next(t.value for t in at.table if "ECE" in t.value.columns)
    for model_id in model_ids():
        figures = trust(model_id)
        row = table.loc[display_name(model_id)]
        assert row["ECE"] == percent(figures["ece"], 2)
        assert row["Sure answers wrong"] == percent(figures["sure_wrong"], 2)
        temperature = load_model(model_id).config.get("temperature")  # the nets' only
        assert row["Temperature"] == ("none" if temperature is None else f"{temperature:.2f}")
        if temperature is not None:  # what the scaling fixed, measured at temperature 1
            assert row["ECE at temperature 1"] == percent(figures["untempered"]["ece"], 2)
    assert not at.info  # figures for every shipped model: none is missing


def test_without_figures_for_these_weights_the_page_says_how_to_measure_them(tmp_path, monkeypatch):
    from digitlab.evaluation import report

    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)  # no calibration.json there
    at = evaluate_page()
    assert any("bench_calibration.py" in i.value for i in at.info)
