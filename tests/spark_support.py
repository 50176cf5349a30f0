"""What the Spark tests need of the machine: pyspark, sqlglot and Java 17+."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def missing() -> str | None:
    """Return why Spark cannot run here, or None."""
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as exc:
        return f"pyspark or sqlglot is not installed ({exc}); run `uv sync --group dev`"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").exists()):
        return "no Java runtime (Spark needs Java 17+ on PATH or JAVA_HOME)"
    return None


def require_spark(what: str) -> None:
    """Fail the calling test module on CI (CI=true) when Spark cannot run; skip it elsewhere."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} cannot run on CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
