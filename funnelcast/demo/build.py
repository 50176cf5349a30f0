"""Building the demo: `build_demo` fills an empty Funnelcast database with the story's history
in one transaction (people, their custom attributes, events, the definition's MQL moments,
stages, spend, targets and the planted rates), a block of whole units of leads at a time (see
funnelcast.demo.units: the block size never changes the data), and `build_file` builds a
database file atomically beside its target, as the CLI's `demo` command and the dashboard's
first start do, committing each block of its temporary file (which bounds DuckDB's memory)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.demo.attributes import TYPES as ATTRIBUTE_TYPES
from funnelcast.demo.attributes import attributes_table, make_attributes
from funnelcast.demo.columns import lead_id_column
from funnelcast.demo.definition import block_mql_moments, insert_definition
from funnelcast.demo.events import events_table, first_event_us, make_events
from funnelcast.demo.people import Leads, leads_table, make_leads
from funnelcast.demo.sampling import day_us
from funnelcast.demo.spend import leads_by_quarter, spend_table, targets_table, won_by_quarter
from funnelcast.demo.stages import PLANTED_RATES_DDL, make_stages, planted_rates, stages_table
from funnelcast.demo.story import CAMPAIGNS, CHANNELS, EVENT_INDEX, QUARTERS
from funnelcast.demo.units import Unit, blocks, money_stream, plan_units

# Leads generated, written and scored at a time (three units): at 20 events a lead a build peaks
# near 1.4 GB.
BLOCK_LEADS = 60_000
# The last day of the history unless told otherwise.
END = dt.date(2026, 9, 30)
# What DuckDB may hold in memory while build_file writes (beyond it, it spills to disk).
BUILD_MEMORY_LIMIT = "1GB"


@dataclass
class _Story:
    """What every block of one build shares: its size, calendar and options."""

    leads: int
    created_us: np.ndarray  # every lead's creation time, in lead order
    start_us: int
    end_us: int
    bounds: np.ndarray  # the quarters' starts and the last one's end (us)
    engagement: float
    attributes: bool


@dataclass
class _Tally:
    """What spend, targets and the planted rates need from every unit, added up in unit order."""

    leads: np.ndarray = field(
        default_factory=lambda: np.zeros((QUARTERS, len(CAMPAIGNS)), np.int64)
    )
    customers: np.ndarray = field(default_factory=lambda: np.zeros(QUARTERS, np.int64))
    revenue: np.ndarray = field(default_factory=lambda: np.zeros(QUARTERS))
    per_channel: np.ndarray = field(default_factory=lambda: np.zeros(len(CHANNELS), np.int64))
    cohorts: list[tuple[np.ndarray, ...]] = field(default_factory=list)

    def add(self, people: Leads, stages: dict, cohorts: tuple, bounds: np.ndarray) -> None:
        """Return nothing; count one unit's leads, wins and mature cohorts in."""
        self.leads += leads_by_quarter(people, bounds)
        customers, revenue = won_by_quarter(stages, bounds)
        self.customers += customers
        self.revenue += revenue
        self.per_channel += np.bincount(people.channel, minlength=len(CHANNELS))
        mql, sql = cohorts
        self.cohorts.append(
            (people.channel[mql], people.p_sql[mql], people.channel[sql], people.p_customer[sql])
        )

    def planted(self) -> list[tuple[str, str, float]]:
        """Return the planted rates' rows over every unit's mature cohorts."""
        mql_channel, mql_p, sql_channel, sql_p = (
            np.concatenate(column) for column in zip(*self.cohorts, strict=True)
        )
        return planted_rates(mql_channel, mql_p, sql_channel, sql_p, self.per_channel)


