"""The house in layers, enforced: the import-linter contracts in pyproject.toml
(`[tool.importlinter]`: layers, Streamlit only in funnelcast.ui, private modules, no cycles between
siblings) hold, no module takes part in an import cycle, and every module says what it owns.

The contracts are also shown to catch what they exist to catch: a copy of the package with a
Streamlit import planted in `funnelcast.core`, or an upward import planted in `funnelcast.data`,
fails the same check.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "funnelcast"
MAX_LINES = 600


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the repository's pyproject.toml on the funnelcast package at root."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            "--no-cache",
        ],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_package(tmp_path: Path) -> Path:
    """Return a folder holding a copy of funnelcast/ and pyproject.toml, to plant imports in."""
    shutil.copytree(PACKAGE, tmp_path / "funnelcast", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(root: Path, module: str, line: str) -> None:
    """Add an import line after the docstring of funnelcast/<module>.py in the copy at root."""
    path = root / "funnelcast" / f"{module}.py"
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout, result.stdout


def test_streamlit_outside_ui_breaks_the_contract(tmp_path):
    root = copy_of_package(tmp_path)
    plant(root, "core/stats", "import streamlit  # planted by the test")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "Streamlit only in funnelcast.ui (and app.py, pages/) BROKEN" in result.stdout
    assert "funnelcast.core.stats -> streamlit" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    root = copy_of_package(tmp_path)
    plant(root, "data/db", "from funnelcast.analytics import metrics  # planted by the test")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout.split("Layers:")[1].split("\n\n")[0]
    assert "funnelcast.data.db -> funnelcast.analytics.metrics" in result.stdout


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Return every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if not other.startswith("funnelcast"):
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module.startswith("funnelcast") and module not in index:
            visit(module)
    return groups


def test_no_module_is_in_an_import_cycle():
    """Not even a package and its own submodule (a submodule imports siblings, never its __init__);
    imports inside functions count too."""
    graph = grimp.build_graph("funnelcast", cache_dir=None)
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("funnelcast", "funnelcast.a", "funnelcast.b", "funnelcast.c"):
        graph.add_module(name)
    graph.add_import(importer="funnelcast.a", imported="funnelcast.b")
    graph.add_import(importer="funnelcast.b", imported="funnelcast.c")
    graph.add_import(importer="funnelcast.c", imported="funnelcast.a")
    assert import_cycles(graph) == [["funnelcast.a", "funnelcast.b", "funnelcast.c"]]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_module_says_what_it_owns_and_stays_small(path: Path):
    text = path.read_text()
    if path.name != "__main__.py":
        docstring = ast.get_docstring(ast.parse(text))
        assert docstring and len(docstring) >= 20, f"{path.name} needs a docstring of what it owns"
    assert len(text.splitlines()) <= MAX_LINES, f"{path} has {len(text.splitlines())} lines"
