"""The one door to the database: schema versions, migrations, refusals, the query runner."""

from __future__ import annotations

import duckdb
import pytest

from funnelcast import db


def new_database(path):
    """Return the path of a new Funnelcast database holding one lead."""
    con = db.connect(path, create=True)
    con.execute("insert into leads (lead_id, created_at, channel) values ('a', '2026-01-05', 'search')")
    con.close()
    return path


def test_a_new_database_records_the_schema_version(tmp_path):
    con = db.connect(new_database(tmp_path / "f.duckdb"))
    assert db.schema_version(con) == db.SCHEMA_VERSION
    assert db.get_meta(con, "fiscal_year_start_month") == "1"


def test_an_older_database_is_migrated_in_place_and_keeps_its_data(tmp_path, monkeypatch):
    # Pretend this release is schema 2, whose migration adds a column: opening a version-1 file
    # for writing must apply it once, record version 2, and lose no row.
    path = new_database(tmp_path / "f.duckdb")
    monkeypatch.setattr(db, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(db, "MIGRATIONS", {1: ["alter table leads add column score_band varchar"]})
    with pytest.raises(db.FunnelcastError, match="schema version 1; open it once for writing"):
        db.connect(path, read_only=True)
    con = db.connect(path)
    assert db.schema_version(con) == 2
    assert con.execute("select lead_id, score_band from leads").fetchall() == [("a", None)]
    con.close()
    assert db.schema_version(db.connect(path)) == 2


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
    assert other.execute("select table_name from information_schema.tables").fetchall() == [("orders",)]


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
