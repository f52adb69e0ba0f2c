"""The web app's pages under `streamlit.testing.v1.AppTest`: widgets, answers and error paths.

All four models ship with their weights; a test whose model does not load fails.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.data import load_mnist
from digitlab.errors import ModelError
from digitlab.models.registry import display_name, load_model, model_ids

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
TIMEOUT = 120  # s per run: generous, the first run loads models on a possibly busy machine


def require(model_id: str) -> None:
    """The weights ship: a model that does not load is a failure (ModelError), never a skip."""
    load_model(model_id)


@pytest.fixture(scope="module")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_mnist("test")


def paper(digits: list[np.ndarray], fmt: str = "PNG") -> bytes:
    """MNIST digits side by side as dark ink on white paper, enlarged, as a file's bytes."""
    row = np.concatenate([np.pad(255 - d, 10, constant_values=255) for d in digits], axis=1)
    image = Image.fromarray(row).resize((row.shape[1] * 8, row.shape[0] * 8), Image.BICUBIC)
    out = io.BytesIO()
    image.convert("RGB").save(out, format=fmt)
    return out.getvalue()


def run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app() -> AppTest:
    return run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.file_uploader[0].set_value((name, data, mime))
    return run(at)


def choose(at: AppTest, model_id: str | None) -> AppTest:
    at.selectbox(key="model").set_value(display_name(model_id) if model_id else "Compare all")
    return at


def predicted(at: AppTest) -> str:
    [metric] = [m for m in at.metric if m.label == "Predicted digit"]
    return metric.value


# --- the Recognise page -----------------------------------------------------------------------


def test_recognise_page_starts_with_the_uploader_and_the_model_selector(app):
    assert app.title[0].value == "Recognise a handwritten digit"
    uploader = app.file_uploader[0]  # the first file input of the main page
    assert uploader.label == "Upload digit images"
    assert uploader.accept_multiple_files
    model = app.selectbox(key="model")
    assert model.label == "Model"
    assert model.options == [*map(display_name, model_ids()), "Compare all"]
    assert model.value == "CNN"
    assert not app.error
    assert "upload an image" in app.info[0].value


@pytest.mark.parametrize("model_id", model_ids())
def test_an_uploaded_digit_is_recognised_and_explained(app, mnist_test, model_id):
    require(model_id)
    images, labels = mnist_test
    upload(choose(app, model_id), "digit.png", paper([images[0]]))
    assert not app.error, [e.value for e in app.error]
    assert predicted(app) == str(labels[0])
    confidence = next(m for m in app.metric if m.label == "Confidence").value
    assert confidence.endswith("%")
    assert any(c.value.startswith(f"{display_name(model_id)}, answered in") for c in app.caption)
    assert app.get("vega_lite_chart")  # the ten probabilities
    assert any(s.value == "Why this answer?" for s in app.subheader)
    assert len(app.get("image")) >= 3  # the input, the 28x28 and the why pictures


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_upload_format_is_read(app, mnist_test, fmt):
    model_id = "cnn"
    images, labels = mnist_test
    upload(choose(app, model_id), f"digit.{fmt.lower()}", paper([images[6]], fmt=fmt))
    assert not app.error, [e.value for e in app.error]
    assert predicted(app) == str(labels[6])


def test_compare_all_has_one_row_per_model(app, mnist_test):
    images, labels = mnist_test
    upload(choose(app, None), "digit.png", paper([images[1]]))
    table = app.dataframe[0].value
    ready = [display_name(m) for m in model_ids()]
    assert list(table["Model"]) == ready
    assert (table["Digit"] == str(labels[1])).sum() >= len(ready) - 1
    assert np.allclose(table[[str(d) for d in range(10)]].sum(axis=1), 1, atol=1e-3)
    assert not app.error
    assert len(app.tabs) == len(ready)


def test_low_confidence_is_flagged(app, monkeypatch, mnist_test):
    require("cnn")
    model = load_model("cnn")
    monkeypatch.setitem(model.config, "low_confidence_threshold", 1.01)  # every answer is unsure
    upload(app, "digit.png", paper([mnist_test[0][2]]))
    assert any("Low confidence" in w.value for w in app.warning)


def star_png() -> bytes:
    """A hand-drawn-looking five-pointed star: not a digit."""
    from PIL import ImageDraw

    image = Image.new("L", (200, 200), 255)
    angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)
    radii = [80 if i % 2 == 0 else 32 for i in range(11)]
    points = [
        (100 + r * np.cos(a), 100 + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)
    ]
    ImageDraw.Draw(image).line(points, fill=0, width=9, joint="curve")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_not_a_digit_is_said_plainly(app):
    require("cnn")
    upload(choose(app, "cnn"), "star.png", star_png())
    assert not app.error
    assert any("doesn't look like a single digit" in w.value for w in app.warning)


def test_compare_all_is_never_green_on_refused_or_unsure_answers(app, monkeypatch, mnist_test):
    for model_id in model_ids():
        require(model_id)
    upload(choose(app, None), "star.png", star_png())
    assert not app.success, [s.value for s in app.success]
    for model_id in model_ids():  # every answer unsure: agreement is not shown as a success
        monkeypatch.setitem(load_model(model_id).config, "low_confidence_threshold", 1.01)
    upload(app, "digit.png", paper([mnist_test[0][0]]))
    assert not app.success, [s.value for s in app.success]
    assert any("unsure" in w.value for w in app.warning)


def test_a_blank_image_says_no_digit_was_found(app):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, format="PNG")
    upload(choose(app, "cnn"), "blank.png", blank.getvalue())
    assert not app.error
    assert any("No digit found" in w.value for w in app.warning)


