"""Code health, as CI checks it: ruff's lint and format check over the repository, and mypy over
funnelcast/, each configured in pyproject.toml and run as the developer would run it.

A failure shows the tool's own report: fix the code (`ruff check --fix .`, `ruff format .`, the
type errors mypy names) rather than loosening the configuration.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE_MODULES = sorted((REPO / "funnelcast").rglob("*.py"))


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Return the finished run of `python -m <args>` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )


def report(result: subprocess.CompletedProcess[str]) -> str:
    """Return what a tool printed, for the failure message."""
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_ruff_finds_nothing_to_lint():
    result = run_tool("ruff", "check", ".")
    assert result.returncode == 0, report(result)


def test_every_python_file_is_ruff_formatted():
    result = run_tool("ruff", "format", "--check", ".")
    assert result.returncode == 0, report(result)
    # the check really covered the package and the tests (a wrong include would pass vacuously)
    checked = re.search(r"(\d+) files? already formatted", result.stdout)
    assert checked, report(result)
    assert int(checked.group(1)) >= len(PACKAGE_MODULES) + len(list((REPO / "tests").glob("*.py")))


def test_mypy_finds_no_type_errors_in_the_package():
    result = run_tool("mypy")  # files and options from [tool.mypy] in pyproject.toml
    assert result.returncode == 0, report(result)
    # every module of funnelcast/ was checked, not an empty selection
    checked = re.search(r"Success: no issues found in (\d+) source files?", result.stdout)
    assert checked, report(result)
    assert int(checked.group(1)) == len(PACKAGE_MODULES), report(result)


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_the_tools_are_configured_in_pyproject(tool):
    """The checks read their settings from pyproject.toml (so editors and CI agree)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert tool in config["tool"]
    assert any(dep.startswith(tool) for dep in config["dependency-groups"]["dev"])


def test_every_duckdb_connection_refuses_to_fetch_or_load_extensions():
    """Every connection the project opens (package, pages, benchmarks, tests) goes through
    funnelcast.data.db (which sets SAFE_CONFIG) or names the settings itself: a raw
    duckdb.connect would let a file that is not DuckDB's make DuckDB fetch code over the
    network."""
    places = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py"))]
    for folder in ("funnelcast", "benchmarks", "tests"):
        places += sorted((REPO / folder).rglob("*.py"))
    raw = [
        f"{path.relative_to(REPO)}:{number}"
        for path in places
        if path != REPO / "funnelcast" / "data" / "db.py" and path != Path(__file__)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "duckdb.connect(" in line and "autoinstall_known_extensions" not in line
    ]
    assert raw == []
    db_py = (REPO / "funnelcast" / "data" / "db.py").read_text(encoding="utf-8")
    assert db_py.count("duckdb.connect(") == db_py.count("config=dict(SAFE_CONFIG)")
