"""Faults an operator meets: the database file missing, read-only, locked by another process's
writer, or corrupted; the disk filling up during an import; a new import while dashboards are
open. Each gives a one-line message saying what and where (CLI: exit status 2, dashboard: an
error, never a traceback) and loses nothing stored. The importer killed mid-load is pinned in
tests/test_import.py (test_killed_after_inserting_before_commit_leaves_the_database_as_it_was,
test_cli_killed_mid_load_leaves_the_database_as_it_was).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from streamlit.testing.v1 import AppTest

from funnelcast import importer
from funnelcast.data import db
from funnelcast.lab import page as tl
from funnelcast.ui import dashboard

ROOT = Path(__file__).resolve().parent.parent
DEMO_QUARTER_MQLS_KEY = "mqls"


def cli(*args: object, preexec=None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run `python -m funnelcast ARGS` in a subprocess; return what it did."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "funnelcast", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=preexec,
        timeout=300,
    )


def checksum(path: Path) -> str:
    """Return the content checksum of a database file."""
    con = db.connect(path, read_only=True)
    try:
        return importer.content_checksum(con.cursor())
    finally:
        con.close()


def one_line_error(done: subprocess.CompletedProcess, *parts: str, status: int = 2) -> str:
    """Assert a CLI run failed with the status and one stderr line holding every part."""
    assert done.returncode == status, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("funnelcast: "), done.stderr
    for part in parts:
        assert part in done.stderr, done.stderr
    return done.stderr.strip()


def app_errors(at: AppTest) -> list[str]:
    """Return the error messages the app shows, asserting it shows no traceback."""
    assert not at.exception, [e.value for e in at.exception]
    return [e.value for e in at.error]


@pytest.fixture
def copy_db(demo_db: Path, tmp_path: Path) -> Path:
    """Return a copy of the demo database that a test may damage or write to."""
    path = tmp_path / "funnel.duckdb"
    shutil.copy(demo_db, path)
    return path


@pytest.fixture
def leads_csv(tmp_path: Path) -> Path:
    """Return a CSV of two new leads."""
    path = tmp_path / "new_leads.csv"
    path.write_text("lead_id,created_at,channel\nN1,2026-09-01,search\nN2,2026-09-02,social\n")
    return path


# ===== the file is missing =====


def test_missing_file_cli(tmp_path):
    missing = tmp_path / "nowhere.duckdb"
    one_line_error(
        cli("metrics", "--db", missing),
        f"database {missing} does not exist",
        f"funnelcast demo --db {missing}",
    )
    assert not missing.exists()


def test_missing_file_dashboard_builds_the_demo_and_says_so(monkeypatch, tmp_path):
    missing = tmp_path / "new" / "funnel.duckdb"
    monkeypatch.setattr(dashboard.ensure_database, "__defaults__", (400, 7))
    monkeypatch.setattr(dashboard, "DEMO_LEADS", 400)
    monkeypatch.setenv("FUNNELCAST_DB", str(missing))
    at = AppTest.from_file(str(APP), default_timeout=180).run()

    assert app_errors(at) == []
    assert any(f"No database was found at `{missing}`" in i.value for i in at.info)
    con = db.connect(missing, read_only=True)
    try:
        assert con.execute("select count(*) from leads").fetchall() == [(400,)]
    finally:
        con.close()


def test_missing_file_where_none_can_be_made_dashboard_says_why(monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    missing = blocker / "funnel.duckdb"
    monkeypatch.setenv("FUNNELCAST_DB", str(missing))
    at = AppTest.from_file(str(APP), default_timeout=60).run()

    errors = app_errors(at)
    assert len(errors) == 1 and errors[0].startswith(
        f"No database at {missing}, and building the demo one failed:"
    )
    assert blocker.read_text() == "not a folder"


# ===== the file is read-only (permissions) =====

# Root writes through file permissions: run the command without that power.
AS_USER = (
    (
        "setpriv",
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
    )
    if os.geteuid() == 0
    else ()
)


@pytest.fixture
def read_only_db(copy_db: Path) -> Path:
    """Return a copy of the demo database whose file permissions forbid writing."""
    copy_db.chmod(0o444)
    yield copy_db
    copy_db.chmod(0o644)


def test_read_only_file_cli_reads_it_and_refuses_to_write_it_plainly(read_only_db, leads_csv):
    before = checksum(read_only_db)
    metrics = cli("metrics", "--db", read_only_db, "--format", "json", prefix=AS_USER)
    assert metrics.returncode == 0, metrics.stderr
    assert json.loads(metrics.stdout)["leads"] == 6000

    done = cli("import", "--db", read_only_db, "--table", "leads", leads_csv, prefix=AS_USER)
    one_line_error(done, f"database {read_only_db} is read-only", "no permission to write the file")
    assert checksum(read_only_db) == before


LAB_SAVE_DRIVER = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, "tests")
    from apptest_support import NavigationOnly, APP
    from streamlit.testing.v1 import app_test, AppTest
    app_test.PagesManager = NavigationOnly
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at = at.switch_page("pages/threshold_lab.py").run()
    at.slider(key="lab_threshold").set_value(70.0).run()
    at.button(key="lab_save").click().run()
    mqls = [m.value for m in at.metric if m.label == "MQLs"]
    print(json.dumps({"exceptions": [e.value for e in at.exception],
                      "errors": [e.value for e in at.error], "mqls": mqls}))
""")


