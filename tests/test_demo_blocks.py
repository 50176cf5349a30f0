"""The demo in blocks: the same seed gives the same tables whatever the block size, lead ids
follow creation order across units, and the build reports each block it finishes."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from funnelcast import demo
from funnelcast.data import db
from funnelcast.demo import units

END = dt.date(2026, 9, 30)
TABLES = (*db.CANONICAL_TABLES, "demo_planted_rates")


def tables_of(con) -> dict[str, pl.DataFrame]:
    """Return every table the demo fills, its rows in a fixed order."""
    return {table: con.sql(f"select * from {table} order by all").pl() for table in TABLES}


def build(path, **kwargs) -> tuple[dict[str, pl.DataFrame], list[tuple[int, int]], object]:
    """Return the tables of a demo built with kwargs at path, the progress calls it made and
    the open connection."""
    calls: list[tuple[int, int]] = []
    con = db.connect(path, create=True)
    demo.build_demo(con, progress=lambda done, of: calls.append((done, of)), **kwargs)
    return tables_of(con), calls, con


def assert_same_tables(first: dict[str, pl.DataFrame], other: dict[str, pl.DataFrame]) -> None:
    """Assert that two demos hold the same rows in every table."""
    for table in TABLES:
        assert first[table].height == other[table].height, table
        assert first[table].equals(other[table]), table


def test_blocks_of_real_units_give_the_same_tables_row_for_row(tmp_path):
    # 45,000 leads: two whole units of 20,000 and one of 5,000, in three blocks or in one
    kwargs = dict(leads=45_000, seed=5, end=END, engagement=0.5)
    blocked, calls, con = build(tmp_path / "a.duckdb", block_leads=20_000, **kwargs)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    whole, calls, _ = build(tmp_path / "b.duckdb", block_leads=1_000_000, **kwargs)
    assert calls == [(1, 1)]
    assert_same_tables(blocked, whole)
    assert blocked["leads"].height == 45_000
    assert blocked["events"].height > 100_000
    # every table is filled, and the recorded MQLs are what the definition computes over all
    # the blocks together
    assert all(blocked[t].height for t in TABLES)
    computed = db.run(con, "computed_mql_moments", definition_id=1, threshold=None)
    recorded = db.run(con, "recorded_mql_moments")
    assert computed.height > 5_000
    assert recorded.equals(computed.select("lead_id", "mql_at"))
    # the planted rates, now means over three units' cohorts, are still what the mature cohorts
    # show (within four standard errors, as tests/test_demo.py checks a single unit's)
    cutoff = f"cast(meta.value as date) + interval 1 day - interval {demo.LAG_CAP_DAYS} day"
    for metric, cohort_at, reached in (
        ("mql_to_sql", "recorded_mql_at", "reached_sql_at"),
        ("sql_to_customer", "reached_sql_at", "reached_customer_at"),
    ):
        [(n, rate, planted)] = con.sql(
            f"""
            select count(*), avg(({reached} is not null)::int), any_value(planted.value)
            from lead_milestones, meta, demo_planted_rates as planted
            where meta.key = 'as_of' and {cohort_at} < {cutoff}
                and planted.metric = $metric and planted.channel = 'all'""",
            params={"metric": metric},
        ).fetchall()
        assert n > 500
        assert abs(rate - planted) <= 4 * math.sqrt(planted * (1 - planted) / n), metric


@pytest.mark.parametrize("block_leads", [100, 300, 2_000])
def test_small_units_in_blocks_of_one_or_more_give_the_same_tables(
    tmp_path, monkeypatch, block_leads
):
    # units of 100 leads: 11 of them (the last of 50), in blocks of 1, 3 or all 11 units
    monkeypatch.setattr(units, "UNIT_LEADS", 100)
    kwargs = dict(leads=1_050, seed=3, end=END)
    reference, calls, _ = build(tmp_path / "whole.duckdb", block_leads=1_050, **kwargs)
    assert calls == [(1, 1)]
    blocked, calls, _ = build(tmp_path / "blocked.duckdb", block_leads=block_leads, **kwargs)
    assert calls[-1] == (-(-11 // -(-block_leads // 100)),) * 2
    assert_same_tables(blocked, reference)


def test_lead_ids_follow_creation_order_across_units_and_units_differ(tmp_path, monkeypatch):
    monkeypatch.setattr(units, "UNIT_LEADS", 500)
    leads, _, _ = build(tmp_path / "x.duckdb", leads=2_200, seed=9, end=END, block_leads=1_000)
    by_id = leads["leads"].sort("lead_id")
    assert by_id["lead_id"].to_list() == [f"L{i:07d}" for i in range(1, 2_201)]
    assert by_id["created_at"].is_sorted()
    # each unit draws its own creation times: no unit repeats another's
    assert by_id["created_at"].n_unique() > 0.99 * 2_200


def test_block_leads_must_be_positive(tmp_path):
    con = db.connect(tmp_path / "x.duckdb", create=True)
    with pytest.raises(ValueError, match="block_leads"):
        demo.build_demo(con, leads=100, block_leads=0)


def test_a_file_built_block_by_block_holds_the_one_transaction_tables(tmp_path, monkeypatch):
    # build_file commits each block and reopens the file (its key indexes leave memory): the
    # tables are those of build_demo's one transaction, and nothing is left beside the file
    monkeypatch.setattr(units, "UNIT_LEADS", 100)
    reference, _, _ = build(tmp_path / "one.duckdb", leads=1_050, seed=3, end=END)
    calls: list[tuple[int, int]] = []
    folder = tmp_path / "built"
    target = folder / "demo.duckdb"
    summary = demo.build_file(
        target, leads=1_050, seed=3, block_leads=200, progress=lambda *c: calls.append(c)
    )
    assert calls == [(done, 6) for done in range(1, 7)]
    assert summary["counts"]["leads"] == 1_050
    assert [p.name for p in folder.iterdir()] == ["demo.duckdb"]
    con = db.connect(target, read_only=True)
    assert_same_tables(tables_of(con), reference)


def test_the_cli_reports_each_block_on_stderr(tmp_path, monkeypatch, capsys):
    from funnelcast import cli

    monkeypatch.setattr(units, "UNIT_LEADS", 100)
    target = tmp_path / "demo.duckdb"
    assert cli.main(["demo", "--db", str(target), "--leads", "1050", "--block-leads", "300"]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"funnelcast: demo block {done} of 4 done" for done in range(1, 5)]
    assert "1,050 leads" in out
    # one block: no progress at all
    assert cli.main(["demo", "--db", str(target), "--leads", "90", "--replace"]) == 0
    assert capsys.readouterr().err == ""


def test_the_block_bar_redraws_one_line_on_a_terminal():
    import io

    from funnelcast.cli.build import BlockBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = BlockBar(screen)
    bar(1, 4)
    assert screen.getvalue() == "\rdemo [#######.......................] 1/4 blocks"
    bar(2, 4)
    assert screen.getvalue().endswith("\rdemo [###############...............] 2/4 blocks")
    bar(4, 4)  # the finished bar is wiped, for the summary line to follow
    assert screen.getvalue().endswith("\r" + " " * len("demo [] 4/4 blocks") + " " * 30 + "\r")
    assert "\n" not in screen.getvalue()


def test_a_file_build_failing_after_committed_blocks_leaves_the_target_as_it_was(
    tmp_path, monkeypatch
):
    from funnelcast.demo import build as demo_build

    monkeypatch.setattr(units, "UNIT_LEADS", 100)
    folder = tmp_path / "built"
    folder.mkdir()
    target = folder / "demo.duckdb"
    target.write_bytes(b"the old file")
    real = demo_build.make_stages
    calls = []

    def fails_in_the_third_block(*args, **kwargs):
        calls.append(1)
        if len(calls) > 4:  # two blocks of two units are committed by then
            raise RuntimeError("boom")
        return real(*args, **kwargs)

    monkeypatch.setattr(demo_build, "make_stages", fails_in_the_third_block)
    done: list[tuple[int, int]] = []
    with pytest.raises(RuntimeError, match="boom"):
        demo.build_file(
            target, leads=1_000, replace=True, block_leads=200, progress=lambda *c: done.append(c)
        )
    assert done == [(1, 5), (2, 5)]
    assert [p.name for p in folder.iterdir()] == ["demo.duckdb"]
    assert target.read_bytes() == b"the old file"
