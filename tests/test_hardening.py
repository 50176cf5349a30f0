"""Hardening (issue 18): files that are not DuckDB databases are named for what they are and
never make DuckDB fetch or load an extension; every CSV download quotes the cells a spreadsheet
would run, also after leading whitespace.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from cli_support import assert_one_line_failure, run_cli

from funnelcast.core import spreadsheet
from funnelcast.data import db
from funnelcast.lab import page as tl

ROOT = Path(__file__).resolve().parent.parent

# ===== a file that is not a DuckDB database =====


def sqlite_file(path: Path) -> Path:
    """Return the path of a SQLite database with a leads table (what the issue tried)."""
    con = sqlite3.connect(path)
    con.execute("create table leads(a)")
    con.commit()
    con.close()
    return path


def not_databases(tmp_path: Path) -> dict[str, Path]:
    """Return files of other kinds, by the kind the message must name."""
    files = {"a SQLite file": sqlite_file(tmp_path / "x.db")}
    parquet = tmp_path / "x.parquet"
    pl.DataFrame({"a": [1, 2]}).write_parquet(parquet)
    files["a Parquet file"] = parquet
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("leads.csv", "lead_id\n1\n")
    files["a zip archive"] = archive
    csv = tmp_path / "leads.csv"
    csv.write_text("lead_id,created_at\nL1,2026-01-01\n")
    files["a text file (CSV"] = csv
    empty = tmp_path / "empty.duckdb"
    empty.write_bytes(b"")
    files["an empty file"] = empty
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    files["a PNG image"] = png
    return files


def test_each_kind_of_file_is_named_and_the_file_is_left_as_it_was(tmp_path):
    for kind, path in not_databases(tmp_path).items():
        before = path.read_bytes()
        for read_only in (False, True):
            with pytest.raises(db.FunnelcastError) as raised:
                db.connect(path, read_only=read_only)
            assert str(raised.value).startswith(f"{path} is {kind}"), raised.value
            assert str(raised.value).endswith("not a DuckDB database")
            assert "extension" not in str(raised.value).lower()
        assert path.read_bytes() == before, kind


def test_the_cli_says_a_sqlite_file_is_not_a_duckdb_database(tmp_path):
    path = sqlite_file(tmp_path / "x.db")
    leads = tmp_path / "leads.csv"
    leads.write_text("lead_id,created_at,channel\nL1,2026-01-01,search\n")
    for command in (["metrics"], ["funnel"], ["import", "--table", "leads", str(leads)]):
        done = run_cli(*command, "--db", path)
        assert_one_line_failure(done, f"{path} is a SQLite file, not a DuckDB database")
        assert "download" not in done.stderr.lower()


def test_every_connection_refuses_to_fetch_or_load_extensions(tmp_path):
    path = tmp_path / "f.duckdb"
    for con in (db.connect(path, create=True), db.open_duckdb()):
        settings = con.execute(
            "select current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions')"
        ).fetchall()
        assert settings == [(False, False)]
        # With autoloading on, DuckDB would try to download the sqlite extension here (on this
        # network-less machine: "Failed to download extension"); off, it only says it is absent.
        with pytest.raises(duckdb.Error) as raised:
            con.execute("select * from sqlite_scan($p, 'leads')", {"p": str(tmp_path / "x.db")})
        assert "download" not in str(raised.value).lower()
        loaded = con.execute(
            "select count(*) from duckdb_extensions() where loaded and extension_name = 'sqlite'"
        ).fetchall()
        assert loaded == [(0,)]
        con.close()


def test_a_real_database_still_opens_and_a_missing_one_is_still_refused(tmp_path):
    path = tmp_path / "f.duckdb"
    db.connect(path, create=True).close()
    assert db.file_kind(path) is None
    db.connect(path, read_only=True).close()
    with pytest.raises(db.FunnelcastError, match="does not exist"):
        db.connect(tmp_path / "missing.duckdb")


# ===== CSV downloads =====

RISKY = ("=1+1", " =1+1", "\t=1+1", "  +cmd|' /C calc'!A0", " -2+3", "\u00a0@SUM(1)", "\tx", "\rx")
PLAIN = ("plain", "a=b", "x-1", "", "  spaced", "e-mail@x")


def test_risky_cells_are_quoted_also_after_leading_whitespace():
    for text in RISKY:
        assert spreadsheet.is_risky(text), repr(text)
        assert spreadsheet.safe_cell(text) == "'" + text
    for text in PLAIN:
        assert not spreadsheet.is_risky(text), repr(text)
        assert spreadsheet.safe_cell(text) == text


def test_the_movers_download_quotes_the_same_cells_as_safe_cell():
    frame = pl.DataFrame({"lead_id": [*RISKY, *PLAIN, None], "n": list(range(len(RISKY) + 7))})
    written = pl.read_csv(tl.movers_csv(frame), infer_schema=False)
    expected = [spreadsheet.safe_cell(t) for t in (*RISKY, *PLAIN)]
    # CSV cannot tell an empty text from a missing one: both read back as missing
    assert [v or "" for v in written["lead_id"].to_list()] == [*expected, ""]
    assert written["n"].to_list() == [str(i) for i in range(len(RISKY) + 7)]


# ===== Parquet and Spark without the optional spark extra =====

# Runs the CLI as if neither sqlglot nor pyspark were installed (a None in sys.modules makes
# their import fail), which is the base install: `uv sync` without `--extra spark`.
WITHOUT_SPARK = (
    "import sys; sys.modules['sqlglot'] = None; sys.modules['pyspark'] = None; "
    "from funnelcast.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_base_install(*args: object) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh process without the spark extra's packages."""
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SPARK, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_export_parquet_needs_no_spark_and_spark_says_which_extra(demo_db, tmp_path):
    out = tmp_path / "parquet"
    done = run_base_install("export-parquet", "--db", demo_db, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    con = db.connect(demo_db, read_only=True)
    for table in db.CANONICAL_TABLES:
        rows = con.execute(f"select count(*) from {table}").fetchall()[0][0]
        assert pl.read_parquet(out / table / "data.parquet").height == rows, table
    con.close()
    done = run_base_install("metrics", "--engine", "spark", "--parquet", out)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one line, no traceback
    assert "optional spark extra" in done.stderr and "uv sync --extra spark" in done.stderr


# ===== clearer messages =====


def schema_only_database(path: Path) -> Path:
    """Return a database made by running queries/schema.sql alone (no meta row, no macros)."""
    con = db.open_duckdb(path)
    con.execute(db.query_text("schema"))
    con.execute("insert into leads (lead_id, created_at, channel) values ('a', '2026-01-05', 's')")
    con.close()
    return path


def test_a_database_made_from_schema_sql_alone_is_completed_not_refused(tmp_path):
    path = schema_only_database(tmp_path / "schema_only.duckdb")
    with pytest.raises(db.NeedsMigration, match="no schema version in its meta table"):
        db.connect(path, read_only=True)
    con = db.connect(path)
    assert db.schema_version(con) == db.SCHEMA_VERSION
    assert db.get_meta(con, "fiscal_year_start_month") == "1"
    assert con.execute("select count(*) from lead_fit_points(1)").fetchall() == [(1,)]
    con.close()
    db.connect(path, read_only=True).close()


def test_tables_that_are_not_schema_sqls_are_still_not_a_funnelcast_database(tmp_path):
    path = tmp_path / "other.duckdb"
    con = db.open_duckdb(path)
    con.execute(db.query_text("schema"))
    con.execute("alter table leads add column colour varchar")
    con.close()
    with pytest.raises(db.FunnelcastError, match="is not a Funnelcast database"):
        db.connect(path)


def test_funnel_and_handoff_on_an_empty_database_say_no_data_yet(tmp_path):
    path = tmp_path / "empty.duckdb"
    db.connect(path, create=True).close()
    for command in ("funnel", "handoff"):
        done = run_cli(command, "--db", path)
        assert done.returncode == 0, done.stderr
        first = done.stdout.splitlines()[0]
        assert first.endswith("no data yet") and "None" not in done.stdout, first


def test_a_reader_that_goes_away_gets_no_traceback():
    # `funnelcast roi | head -1`: once head exits, the next write raises BrokenPipeError
    program = (
        "import sys\n"
        "from funnelcast.cli import runner\n"
        "def handler(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.exit(runner.guarded(handler, None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr == "", done.stderr


# ===== a team on one server: the server's own time per run =====


def test_each_run_of_the_app_logs_the_servers_time_when_asked(monkeypatch, demo_db, tmp_path):
    from apptest_support import navigation_only, run_app  # noqa: F401  (a fixture)

    from funnelcast.ui import run_log

    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(run_log.RUN_LOG_ENV, str(log))
    at = run_app(monkeypatch, demo_db)
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["page"] for r in runs] == ["Overview"]
    assert all(r["completed"] and 0 < r["cpu"] and 0 < r["seconds"] < 120 for r in runs), runs
    monkeypatch.delenv(run_log.RUN_LOG_ENV)
    at.run()
    assert len(log.read_text().splitlines()) == 1  # unset: nothing more is written


# ===== imports: a new database said, bad files named =====

LEADS_CSV = "lead_id,created_at,channel\nL1,2026-01-01,search\n"


def test_a_first_import_says_it_created_the_database_and_a_failed_one_leaves_none(tmp_path):
    good = tmp_path / "leads.csv"
    good.write_text(LEADS_CSV)
    path = tmp_path / "new.duckdb"
    done = run_cli("import", "--db", path, "--table", "leads", good)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"created new database {path}"
    again = run_cli("import", "--db", path, "--table", "leads", good)
    assert "created new database" not in again.stdout  # only the first time
    # a mistyped --db whose import fails leaves no file behind
    bad = tmp_path / "bad.csv"
    bad.write_text("lead_id,created_at,channel\nL1,not a date,search\n")
    typo = tmp_path / "tpyo.duckdb"
    failed = run_cli("import", "--db", typo, "--table", "leads", bad)
    assert failed.returncode != 0 and "created_at" in failed.stderr
    assert not typo.exists() and not (tmp_path / "tpyo.duckdb.wal").exists()


def test_a_line_longer_than_the_reader_takes_is_named_with_its_line_and_the_fix(
    tmp_path, monkeypatch
):
    path = tmp_path / "huge.csv"
    path.write_text(
        "lead_id,created_at,channel,Note\n"
        "L1,2026-01-01,search,short\n"
        "L2,2026-01-02,search,also short\n"
        "L3,2026-01-03,search," + "x" * 3_100_000 + "\n"
    )
    db_path = tmp_path / "f.duckdb"
    done = run_cli("import", "--db", db_path, "--table", "leads", path)
    assert_one_line_failure(
        done,
        f"{path}: line 4 is 3.1 MB long, more than the 2 MB a line may be (a huge cell?): "
        "shorten it, or set FUNNELCAST_CSV_MAX_LINE_MB=5 and import again",
    )
    assert len(done.stderr) < 400  # not the cell itself
    assert not db_path.exists()
    monkeypatch.setenv("FUNNELCAST_CSV_MAX_LINE_MB", "5")
    assert run_cli("import", "--db", db_path, "--table", "leads", path).returncode == 0
    con = db.connect(db_path, read_only=True)
    try:
        length = con.execute(
            "select length(text_value) from lead_attributes where lead_id = 'L3'"
        ).fetchall()
    finally:
        con.close()
    assert length == [(3_100_000,)]


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "a PNG image"),
        (b"PK\x03\x04" + bytes(200), "a zip archive (or an Excel/Office file)"),
        (b"SQLite format 3\x00" + bytes(200), "a SQLite file"),
        (bytes(range(1, 32)) * 100, "a binary file"),
    ],
    ids=["png", "zip", "sqlite", "binary"],
)
def test_a_file_that_is_no_text_is_named_for_what_it_is(tmp_path, content, kind):
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    done = run_cli("import", "--db", tmp_path / "f.duckdb", "--table", "leads", path)
    assert_one_line_failure(done, f"{path}: not a text file: it looks like {kind}")
    assert "sniff" not in done.stderr


