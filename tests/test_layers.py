"""The package's layers, read from its imports: no cycles, and data flows one way.

The order, low to high: ``contract``/``errors`` < ``data`` < ``imaging`` < ``models`` <
``profiles`` < ``answers`` < {``synth``, ``training``, ``evaluation``} < {``cli``, ``app``}.
A module may import its own layer and the layers below it, with three exceptions within the
middle tier: ``training`` may import ``synth`` and ``evaluation``, ``evaluation`` may import
``synth``, and
``synth`` may import only ``data``, ``imaging`` and ``models`` below it. Every import counts,
module-level or inside a function, except those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import digitlab

PACKAGE = Path(digitlab.__file__).parent
RUNTIME = ("base", "data", "imaging", "models", "profiles", "answers")
BUILD_TIME = ("training", "synth")
RANK = {
    "base": 0,
    "data": 1,
    "imaging": 2,
    "models": 3,
    "profiles": 4,
    "answers": 5,
    "synth": 6,
    "training": 6,
    "evaluation": 6,
    "cli": 7,
    "app": 7,
}
# Imports within one tier that are allowed anyway (importer layer -> imported layer).
# Training measures what it trained (a run's result card, the shipped models' metrics).
ALLOWED_ACROSS = {("training", "synth"), ("training", "evaluation"), ("evaluation", "synth")}
# What synth may import below itself: not profiles or answers.
SYNTH_MAY_IMPORT = {"base", "data", "imaging", "models", "synth"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name imported anywhere in ``tree``, skipping ``if TYPE_CHECKING:`` blocks."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """{digitlab module: the digitlab modules it imports} (``from a import b`` counts ``a.b``
    when ``b`` is a module, else ``a``)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        names = imported_names(tree, name, path.name == "__init__.py")
        graph[name] = {n for n in names if n in known and n != name}
    return graph


def layer(module: str) -> str | None:
    """The layer of a digitlab module: its first part below ``digitlab`` (``contract`` and
    ``errors`` are both the base), None for the package itself."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return "base" if parts[1] in ("contract", "errors") else parts[1]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``, one per strongly connected component (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def wrong_way(importer: str, imported: str) -> bool:
    """Whether ``importer`` importing ``imported`` runs against the layer order."""
    low, high = layer(importer), layer(imported)
    if low is None or high is None or low == high or low in ("cli", "app"):
        return False
    if (low, high) in ALLOWED_ACROSS:
        return False
    if low == "synth" and high not in SYNTH_MAY_IMPORT:
        return True
    return RANK[high] >= RANK[low]


def test_the_graph_sees_function_local_imports():
    graph = import_graph()
    assert "digitlab.training.train" in graph["digitlab.cli.main"]
    assert "digitlab.models.registry" in graph["digitlab.cli.main"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_runtime_modules_never_import_training_or_synthesis():
    found = [
        f"{importer} imports {imported}"
        for importer, imports in sorted(import_graph().items())
        if layer(importer) in RUNTIME
        for imported in sorted(imports)
        if layer(imported) in BUILD_TIME
    ]
    assert found == []


def test_imports_run_down_the_layers():
    found = [
        f"{importer} imports {imported}"
        for importer, imports in sorted(import_graph().items())
        for imported in sorted(imports)
        if wrong_way(importer, imported)
    ]
    assert found == []


def test_every_module_has_a_layer():
    unknown = {layer(m) for m in modules()} - set(RANK) - {None, "weights", "results"}
    assert unknown == set()


def imported_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def test_import_digitlab_stays_light():
    loaded = imported_after("import digitlab")
    heavy = [m for m in loaded if m.split(".")[0] in ("torch", "scipy", "sklearn", "faiss")]
    assert heavy == []
    assert [m for m in loaded if m.startswith("digitlab.")] == []


@pytest.mark.slow  # a fresh interpreter answering an image, about 4 s
def test_answering_an_image_needs_no_training_or_synthesis():
    code = (
        "import numpy as np\n"
        "from digitlab.answers.inference import predict\n"
        "from digitlab.models.registry import load_model\n"
        "image = np.zeros((28, 28), np.uint8)\n"
        "image[6:22, 12:16] = 255\n"
        "print(predict(image, model=load_model('cnn')))"
    )
    loaded = imported_after(code)
    assert "digitlab.models.cnn" in loaded or "digitlab.models.torchnet" in loaded
    build_time = [m for m in loaded if layer(m) in BUILD_TIME and m.startswith("digitlab.")]
    assert build_time == []