def png_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("L", size, 255).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.txt", b"this is not an image at all", "not an image"),
        ("broken.png", png_bytes()[:60], "damaged"),
        ("empty.png", b"", None),
    ],
)
def test_a_bad_upload_gives_one_sentence_and_the_app_keeps_working(
    app, mnist_test, name, data, words
):
    upload(app, name, data)
    [error] = app.error
    assert error.value.endswith(".") and "Traceback" not in error.value
    assert error.value.count(". ") == 0  # one sentence
    if words:
        assert words in error.value
    model_id = "cnn"
    images, labels = mnist_test
    upload(choose(app, model_id), "digit.png", paper([images[3]]))
    assert not app.error
    assert predicted(app) == str(labels[3])


def test_a_too_large_upload_is_refused(app, monkeypatch):
    monkeypatch.setattr("digitlab.imageio.MAX_FILE_BYTES", 1000)
    upload(app, "big.png", png_bytes((400, 400)) + b"\0" * 2000)
    [error] = app.error
    assert "large" in error.value or "big" in error.value


def test_a_model_that_cannot_load_gives_a_clear_error(app, monkeypatch, mnist_test):
    def missing(model_id):
        raise ModelError(f"Model file {model_id}.json is missing; run `digitlab train`.")

    monkeypatch.setattr("digitlab.app.loaders.get_model", missing)
    upload(app, "digit.png", paper([mnist_test[0][0]]))
    [error] = app.error
    assert error.value.startswith("CNN is not available")
    assert not app.metric


def test_several_uploads_give_a_table_and_a_csv(app, mnist_test):
    model_id = "cnn"
    images, labels = mnist_test
    files = [(f"d{i}.png", paper([images[i]]), "image/png") for i in range(3)]
    files.append(("bad.png", b"not an image", "image/png"))
    app.file_uploader[0].set_value(files)
    run(choose(app, model_id))
    table = app.dataframe[0].value
    assert list(table["File"]) == ["d0.png", "d1.png", "d2.png", "bad.png"]
    assert list(table["Digit"][:3]) == list(labels[:3])
    assert table["Thumbnail"][0].startswith("data:image/png;base64,")
    assert "not an image" in table["Note"][3]
    [download] = app.get("download_button")
    assert download.proto.label == "Download CSV"
    assert not app.error


def test_a_camera_photo_is_recognised(app, mnist_test):
    require("cnn")
    images, labels = mnist_test
    app.radio(key="source").set_value("Camera")
    run(app)
    app.camera_input[0].upload("photo.jpg", paper([images[4]], fmt="JPEG"))
    run(app)
    assert predicted(app) == str(labels[4])


def test_the_draw_tab_shows_the_canvas_and_a_clear_button(app):
    app.radio(key="source").set_value("Draw")
    run(app)
    assert any(b.label == "Clear" for b in app.button)
    assert not app.file_uploader  # only the chosen input is shown
    next(b for b in app.button if b.label == "Clear").click()
    run(app)
    assert app.session_state["canvas_round"] == 1


def test_a_drawing_is_recognised(mnist_test):
    """The canvas's RGBA (white ink on black) goes through the same views as an upload."""
    require("cnn")

    def drawing_page(rgba):
        from digitlab.app import views

        views.show_single("Your drawing", rgba, ["cnn"])

    images, labels = mnist_test
    big = np.asarray(Image.fromarray(images[5]).resize((280, 280), Image.BICUBIC))
    rgba = np.dstack([big, big, big, np.full_like(big, 255)])
    at = run(AppTest.from_function(drawing_page, args=(rgba,), default_timeout=TIMEOUT))
    assert predicted(at) == str(labels[5])


def test_read_a_number(app, mnist_test):
    model_id = "cnn"
    images, labels = mnist_test
    app.toggle(key="number").set_value(True)
    upload(choose(app, model_id), "number.png", paper([images[0], images[1], images[2]]))
    assert not app.error, [e.value for e in app.error]
    [metric] = [m for m in app.metric if m.label == "Number read"]
    assert metric.value == "".join(map(str, labels[:3]))


# --- the Evaluate and How it works pages ------------------------------------------------------


def test_evaluate_page_shows_the_stored_results(app):
    from digitlab.evaluate import stored_metrics

    stored = [m for m in model_ids() if stored_metrics(m) is not None]
    run(app.switch_page("pages/evaluate.py"))
    assert app.title[0].value == "Evaluate"
    if not stored:
        assert "run `digitlab train`" in app.info[0].value
        return
    table = app.dataframe[0].value
    assert list(table["Model"]) == [display_name(m) for m in stored]
    assert table["Accuracy"].between(0.5, 1).all()
    assert len(app.tabs) == len(stored)
    per_class = app.dataframe[1].value
    assert list(per_class["Digit"]) == [str(d) for d in range(10)]
    gallery_caption = next(c.value for c in app.caption if "mistakes match" in c.value)
    app.selectbox(key="gallery_true").set_value(4)
    run(app)
    filtered = next(c.value for c in app.caption if "mistakes match" in c.value)
    assert int(filtered.split()[0]) <= int(gallery_caption.split()[0])
    first = stored_metrics(stored[0])["misclassified"]
    assert int(filtered.split()[0]) == sum(m["true"] == 4 for m in first)


def test_how_it_works_page_describes_each_model_with_measurements(app):
    from digitlab.evaluate import stored_metrics

    run(app.switch_page("pages/how_it_works.py"))
    assert app.title[0].value == "How it works"
    assert [s.value for s in app.subheader] == [display_name(m) for m in model_ids()]
    text = " ".join(m.value for m in app.markdown)
    for model_id in model_ids():
        result = stored_metrics(model_id)
        if result is not None:
            assert f"{result['accuracy']:.2%}" in text