def test_utf16_and_latin1_csv_files_are_still_text(tmp_path):
    for encoding, name in (("utf-16", "u16.csv"), ("latin-1", "l1.csv")):
        path = tmp_path / name
        path.write_bytes(("lead_id,created_at,channel\nL1,2026-01-01,Café\n").encode(encoding))
        done = run_cli("import", "--db", tmp_path / f"{name}.duckdb", "--table", "leads", path)
        assert done.returncode == 0, done.stderr


# ===== the kinds of bad input the suite covers, counted =====

# kind of bad input -> the test that feeds it and checks the outcome (module::test). The
# README's reliability section states how many there are.
BAD_INPUTS = {
    "SQL injection in sidebar choices": "test_hostile::test_sidebar_choices_the_data_does_not_offer_fall_back_to_the_defaults",
    "SQL injection in a draft name": "test_hostile::test_a_hostile_draft_name_is_saved_as_plain_text_and_nothing_else_changes",
    "a hostile lead id to explain": "test_hostile::test_a_hostile_lead_id_to_explain_gets_a_message",
    "a hostile definition file": "test_hostile::test_a_hostile_definition_toml_is_stored_verbatim",
    "SQL in CLI filters": "test_hostile::test_cli_filters_with_sql_in_them_select_nothing_and_change_nothing",
    "hostile file names, headers, cells, mapping fields": "test_hostile::test_hostile_file_name_headers_cells_and_mapping_fields_load_as_plain_text",
    "a hostile date format": "test_hostile::test_a_hostile_date_format_is_a_format_that_matches_nothing",
    "a mapping name escaping its folder": "test_hostile::test_a_saved_mapping_stays_in_the_mappings_folder",
    "formula cells in downloads": "test_hardening::test_risky_cells_are_quoted_also_after_leading_whitespace",
    "hostile channel names in the HTML review": "test_hostile::test_the_review_escapes_hostile_channel_names",
    "oversized uploads": "test_hostile::test_uploads_are_bounded_by_the_server_and_the_page",
    "a SQLite, Parquet, zip, CSV or empty file as the database": "test_hardening::test_each_kind_of_file_is_named_and_the_file_is_left_as_it_was",
    "extension loading from a foreign file": "test_hardening::test_every_connection_refuses_to_fetch_or_load_extensions",
    "a database of schema.sql alone": "test_hardening::test_a_database_made_from_schema_sql_alone_is_completed_not_refused",
    "a missing database file": "test_faults::test_missing_file_cli",
    "a read-only database file": "test_faults::test_read_only_file_cli_reads_it_and_refuses_to_write_it_plainly",
    "a database locked by another process": "test_faults::test_locked_file_cli_says_it_is_in_use",
    "a damaged database file": "test_faults::test_damaged_file_cli_says_it_cannot_be_read",
    "a full disk while loading": "test_faults::test_disk_full_while_loading_writes_nothing_and_says_so",
    "an import killed before its commit": "test_import::test_killed_after_inserting_before_commit_leaves_the_database_as_it_was",
    "funnelcast import killed (kill -9) mid-load": "test_import::test_cli_killed_mid_load_leaves_the_database_as_it_was",
    "a mistyped --db for import": "test_hardening::test_a_first_import_says_it_created_the_database_and_a_failed_one_leaves_none",
    "a 10 MB cell": "test_hardening::test_a_line_longer_than_the_reader_takes_is_named_with_its_line_and_the_fix",
    "binary garbage as a CSV": "test_hardening::test_a_file_that_is_no_text_is_named_for_what_it_is",
    "an empty file, a header without rows": "test_import::test_empty_file",
    "dates and numbers that do not parse": "test_import::test_unparseable_dates_and_numbers_name_row_and_column",
    "duplicate keys in a file": "test_import::test_duplicate_keys",
    "events of unknown leads": "test_import::test_events_and_stage_changes_of_unknown_leads",
    "negative amounts": "test_import::test_negative_amounts",
    "unknown stage names": "test_import::test_unknown_stage_names_from_the_file_and_from_set",
    "dates in the future or implausibly old": "test_import::test_dates_in_the_future_or_implausibly_old",
    "identical events in one file": "test_import::test_identical_events_match_one_to_one_on_every_path",
    "unknown file types": "test_import::test_unknown_file_types_are_refused",
    "custom attribute names that collide or run long": "test_import_attributes::test_bad_names_and_options_are_refused_and_nothing_is_written",
    "hostile custom attribute names and values": "test_import_attributes::test_hostile_column_names_are_kept_exactly_and_run_nothing",
    "bad fit rules (field, operator, value, bounds)": "test_rules::test_bad_rules_are_refused_in_one_line_and_nothing_is_saved",
    "bad rules in a definition file, with file and line": "test_rules::test_bad_rules_in_a_file_are_refused_with_the_file_and_line",
    "a reader that goes away (broken pipe)": "test_hardening::test_a_reader_that_goes_away_gets_no_traceback",
}


def test_each_kind_of_bad_input_has_its_test_and_the_readme_counts_them():
    import ast

    tests = Path(__file__).resolve().parent
    missing = []
    for where in BAD_INPUTS.values():
        module, name = where.split("::")
        tree = ast.parse((tests / f"{module}.py").read_text(encoding="utf-8"))
        if name not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
            missing.append(where)
    assert missing == []
    readme = (tests.parent / "README.md").read_text(encoding="utf-8")
    assert f"{len(BAD_INPUTS)} kinds of bad input" in readme
