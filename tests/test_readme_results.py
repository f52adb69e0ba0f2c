"""The README's results tables are rendered from the stored results JSON, never pasted."""

from __future__ import annotations

from pathlib import Path

from digitlab.evaluation.mnist import stored_metrics
from digitlab.evaluation.report import RENDERERS, readme_blocks, rendered_readme
from digitlab.models.registry import model_ids

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_results_table_in_the_readme_matches_its_json():
    blocks = readme_blocks(README.read_text())
    assert set(blocks) == set(RENDERERS)
    for name, content in blocks.items():
        assert content == RENDERERS[name](), (
            f"the README's {name!r} table differs from its stored JSON: "
            "run .venv/bin/python benchmarks/update_readme.py"
        )


def test_a_figure_typed_into_the_readme_is_caught():
    text = README.read_text()
    latency = f"{stored_metrics('cnn')['latency_ms']:.2f} ms"
    assert latency in readme_blocks(text)["mnist"]  # the app's figure is the README's
    tampered = text.replace(latency, "0.01 ms", 1)
    assert rendered_readme(tampered) == text != tampered


def test_the_app_and_the_readme_read_the_same_figures():
    table = readme_blocks(README.read_text())["mnist"]
    for model_id in model_ids():
        stored = stored_metrics(model_id)
        assert f"{stored['accuracy']:.2%}" in table and f"{stored['latency_ms']:.2f} ms" in table
