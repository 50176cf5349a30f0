"""Building the demo: `build_demo` fills an empty Funnelcast database with the story's history
in one transaction (people, their custom attributes, events, the definition's MQL moments,
stages, spend, targets and the planted rates), and `build_file` builds a database file atomically beside its target, as the
CLI's `demo` command and the dashboard's first start do."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.demo.attributes import TYPES as ATTRIBUTE_TYPES
from funnelcast.demo.attributes import attributes_table, make_attributes
from funnelcast.demo.columns import lead_id_column
from funnelcast.demo.definition import computed_mql_moments, insert_definition
from funnelcast.demo.events import events_table, first_event_us, make_events
from funnelcast.demo.people import leads_table, make_leads
from funnelcast.demo.sampling import day_us
from funnelcast.demo.spend import spend_table, targets_table
from funnelcast.demo.stages import PLANTED_RATES_DDL, make_stages, stages_table
from funnelcast.demo.story import EVENT_INDEX, QUARTERS


def build_demo(
    con: duckdb.DuckDBPyConnection,
    leads: int = 20_000,
    seed: int = 7,
    end: dt.date = dt.date(2026, 9, 30),
    engagement: float = 1.0,
    attributes: bool = True,
) -> dict:
    """Fill an empty Funnelcast database with the demo history; return row counts and timings.

    History covers the 12 fiscal quarters up to the one holding `end`, through the end of the
    day `end`. All of it is written in one transaction: on failure the database stays empty.
    engagement scales how many events a lead has after its first (1: about 12 in all; the
    benchmarks use more to reach 20 events per lead). attributes=False leaves out the custom
    attributes and the default definition's rules on them: the demo as it was before them
    (every other table of a seed is the same either way but for what those rules change).
    """
    if leads < 1:
        raise ValueError(f"leads must be at least 1, not {leads}")
    if not engagement > 0:
        raise ValueError(f"engagement must be more than 0, not {engagement}")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cur = con.cursor()
    try:
        _check_empty(cur)
        fy_start_month = int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)
        last = periods.quarter_of(end, fy_start_month)
        quarters = [last.shifted(i - QUARTERS + 1, fy_start_month) for i in range(QUARTERS + 2)]
        start_us = day_us(quarters[0].start)
        end_us = day_us(end + dt.timedelta(days=1))  # exclusive: the whole day `end` counts
        # the fifth stream is the custom attributes': a seed's other tables are as they were
        streams = np.random.default_rng(seed).spawn(5)
        rng_leads, rng_events, rng_stages, rng_money, rng_attributes = streams

        tick = time.perf_counter()
        people = make_leads(rng_leads, leads, start_us, end_us)
        events = make_events(rng_events, people, end_us, engagement)
        custom = make_attributes(rng_attributes, people, events) if attributes else None
        timings["generate"] = time.perf_counter() - tick

        cur.execute("begin transaction")
        try:
            tick = time.perf_counter()
            lead_ids = lead_id_column(leads)
            _insert(cur, "leads", leads_table(people, lead_ids))
            _insert(cur, "events", events_table(events, lead_ids))
            if custom is not None:
                _insert(cur, "lead_attributes", attributes_table(custom, lead_ids))
                cur.executemany(
                    "insert into lead_attribute_types (attribute, value_type, source_file) "
                    "values (?, ?, 'demo')",
                    list(ATTRIBUTE_TYPES.items()),
                )
            insert_definition(cur, quarters[0].start, with_attributes=custom is not None)
            timings["insert"] = time.perf_counter() - tick

            tick = time.perf_counter()
            mql_us = computed_mql_moments(cur, leads)
            timings["scoring"] = time.perf_counter() - tick

            tick = time.perf_counter()
            first_demo_us = first_event_us(events, leads, EVENT_INDEX["demo_request"])
            stages, planted = make_stages(rng_stages, people, mql_us, first_demo_us, end_us)
            _insert(cur, "stage_changes", stages_table(stages, lead_ids, people))
            bounds = np.array([day_us(q.start) for q in quarters] + [day_us(quarters[-1].end)])
            _insert(cur, "spend", spend_table(rng_money, people, quarters, bounds))
            _insert(cur, "targets", targets_table(rng_money, stages, quarters, bounds))
            cur.execute(PLANTED_RATES_DDL)
            cur.executemany("insert into demo_planted_rates values (?, ?, ?)", planted)
            db.set_meta(cur, "as_of", end.isoformat())
            db.set_meta(cur, "demo_seed", str(seed))
            db.set_meta(cur, "demo_leads", str(leads))
            timings["stages"] = time.perf_counter() - tick

            tick = time.perf_counter()
            cur.execute("commit")
            timings["commit"] = time.perf_counter() - tick
        except BaseException:
            cur.execute("rollback")
            raise
        counts = {
            table: _count(cur, f"select count(*) from {table}")
            for table in (*db.CANONICAL_TABLES, "demo_planted_rates")
        }
    finally:
        cur.close()
    return {
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 3),
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def _check_empty(cur: duckdb.DuckDBPyConnection) -> None:
    """Return nothing; raise FunnelcastError when the database already holds data."""
    for table in db.CANONICAL_TABLES:
        if table != "meta" and _count(cur, f"select count(*) from {table}"):
            raise db.FunnelcastError(
                f"the database is not empty (table {table} has rows); the demo needs a new one"
            )
    exists = _count(
        cur,
        "select count(*) from information_schema.tables where table_name = 'demo_planted_rates'",
    )
    if exists:
        raise db.FunnelcastError("the database already holds a demo (demo_planted_rates exists)")


def _count(cur: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Return the number a `select count(*) ...` query gives (a table name, never user text)."""
    [(n,)] = cur.execute(sql).fetchall()
    return n


def _insert(cur: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Return nothing; append an Arrow table to a table by column name."""
    view = f"demo_incoming_{table}"  # a name no canonical table has
    cur.register(view, data)
    try:
        columns = ", ".join(data.column_names)
        cur.execute(f"insert into {table} ({columns}) select {columns} from {view}")
    finally:
        cur.unregister(view)


def build_file(
    target: Path,
    *,
    leads: int = 20_000,
    seed: int = 7,
    engagement: float = 1.0,
    replace: bool = False,
    attributes: bool = True,
) -> dict:
    """Build the demo database in a temporary file beside target, then move it into place.

    Returns build_demo's summary with the whole build's "seconds". A target that exists is
    refused unless replace is set; a failed build leaves no file behind (and target untouched).
    The CLI's `demo` command and the dashboard's first start both build through here.
    """
    if target.exists() and not replace:
        raise db.FunnelcastError(
            f"{target} already exists; choose another path or pass --replace to overwrite it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=".demo-", suffix=".duckdb", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)
    try:
        con = db.connect(tmp_name, create=True)
        try:
            summary = build_demo(
                con, leads=leads, seed=seed, engagement=engagement, attributes=attributes
            )
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp_name, target)
    finally:
        for leftover in (tmp_name, tmp_name + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return {**summary, "seconds": time.perf_counter() - started}
