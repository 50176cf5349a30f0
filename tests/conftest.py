"""Shared fixtures: one small demo database per test session, built with funnelcast.demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelcast.data import db
from funnelcast.demo import build_demo

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
    con = db.connect(path, create=True)
    try:
        build_demo(con, leads=DEMO_LEADS, seed=DEMO_SEED)
        con.execute("checkpoint")
    finally:
        con.close()
    return path
