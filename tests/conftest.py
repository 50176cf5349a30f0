"""Shared fixtures: one small demo database per test session, built with funnelcast.demo; the
funnel-review database (tests/fixtures.py) per test module, in memory and as a file; and, for
the browser tests, Debian's Chromium and the dashboard served on the demo database
(tests/browser_support.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import fixtures as fx
import pytest
from browser_support import chromium, served_app  # noqa: F401  (fixtures, here for every test)

from funnelcast.demo import build_file

# Small enough to build in about a second, large enough that every quarter and channel has
# MQLs, SQLs and customers (the page tests switch between them).
DEMO_LEADS = 6_000
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a demo database (6,000 leads, seed 7) built once per session.

    Open it read-only: tests share it.
    """
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    build_file(path, leads=DEMO_LEADS, seed=DEMO_SEED)
    return path


@pytest.fixture(scope="module")
def funnel_review() -> Iterator[duckdb.DuckDBPyConnection]:
    """Return the funnel-review database in memory, shared by the tests of a module."""
    with contextlib.closing(fx.funnel_review()) as con:
        yield con


@pytest.fixture(scope="module")
def funnel_review_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the funnel-review database as a closed file, for the command line."""
    path = tmp_path_factory.mktemp("funnel_review") / "review.duckdb"
    with contextlib.closing(fx.funnel_review(path)) as con:
        con.execute("checkpoint")
    return path
