"""The one door to the database: schema versions, migrations, refusals, the query runner."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from funnelcast.data import db


def new_database(path):
    """Return the path of a new Funnelcast database holding one lead."""
    con = db.connect(path, create=True)
    con.execute(
        "insert into leads (lead_id, created_at, channel) values ('a', '2026-01-05', 'search')"
    )
    con.close()
    return path


def test_a_new_database_records_the_schema_version(tmp_path):
    con = db.connect(new_database(tmp_path / "f.duckdb"))
    assert db.schema_version(con) == db.SCHEMA_VERSION
    assert db.get_meta(con, "fiscal_year_start_month") == "1"


def test_an_older_database_is_migrated_in_place_and_keeps_its_data(tmp_path, monkeypatch):
    # Pretend this release is one schema ahead, whose migration adds a column: opening a file
    # of today's version for writing must apply it once, record the new version, lose no row.
    path = new_database(tmp_path / "f.duckdb")
    now, ahead = db.SCHEMA_VERSION, db.SCHEMA_VERSION + 1
    monkeypatch.setattr(db, "SCHEMA_VERSION", ahead)
    monkeypatch.setattr(
        db,
        "MIGRATIONS",
        {**db.MIGRATIONS, now: ["alter table leads add column score_band varchar"]},
    )
    with pytest.raises(db.FunnelcastError, match=f"schema version {now}; open it once for writing"):
        db.connect(path, read_only=True)
    con = db.connect(path)
    assert db.schema_version(con) == ahead
    assert con.execute("select lead_id, score_band from leads").fetchall() == [("a", None)]
    con.close()
    assert db.schema_version(db.connect(path)) == ahead


# The events table of schema version 1, with its foreign key to leads.
EVENTS_V1 = """
create table events (
    lead_id                 varchar not null references leads (lead_id),
    occurred_at             timestamp not null,
    event_type              varchar not null,
    content_stage           varchar check (content_stage in ('top', 'middle', 'bottom')),
    channel                 varchar,
    campaign                varchar,
)
"""
EVENTS_V1_ROWS = [
    ("a", dt.datetime(2026, 1, 6, 9, 30), "email_open", "top", "email", "spring"),
    ("a", dt.datetime(2026, 1, 6, 9, 30), "email_open", "top", "email", "spring"),
    ("a", dt.datetime(2026, 1, 9), "demo_request", None, None, None),
]


def version_1_database(path):
    """Return the path of a schema-1 database: one lead, its three events, one MQL."""
    new_database(path)
    con = duckdb.connect(str(path))
    con.execute("drop table events")
    con.execute(EVENTS_V1)
    con.executemany("insert into events values (?, ?, ?, ?, ?, ?)", EVENTS_V1_ROWS)
    con.execute(
        "insert into stage_changes (lead_id, stage, changed_at) values ('a', 'mql', '2026-01-10')"
    )
    con.execute("update meta set value = '1' where key = 'schema_version'")
    con.close()
    return path


def test_schema_1_events_lose_their_foreign_key_and_keep_every_row(tmp_path):
    path = version_1_database(tmp_path / "v1.duckdb")
    old = duckdb.connect(str(path))
    with pytest.raises(duckdb.ConstraintException, match="foreign key"):
        old.execute(
            "insert into events (lead_id, occurred_at, event_type) "
            "values ('ghost', '2026-01-01', 'email_open')"
        )
    old.close()
    con = db.connect(path)
    assert db.schema_version(con) == 2
    assert (
        con.execute("select * from events order by occurred_at, event_type").fetchall()
        == EVENTS_V1_ROWS
    )
    # the table is now the one schema.sql creates: no foreign key, the same columns and checks
    fresh = db.connect(tmp_path / "fresh.duckdb", create=True)
    shape = (
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_name = 'events' order by ordinal_position"
    )
    assert con.execute(shape).fetchall() == fresh.execute(shape).fetchall()
    kinds = "select constraint_type from duckdb_constraints() where table_name = $t order by 1"
    assert fx_rows(con, kinds, "events") == fx_rows(fresh, kinds, "events")
    assert "FOREIGN KEY" not in {k for (k,) in fx_rows(con, kinds, "events")}
    assert "FOREIGN KEY" in {k for (k,) in fx_rows(con, kinds, "stage_changes")}
    with pytest.raises(duckdb.ConstraintException, match="CHECK constraint"):
        con.execute(
            "insert into events (lead_id, occurred_at, event_type, content_stage) "
            "values ('a', '2026-01-01', 'email_open', 'upper')"
        )
    con.close()
    fresh.close()


def fx_rows(con, sql, table):
    """Return the rows of a query about one table."""
    return con.execute(sql, {"t": table}).fetchall()


def test_events_have_no_foreign_key_so_the_loaders_keep_their_leads_known(demo_db):
    # The demo builder makes events only for the leads it makes; funnelcast import refuses
    # events of unknown leads (tests/test_import.py, tests/test_properties.py).
    con = db.connect(demo_db, read_only=True)
    try:
        assert con.execute("select count(*) from events").fetchall()[0][0] > 0
        assert con.execute(
            "select count(*) from events anti join leads using (lead_id)"
        ).fetchall() == [(0,)]
    finally:
        con.close()


def test_a_database_from_a_newer_funnelcast_is_refused(tmp_path):
    path = new_database(tmp_path / "f.duckdb")
    con = db.connect(path)
    db.set_meta(con, "schema_version", str(db.SCHEMA_VERSION + 1))
    con.close()
    with pytest.raises(db.FunnelcastError, match="newer than this Funnelcast"):
        db.connect(path)


def test_a_foreign_duckdb_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.duckdb"
    other = duckdb.connect(str(path))
    other.execute("create table orders (id int)")
    other.close()
    with pytest.raises(db.FunnelcastError, match="not a Funnelcast database"):
        db.connect(path, create=True)
    other = duckdb.connect(str(path))
    assert other.execute("select table_name from information_schema.tables").fetchall() == [
        ("orders",)
    ]


def test_a_missing_file_is_refused_unless_asked_to_create(tmp_path):
    with pytest.raises(db.FunnelcastError, match="does not exist"):
        db.connect(tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()


def test_the_runner_binds_parameters_and_names_the_missing_ones(tmp_path):
    cur = db.connect(new_database(tmp_path / "f.duckdb")).cursor()
    assert db.run(cur, "definition_in_force", on="2026-01-01").height == 0
    with pytest.raises(TypeError, match="needs parameters: on"):
        db.run(cur, "definition_in_force")
    with pytest.raises(ValueError, match="not a query name"):
        db.run(cur, "../schema")


def test_the_dashboard_migrates_an_older_database_it_opens(tmp_path):
    from funnelcast.ui import dashboard

    path = version_1_database(tmp_path / "v1.duckdb")
    with pytest.raises(db.NeedsMigration, match="schema version 1"):
        db.connect(path, read_only=True)
    con = dashboard._connection(dashboard.file_key(path), str(path))
    try:
        assert db.schema_version(con) == 2
        assert con.execute("select count(*) from events").fetchall() == [(len(EVENTS_V1_ROWS),)]
    finally:
        con.close()


def _cached(cur) -> int:
    usage = dict(cur.sql("select tag, memory_usage_bytes from duckdb_memory()").fetchall())
    return int(usage.get("BASE_TABLE", 0))


def test_the_table_blocks_duckdb_keeps_after_a_scan_are_dropped_and_the_limit_kept(demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        limit = cur.sql("select current_setting('memory_limit')").fetchall()
        count = "select count(*), sum(epoch_us(occurred_at)) from events"
        before = cur.sql(count).fetchall()
        assert _cached(cur) > 0  # the scan left the events' blocks in memory
        # less than keep is left alone
        assert db.release_cached_blocks(cur, keep=_cached(cur)) == 0 and _cached(cur) > 0
        cached = _cached(cur)
        dropped = db.release_cached_blocks(cur, keep=1 << 18)
        assert dropped > 0 and _cached(cur) <= 1 << 18 and dropped == cached - _cached(cur)
        assert cur.sql("select current_setting('memory_limit')").fetchall() == limit
        assert cur.sql(count).fetchall() == before  # read again from the file, the same
        # a limit someone set is not touched: DuckDB shows it rounded, it could not be restored
        cur.execute("SET memory_limit = '3GB'")
        chosen = cur.sql("select current_setting('memory_limit')").fetchall()
        cur.sql(count).fetchall()
        assert db.release_cached_blocks(cur, keep=1 << 18) == 0 and _cached(cur) > 1 << 18
        assert cur.sql("select current_setting('memory_limit')").fetchall() == chosen
        cur.execute("RESET memory_limit")
    finally:
        con.close()