def test_read_only_file_dashboard_reads_it_and_says_why_a_save_fails(read_only_db):
    assert tl.THRESHOLD_KEY == "lab_threshold"
    before = checksum(read_only_db)
    done = subprocess.run(
        [*AS_USER, sys.executable, "-c", LAB_SAVE_DRIVER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FUNNELCAST_DB": str(read_only_db)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])

    assert shown["exceptions"] == []
    assert shown["mqls"] and shown["mqls"][0] != "0"  # the page still works after the refusal
    assert any(
        e.startswith(f"Not saved: database {read_only_db} is read-only") for e in shown["errors"]
    ), shown["errors"]
    assert checksum(read_only_db) == before


# ===== another process writes to it =====


@pytest.fixture
def writer(copy_db: Path):
    """Hold the database open for writing in another process until the test ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], config={'autoinstall_known_extensions': False, 'autoload_known_extensions': False}); "
            "print('open', flush=True); sys.stdin.read()",
            str(copy_db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "open"
    yield holder
    if holder.poll() is None:
        holder.communicate("")


IN_USE = "is in use by another process (close the dashboard or the other command"


def test_locked_file_cli_says_it_is_in_use(copy_db, writer, leads_csv):
    one_line_error(cli("metrics", "--db", copy_db), f"database {copy_db} {IN_USE}")
    one_line_error(
        cli("import", "--db", copy_db, "--table", "leads", leads_csv),
        f"database {copy_db} {IN_USE}",
    )
    writer.communicate("")
    assert json.loads(cli("metrics", "--db", copy_db, "--format", "json").stdout)["leads"] == 6000


def test_locked_file_dashboard_says_so_then_recovers_when_it_is_free(monkeypatch, copy_db, writer):
    monkeypatch.setenv("FUNNELCAST_DB", str(copy_db))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    errors = app_errors(at)
    assert errors == [
        f"Cannot use the database: database {copy_db} {IN_USE}, or open it read-only)"
    ]

    writer.communicate("")  # the other program closes the file
    at.run()
    assert app_errors(at) == []
    assert any(m.label == "MQLs in 2026Q3" for m in at.metric)


# ===== the file is damaged =====


def garbage(path: Path) -> None:
    """Overwrite a file with random bytes of the same size."""
    path.write_bytes(os.urandom(path.stat().st_size))


def truncated(path: Path) -> None:
    """Cut a file to half its size (a copy interrupted half way)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scribbled(path: Path) -> None:
    """Overwrite 64 KiB in the middle of every 256 KiB block after the header."""
    data = bytearray(path.read_bytes())
    for start in range(3 * 4096 + 100_000, len(data), 262_144):
        data[start : start + 65_536] = os.urandom(min(65_536, len(data) - start))
    path.write_bytes(bytes(data))


DAMAGES = {"garbage": garbage, "truncated": truncated, "scribbled": scribbled}


# What each damage is told as: not a DuckDB file at all (it does not open), or one that opens and
# fails when a damaged block is read.
SAID = {
    "garbage": (2, "is a binary file of another kind", "not a DuckDB database"),
    "truncated": (1, "Could not read enough bytes", "the file is damaged; restore it from a copy"),
    "scribbled": (2, "is damaged (Corrupt database file", "restore it from a copy"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_file_cli_says_it_cannot_be_read(copy_db, damage):
    DAMAGES[damage](copy_db)
    size = copy_db.stat().st_size
    status, *parts = SAID[damage]
    done = cli("metrics", "--db", copy_db, "--format", "json")
    one_line_error(done, str(copy_db), *parts, status=status)
    assert copy_db.stat().st_size == size  # nothing tried to "repair" it


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_file_dashboard_says_it_cannot_be_read(monkeypatch, copy_db, damage):
    DAMAGES[damage](copy_db)
    monkeypatch.setenv("FUNNELCAST_DB", str(copy_db))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    errors = app_errors(at)
    assert len(errors) == 1 and str(copy_db) in errors[0], errors
    said = "not a DuckDB database" if damage == "garbage" else "restore it from a copy"
    assert said in errors[0], errors


# ===== the disk fills up during an import =====


def full_disk(room: int):
    """Return a pre-exec function letting a process write files up to room bytes only."""

    def limit() -> None:
        # The kernel refuses writes past this size (EFBIG), as a full disk refuses (ENOSPC).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))

    return limit


def count_events(path: Path) -> int:
    """Return the events stored in a database file."""
    con = db.connect(path, read_only=True)
    try:
        return con.execute("select count(*) from events").fetchall()[0][0]
    finally:
        con.close()


@pytest.fixture
def many_events(tmp_path: Path) -> Path:
    """Return a CSV of 300,000 events of the demo's first 1,000 leads (about 13 MB)."""
    events = tmp_path / "events.csv"
    con = db.open_duckdb()
    con.execute(
        "copy (select 'L' || lpad(((i % 1000) + 1)::varchar, 7, '0') as lead_id, "
        "timestamp '2026-01-06' + to_seconds(i) as occurred_at, 'email_open' as event_type, "
        "'top' as content_stage from range(300000) t(i)) to '" + str(events) + "' (header)"
    )
    con.close()
    return events


def test_disk_full_while_loading_writes_nothing_and_says_so(copy_db, many_events):
    before, stored = checksum(copy_db), count_events(copy_db)
    # No room for the new rows' blocks: the load fails before its commit.
    done = cli(
        "import", "--db", copy_db, "--table", "events", many_events, preexec=full_disk(2**20)
    )
    one_line_error(done, f"{many_events}: import failed, nothing was written", "File too large")
    assert checksum(copy_db) == before
    # With room again, the same import goes through whole.
    again = cli("import", "--db", copy_db, "--table", "events", many_events)
    assert again.returncode == 0, again.stderr
    assert count_events(copy_db) == stored + 300_000


def test_disk_full_after_the_commit_keeps_the_import_and_says_so(copy_db, many_events):
    stored = count_events(copy_db)
    # Room for the rows and the commit (the WAL, a file of its own), not for the checkpoint that
    # folds them into the file: it grows the file by three 256 KiB blocks (measured on the demo
    # built block by block; 1 MiB of room was enough for it), so allow one block only.
    done = cli(
        "import",
        "--db",
        copy_db,
        "--table",
        "events",
        many_events,
        preexec=full_disk(copy_db.stat().st_size + 2**18),
    )
    one_line_error(
        done,
        f"{many_events}: the import is committed (300,000 new, 0 updated rows)",
        f"but {copy_db} could not be rewritten",
        "File too large",
        "completed the next time the database is opened with room on the disk",
    )
    assert count_events(copy_db) == stored + 300_000  # opened with room: all there
    again = cli("import", "--db", copy_db, "--table", "events", many_events)
    assert again.returncode == 0, again.stderr
    assert count_events(copy_db) == stored + 300_000  # and importing it again adds nothing


# ===== a new import while dashboards are open =====


def leads_shown(at: AppTest) -> str:
    """Return the row count of leads the sidebar shows."""
    text = next(c.value for c in at.sidebar.caption if "leads:" in c.value)
    return text.split("leads: ")[1].split(" rows")[0]


def import_as_the_data_page_does(database: str, file: str) -> None:
    """An app script importing a file through dashboard.write (run by AppTest.from_function)."""
    from pathlib import Path

    import streamlit as st

    from funnelcast import importer
    from funnelcast.ui import dashboard

    result = dashboard.write(
        Path(database), lambda cur: importer.import_file(cur, Path(file), importer.Mapping("leads"))
    )
    st.success(f"inserted {result.inserted}")


def test_a_new_import_while_dashboards_are_open(monkeypatch, copy_db, leads_csv):
    monkeypatch.setenv("FUNNELCAST_DB", str(copy_db))
    viewers = [AppTest.from_file(str(APP), default_timeout=120).run() for _ in range(2)]
    viewers[1] = viewers[1].switch_page("pages/funnel.py").run()
    assert [leads_shown(at) for at in viewers] == ["6,000", "6,000"]

    # The command line cannot write while a dashboard holds the file, and says so.
    one_line_error(
        cli("import", "--db", copy_db, "--table", "leads", leads_csv),
        f"database {copy_db} {IN_USE}",
    )
    # A third session imports, as the Data page does (through dashboard.write).
    importer_session = AppTest.from_function(
        import_as_the_data_page_does, args=(str(copy_db), str(leads_csv)), default_timeout=60
    ).run()
    assert not importer_session.exception
    assert [s.value for s in importer_session.success] == ["inserted 2"]

    for at in viewers:  # a refresh: each keeps working and shows the new data
        at.run()
        assert app_errors(at) == []
        assert leads_shown(at) == "6,002"
    assert any(m.label == "MQLs in 2026Q3" for m in viewers[0].metric)