def build_demo(
    con: duckdb.DuckDBPyConnection,
    leads: int = 20_000,
    seed: int = 7,
    end: dt.date = END,
    engagement: float = 1.0,
    attributes: bool = True,
    *,
    block_leads: int = BLOCK_LEADS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Fill an empty Funnelcast database with the demo history; return row counts and timings.

    History covers the 12 fiscal quarters up to the one holding `end`, through the end of the
    day `end`. All of it is written in one transaction: on failure the database stays empty.
    engagement scales how many events a lead has after its first (1: about 12 in all; the
    benchmarks use more to reach 20 events per lead). attributes=False leaves out the custom
    attributes and the default definition's rules on them: the demo as it was before them
    (every other table of a seed is the same either way but for what those rules change).
    block_leads leads (rounded up to whole units of UNIT_LEADS) are generated, written and
    scored at a time: it bounds the memory and never changes the data. progress, if given, is
    called with (blocks done, blocks in all) after each block.
    """
    with _OneTransaction(con) as writer:
        return _build(writer, leads, seed, end, engagement, attributes, block_leads, progress)


class _OneTransaction:
    """Writes the whole demo in one transaction of a caller's connection: on failure the
    database stays empty. The primary keys' indexes of leads and stage changes stay in memory
    until it commits (about 100 bytes a key)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.cur = con.cursor()

    def __enter__(self) -> _OneTransaction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cur.close()

    def begin(self) -> None:
        """Return nothing; start the transaction."""
        self.cur.execute("begin transaction")

    def block_written(self) -> None:
        """Return nothing: a block changes nothing about the transaction."""

    def commit(self) -> None:
        """Return nothing; commit the transaction."""
        self.cur.execute("commit")

    def rollback(self) -> None:
        """Return nothing; roll the transaction back."""
        self.cur.execute("rollback")


class _BlockCommits(_OneTransaction):
    """Writes a new database file block by block: each block is committed and the file closed
    (checkpointed) and opened again, so that DuckDB leaves the primary keys' indexes on disk
    instead of holding them all in memory. Only for a file nobody else sees before it is
    complete (build_file's temporary file): a failure leaves a part-built file behind."""

    def __init__(self, path: str):
        self.path = path
        self.con = self._open()
        self.cur = self.con.cursor()

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = db.open_duckdb(self.path)
        con.execute(f"set memory_limit = '{BUILD_MEMORY_LIMIT}'")
        con.execute("set temp_directory = $dir", {"dir": self.path + ".tmp"})
        return con

    def __exit__(self, *exc: object) -> None:
        self.cur.close()
        self.con.close()

    def block_written(self) -> None:
        """Return nothing; commit the block, close and reopen the file, begin the next."""
        self.commit()
        self.cur.close()
        self.con.close()
        self.con = self._open()
        self.cur = self.con.cursor()
        self.begin()


def _build(
    writer: _OneTransaction,
    leads: int,
    seed: int,
    end: dt.date,
    engagement: float,
    attributes: bool,
    block_leads: int,
    progress: Callable[[int, int], None] | None,
) -> dict:
    """Return build_demo's summary, having written the demo through writer."""
    if leads < 1:
        raise ValueError(f"leads must be at least 1, not {leads}")
    if not engagement > 0:
        raise ValueError(f"engagement must be more than 0, not {engagement}")
    if block_leads < 1:
        raise ValueError(f"block_leads must be at least 1, not {block_leads}")
    started = time.perf_counter()
    timings = dict.fromkeys(("generate", "insert", "scoring", "stages", "commit"), 0.0)
    _check_empty(writer.cur)
    fy_start_month = int(db.get_meta(writer.cur, "fiscal_year_start_month", "1") or 1)
    last = periods.quarter_of(end, fy_start_month)
    quarters = [last.shifted(i - QUARTERS + 1, fy_start_month) for i in range(QUARTERS + 2)]
    start_us = day_us(quarters[0].start)
    end_us = day_us(end + dt.timedelta(days=1))  # exclusive: the whole day `end` counts
    bounds = np.array([day_us(q.start) for q in quarters] + [day_us(quarters[-1].end)])

    tick = time.perf_counter()
    units, created_us = plan_units(seed, leads, start_us, end_us)
    story = _Story(leads, created_us, start_us, end_us, bounds, engagement, attributes)
    timings["generate"] += time.perf_counter() - tick

    scratch = _scratch(quarters[0].start, attributes)
    writer.begin()
    try:
        _insert_definition(writer.cur, quarters[0].start, attributes)
        tally = _Tally()
        planned = blocks(units, block_leads)
        for done, block in enumerate(planned, 1):
            _build_block(writer.cur, scratch, story, block, tally, timings)
            tick = time.perf_counter()
            writer.block_written()
            timings["commit"] += time.perf_counter() - tick
            if progress is not None:
                progress(done, len(planned))

        tick = time.perf_counter()
        cur, money = writer.cur, money_stream(seed)
        _insert(cur, "spend", spend_table(money, tally.leads, quarters))
        _insert(cur, "targets", targets_table(money, tally.customers, tally.revenue, quarters))
        cur.execute(PLANTED_RATES_DDL)
        cur.executemany("insert into demo_planted_rates values (?, ?, ?)", tally.planted())
        db.set_meta(cur, "as_of", end.isoformat())
        db.set_meta(cur, "demo_seed", str(seed))
        db.set_meta(cur, "demo_leads", str(leads))
        timings["stages"] += time.perf_counter() - tick

        tick = time.perf_counter()
        writer.commit()
        timings["commit"] += time.perf_counter() - tick
    except BaseException:
        writer.rollback()
        raise
    finally:
        scratch.close()
    counts = {
        table: _count(writer.cur, f"select count(*) from {table}")
        for table in (*db.CANONICAL_TABLES, "demo_planted_rates")
    }
    return {
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 3),
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def _build_block(
    cur: duckdb.DuckDBPyConnection,
    scratch: duckdb.DuckDBPyConnection,
    story: _Story,
    block: list[Unit],
    tally: _Tally,
    timings: dict[str, float],
) -> None:
    """Return nothing; generate one block's leads, events and attributes, write them, score
    them (their fit in the scratch database, which holds this block's leads and attributes
    alone; their behaviour from the generated events, funnelcast.demo.mql), then draw and write
    their stages, and count the block into the tally."""
    tick = time.perf_counter()
    kept: list[tuple[Unit, Leads, np.ndarray, pa.Array]] = []
    tables: dict[str, list[pa.Table]] = {"leads": [], "events": [], "lead_attributes": []}
    first = block[0].first
    scored: list[list[np.ndarray]] = [[], [], []]  # lead within the block, time, type
    for unit in block:
        created = story.created_us[unit.first : unit.first + unit.size]
        people = make_leads(unit.leads_rng, created, story.start_us, story.end_us)
        events = make_events(unit.events_rng, people, story.end_us, story.engagement)
        ids = lead_id_column(story.leads, unit.first, unit.size)
        tables["leads"].append(leads_table(people, ids))
        tables["events"].append(events_table(events, ids))
        if story.attributes:
            custom = make_attributes(unit.attributes_rng, people, events)
            tables["lead_attributes"].append(attributes_table(custom, ids))
        first_demo_us = first_event_us(events, unit.size, EVENT_INDEX["demo_request"])
        kept.append((unit, people, first_demo_us, ids))
        for part, column in zip(
            scored,
            (events["lead"] + (unit.first - first), events["occurred_us"], events["event_type"]),
            strict=True,
        ):
            part.append(column)
        del events
    block_tables = {name: pa.concat_tables(parts) for name, parts in tables.items() if parts}
    del tables
    timings["generate"] += time.perf_counter() - tick

    tick = time.perf_counter()
    for name, data in block_tables.items():
        _insert(cur, name, data)
    timings["insert"] += time.perf_counter() - tick

    tick = time.perf_counter()
    for name in ("leads", "lead_attributes"):
        if name in block_tables:
            _insert(scratch, name, block_tables[name])
    del block_tables
    size = sum(unit.size for unit in block)
    created_us = story.created_us[first : first + size]
    lead, occurred_us, event_type = (np.concatenate(part) for part in scored)
    del scored
    mql_us = block_mql_moments(scratch, size, first, created_us, (lead, occurred_us, event_type))
    del lead, occurred_us, event_type
    for name in ("lead_attributes", "leads"):
        scratch.execute(f"delete from {name}")
    timings["scoring"] += time.perf_counter() - tick

    tick = time.perf_counter()
    stage_tables = []
    for unit, people, first_demo_us, ids in kept:
        own = mql_us[unit.first - first : unit.first - first + unit.size]
        stages, cohorts = make_stages(unit.stages_rng, people, own, first_demo_us, story.end_us)
        stage_tables.append(stages_table(stages, ids, people))
        tally.add(people, stages, cohorts, story.bounds)
    _insert(cur, "stage_changes", pa.concat_tables(stage_tables))
    timings["stages"] += time.perf_counter() - tick


def _scratch(effective_from: dt.date, attributes: bool) -> duckdb.DuckDBPyConnection:
    """Return an in-memory Funnelcast database holding the default definition, where each
    block's fit points are found on their own (a lead's depend on its own rows alone)."""
    scratch = db.connect(":memory:", create=True)
    _insert_definition(scratch, effective_from, attributes)
    return scratch


def _insert_definition(
    cur: duckdb.DuckDBPyConnection, effective_from: dt.date, attributes: bool
) -> None:
    """Return nothing; write the custom attributes' types (with attributes) and the default
    definition with its rules."""
    if attributes:
        cur.executemany(
            "insert into lead_attribute_types (attribute, value_type, source_file) "
            "values (?, ?, 'demo')",
            list(ATTRIBUTE_TYPES.items()),
        )
    insert_definition(cur, effective_from, with_attributes=attributes)


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
    block_leads: int = BLOCK_LEADS,
    progress: Callable[[int, int], None] | None = None,
    before_move: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
) -> dict:
    """Build the demo database in a temporary file beside target, then move it into place.

    before_move(cur), when given, runs in a transaction of its own on the complete file before
    it moves (funnelcast.loading keeps the summaries there: the file never appears without).

    Returns build_demo's summary with the whole build's "seconds". A target that exists is
    refused unless replace is set; a failed build leaves no file behind (and target untouched).
    The CLI's `demo` command and the dashboard's first start both build through here. Each
    block is committed on its own and the file reopened (_BlockCommits), which keeps DuckDB's
    key indexes out of memory; DuckDB holds at most BUILD_MEMORY_LIMIT and spills the rest.
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
        db.connect(tmp_name, create=True).close()
        with _BlockCommits(tmp_name) as writer:
            summary = _build(
                writer, leads, seed, END, engagement, attributes, block_leads, progress
            )
            if before_move is not None:
                writer.begin()
                before_move(writer.cur)
                writer.commit()
            writer.cur.execute("checkpoint")
        os.replace(tmp_name, target)
    finally:
        for leftover in (tmp_name, tmp_name + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
        shutil.rmtree(tmp_name + ".tmp", ignore_errors=True)  # DuckDB's spill files, if any
    return {**summary, "seconds": time.perf_counter() - started}
