"""funnelcast import: exports in every shape load right; every bad input is refused with a message
naming file, row and column, and leaves the database exactly as it was (content checksum); loads
are idempotent and all or nothing, even when the process is killed mid-load; the Olist files
load into the figures docs/importing.md gives; the Data page's logic and rendering.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import fixtures as fx
import polars as pl
import pytest
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from funnelcast import cli, importer
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.importer import sql as importer_sql
from funnelcast.importer import write as importer_write
from funnelcast.ui import data_page

REPO = Path(__file__).resolve().parent.parent
OLIST = REPO.parent / "shared" / "data" / "olist"
NOW = dt.datetime(2026, 11, 24, 12, 0)

# Three leads with a little history each: enough content for a checksum to notice any change.
JOURNEYS = [
    fx.Journey(
        "L1",
        "2026-01-05",
        "search",
        events=[("email_open", "2026-01-06")],
        stages=[("mql", "2026-01-10")],
        attributes={"company": "Acme"},
    ),
    fx.Journey(
        "L2",
        "2026-02-01",
        "social",
        stages=[("mql", "2026-02-03"), ("customer", "2026-03-01", 5000)],
    ),
    fx.Journey("L3", "2026-03-01", "email"),
]


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """A closed database file holding JOURNEYS and one spend row."""
    path = tmp_path / "funnel.duckdb"
    con = fx.new_database(path)
    fx.add_journeys(con, JOURNEYS)
    fx.add_spend(con, [fx.Spend("2026-01-01", "search", 1200.0)])
    con.execute("checkpoint")
    con.close()
    return path


def checksum(path: Path) -> str:
    """Return the content checksum of a database file."""
    con = db.connect(path, read_only=True)
    try:
        return importer.content_checksum(con.cursor())
    finally:
        con.close()


def csv(
    tmp_path: Path,
    text: str,
    name: str = "export.csv",
    *,
    encoding: str = "utf-8",
    newline: str = "\n",
    bom: bool = False,
) -> Path:
    """Write a CSV file from dedented text, with the encoding, line ending and BOM asked for."""
    body = textwrap.dedent(text).lstrip("\n").replace("\n", newline).encode(encoding)
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)
    return path


def load(
    path: Path, file: Path, table: str, *, dry_run: bool = False, **mapping
) -> importer.ImportResult:
    """Import a file into the database file with a mapping built from keyword arguments."""
    con = db.connect(path)
    try:
        return importer.import_file(
            con.cursor(), file, importer.Mapping(table, **mapping), dry_run=dry_run, now=NOW
        )
    finally:
        con.close()


def rows(path: Path, sql: str) -> list[tuple]:
    """Return the rows of a query on a database file."""
    con = db.connect(path, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def refused(
    path: Path, file: Path, table: str, *expected: str, **mapping
) -> importer.ImportProblems:
    """Assert an import is refused with messages containing `expected`, and nothing changed."""
    before = checksum(path)
    with pytest.raises(db.FunnelcastError) as caught:
        load(path, file, table, **mapping)
    message = str(caught.value)
    for text in expected:
        assert text in message, f"{text!r} not in:\n{message}"
    assert message.startswith(str(file)), message
    assert checksum(path) == before
    return caught.value


def test_checksum_sees_any_change(db_file):
    before = checksum(db_file)
    con = db.connect(db_file)
    con.execute("update leads set channel = 'display' where lead_id = 'L3'")
    con.close()
    assert checksum(db_file) != before


# =====================================================================================
# bad input: a message with file, row and column; the database unchanged
# =====================================================================================


def test_empty_file(db_file, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused(db_file, empty, "leads", "the file is empty")


def test_header_without_rows(db_file, tmp_path):
    file = csv(tmp_path, "lead_id,created_at,channel\n")
    refused(db_file, file, "leads", "header but no data rows")


def test_missing_required_column(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,channel
        L9,search
    """,
    )
    refused(
        db_file,
        file,
        "leads",
        "required field created_at",
        "--map COLUMN=created_at",
        "'lead_id', 'channel'",
    )


def test_mapping_names_a_column_the_file_lacks_or_a_field_the_table_lacks(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        id,created,channel
        L9,2026-01-01,search
    """,
    )
    problem = refused(
        db_file,
        file,
        "leads",
        "--map origin=lead_id: the file has no column 'origin'",
        "--map created=colour: leads has no field 'colour'",
        columns={"origin": "lead_id", "created": "colour"},
    )
    assert problem.total == 4  # and so lead_id and created_at are missing


def test_unparseable_dates_and_numbers_name_row_and_column(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead,stage,when,value
        L1,customer,2026-04-01,100
        L2,customer,yesterday,200
        L3,customer,2026-04-03,12 apples
    """,
    )
    refused(
        db_file,
        file,
        "stage_changes",
        "row 3, column 'when' (changed_at): 'yesterday' is not a date",
        "row 4, column 'value' (amount): '12 apples' is not a number",
        columns={"lead": "lead_id", "when": "changed_at", "value": "amount"},
    )


def test_duplicate_keys(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
        L8,2026-01-02,search
        L7,2026-01-03,social
    """,
    )
    refused(db_file, file, "leads", "rows 2, 4: duplicate key (lead_id L7)")


def test_events_and_stage_changes_of_unknown_leads(db_file, tmp_path):
    events = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-07,email_click
        ghost,2026-01-08,email_click
    """,
        "events.csv",
    )
    refused(
        db_file,
        events,
        "events",
        "row 3, column 'lead_id': no lead 'ghost' in the database (import the leads first)",
    )
    stages = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        phantom,mql,2026-01-08
    """,
        "stages.csv",
    )
    refused(db_file, stages, "stage_changes", "row 2, column 'lead_id': no lead 'phantom'")


def test_negative_amounts(db_file, tmp_path):
    spend = csv(
        tmp_path,
        """
        date,channel,cost
        2026-02-01,search,-50
    """,
        "spend.csv",
    )
    refused(
        db_file,
        spend,
        "spend",
        "row 2, column 'cost' (amount): '-50' is negative",
        columns={"date": "period_start", "cost": "amount"},
    )
    deals = csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        L2,customer,2026-03-05,-1
    """,
        "deals.csv",
    )
    refused(db_file, deals, "stage_changes", "row 2, column 'amount': '-1' is negative")


def test_unknown_stage_names_from_the_file_and_from_set(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        L3,Closed Won,2026-03-05
        L3,custmer,2026-03-06
    """,
    )
    refused(
        db_file,
        file,
        "stage_changes",
        "row 3, column 'stage': 'custmer' is not a stage",
        "stages: mql, sal, sql, customer",
    )
    no_stage = csv(
        tmp_path,
        """
        lead_id,changed_at
        L3,2026-03-05
    """,
        "no_stage.csv",
    )
    refused(
        db_file,
        no_stage,
        "stage_changes",
        "row 2, --set stage: 'won_deal' is not a stage",
        constants={"stage": "won_deal"},
    )


def test_dates_in_the_future_or_implausibly_old(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2027-01-01,search
        L8,1899-12-30,search
        L9,2026-11-24 23:00,search
    """,
    )
    # NOW is 2026-11-24 12:00: a day of slack for time zones, then the future
    refused(
        db_file,
        file,
        "leads",
        "row 2, column 'created_at': '2027-01-01' is in the future",
        "row 3, column 'created_at': '1899-12-30' is implausibly old (before 1990-01-01)",
    )


def test_placeholders_are_missing_values_and_the_list_can_change(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel,industry
        L7,2026-01-01, N/A ,Select
        L8,2026-01-02,unknown,-
    """,
    )
    refused(
        db_file,
        file,
        "leads",
        "row 2, column 'channel': is empty (a value is required)",
        "row 3, column 'channel': is empty",
    )
    load(db_file, file, "leads", placeholders=("", "-", "Select"))
    assert rows(
        db_file,
        "select lead_id, channel, industry from leads where lead_id in ('L7', 'L8') order by 1",
    ) == [("L7", "N/A", None), ("L8", "unknown", None)]


def test_defaults_fill_missing_values(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,
        L8,2026-01-02,Unknown
        L9,2026-01-03,social
    """,
    )
    load(db_file, file, "leads", defaults={"channel": "unattributed"})
    assert rows(db_file, "select lead_id, channel from leads where lead_id >= 'L7' order by 1") == [
        ("L7", "unattributed"),
        ("L8", "unattributed"),
        ("L9", "social"),
    ]


def test_every_problem_is_reported_together_up_to_the_limit(db_file, tmp_path):
    lines = ["lead_id,created_at,channel"] + [f"X{i},not a date,search" for i in range(60)]
    # 60 bad dates, an empty channel, and X0 twice (both rows count): 63
    lines += ["L1,2026-01-01,", "X0,2026-01-01,search"]
    file = csv(tmp_path, "\n".join(lines) + "\n")
    problem = refused(db_file, file, "leads", "63 problems; nothing was imported", "… and 13 more")
    assert len(problem.problems) == importer.MAX_PROBLEMS
    assert (
        problem.problems[0] == "row 2, column 'created_at': 'not a date' is not a date "
        "(write it as 2024-01-31 or 2024-01-31 14:05:00, or give its format: "
        "--date-format created_at=%d/%m/%Y)"
    )
    # rows come in file order, whatever check found them
    numbers = [int(p.split(",")[0].split()[-1]) for p in problem.problems]
    assert numbers == sorted(numbers)


def test_one_bad_row_keeps_the_good_ones_out_too(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
        L8,2026-01-02,search
        L9,2026-13-45,search
    """,
    )
    refused(db_file, file, "leads", "row 4")
    assert rows(db_file, "select count(*) from leads") == [(3,)]


def test_a_failure_while_writing_rolls_everything_back(db_file, tmp_path, monkeypatch):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
    """,
    )
    real_write = importer_write._write_keyed

    def write_then_fail(cur, *args, **kwargs):
        real_write(cur, *args, **kwargs)
        assert cur.execute("select count(*) from leads").fetchall() == [(4,)]  # inside the txn
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(importer_write, "_write_keyed", write_then_fail)
    refused(db_file, file, "leads", "import failed, nothing was written: disk full")


IMPORTER = REPO / "funnelcast" / "importer"
SQL_WORDS = re.compile(  # "Select" alone is HubSpot's placeholder, not SQL
    r"\b(select\s|(insert\s+into|update\s+\S+\s+set|delete\s+from|"
    r"create\s+(or\s+replace\s+)?(temp\s+)?table|drop\s+table|begin\s+transaction|commit|"
    r"rollback|current_setting|try_cast|try_strptime|coalesce|is\s+(not\s+)?null|count\(\*\))"
    r"(?!\w))",
    re.IGNORECASE,
)


def sql_in_strings(path: Path) -> list[str]:
    """Return the string literals of a module (docstrings aside) that hold SQL words."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string as a whole, its values as {}
            parts = node.values
            texts.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in parts))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                texts.append(node.value)
    return [text for text in texts if SQL_WORDS.search(text)]


def test_the_importer_writes_sql_only_in_its_sql_module():
    assert len(sql_in_strings(IMPORTER / "sql.py")) > 40  # the scan sees SQL where it is
    outside = {
        module.name: found
        for module in sorted(IMPORTER.glob("*.py"))
        if module.name not in ("sql.py", "attribute_sql.py") and (found := sql_in_strings(module))
    }
    assert outside == {}


def test_the_importer_quotes_only_names_of_its_fixed_list():
    assert importer_sql.ident("lead_id") == '"lead_id"'
    assert importer_sql.ident("c12") == '"c12"'
    assert importer_sql.ident("v_occurred_at") == '"v_occurred_at"'
    for name in ('lead_id"; drop table leads; --', "Lead ID", "information_schema", "c1 c2"):
        with pytest.raises(ValueError, match="not a name"):
            importer_sql.ident(name)


KILL_DRIVER = """
import os, signal, sys
from funnelcast.data import db
from funnelcast import importer

def kill_before_commit(stage, fraction):
    if stage == "committing":  # every row is inserted, the transaction not yet committed
        os.kill(os.getpid(), signal.SIGKILL)

con = db.connect(sys.argv[1])
importer.import_file(con.cursor(), sys.argv[2], importer.Mapping("events"),
                     progress=importer.Progress(kill_before_commit))
"""


def events_file(tmp_path: Path, count: int, leads: list[str]) -> Path:
    """Write a CSV of `count` events for the given leads, in time order."""
    con = db.open_duckdb()
    path = tmp_path / "events.csv"
    con.execute(
        "copy (select $leads[1 + (i % len($leads))::int] as lead_id, "
        "timestamp '2026-01-06' + to_seconds(i) as occurred_at, 'email_open' as event_type, "
        "'top' as content_stage from range($n) t(i)) to '" + str(path) + "' (header)",
        {"leads": leads, "n": count},
    )
    con.close()
    return path


def test_killed_after_inserting_before_commit_leaves_the_database_as_it_was(db_file, tmp_path):
    file = events_file(tmp_path, 200_000, ["L1", "L2", "L3"])
    before = checksum(db_file)
    done = subprocess.run(
        [sys.executable, "-c", KILL_DRIVER, str(db_file), str(file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert checksum(db_file) == before
    assert rows(db_file, "select count(*) from events") == [(1,)]


def test_cli_killed_mid_load_leaves_the_database_as_it_was(db_file, tmp_path):
    # large enough for the progress lines (which say when writing starts) and an insert that
    # lasts well past the kill (were the kill late, the exit status below would say so)
    file = events_file(tmp_path, 2_000_000, ["L1", "L2", "L3"])
    assert file.stat().st_size >= 20 * 2**20
    before = checksum(db_file)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funnelcast",
            "import",
            "--db",
            str(db_file),
            "--table",
            "events",
            str(file),
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "writing" in line:
            time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, seen
    assert checksum(db_file) == before


# =====================================================================================
# the fast path: a file is read once, typed, and checked in one pass; common forms (ISO
# dates, canonical stage names) skip trimming and the placeholder test. Whatever it skips must
# come out exactly as the full path (trim, placeholders, offset-aware parsing) has it, and a
# file with any problem is read again in order to name every row.
# =====================================================================================


def test_a_placeholder_in_a_date_column_is_a_missing_date(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-06 10:00:00,email_open
        L2,N/A,email_open
        L3, unknown ,email_open
        L1,Select,email_open
    """,
    )
    refused(
        db_file,
        file,
        "events",
        "3 problems",
        "row 3, column 'occurred_at': is empty (a value is required)",
        "row 4, column 'occurred_at': is empty (a value is required)",
        "row 5, column 'occurred_at': is empty (a value is required)",
    )


def test_a_placeholder_that_looks_like_a_date_is_still_a_placeholder(db_file, tmp_path):
    # a placeholder with a digit in it may parse as a date: the field then takes the full
    # path, where the placeholder test comes before parsing
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
        L8,2001-01-01,search
    """,
    )
    refused(
        db_file,
        file,
        "leads",
        "1 problem;",
        "row 3, column 'created_at': is empty (a value is required)",
        placeholders=("", "2001-01-01"),
    )
    # with the default list it is a date
    assert load(db_file, file, "leads").inserted == 2
    assert rows(db_file, "select created_at from leads where lead_id = 'L8'") == [
        (dt.datetime(2001, 1, 1),)
    ]


def test_misparsed_dates_are_reported_with_row_and_column(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-06 10:00:00,email_open
        L1,2026-13-45,email_open
        L2,2026-02-30 10:00:00,email_open
        L2,06/01/2026,email_open
        L3,2026-01-06 10:00:61,email_open
        L3,20260106,email_open
    """,
    )
    problem = refused(db_file, file, "events", "5 problems")
    assert [p.split(" is not a date")[0] for p in problem.problems] == [
        "row 3, column 'occurred_at': '2026-13-45'",
        "row 4, column 'occurred_at': '2026-02-30 10:00:00'",
        "row 5, column 'occurred_at': '06/01/2026'",
        "row 6, column 'occurred_at': '2026-01-06 10:00:61'",
        "row 7, column 'occurred_at': '20260106'",
    ]


def test_padded_values_and_stage_names_are_trimmed(db_file, tmp_path):
    events = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type,content_stage,channel
        " L2 ", 2026-02-02 08:00:00 ,webinar_signup, top ,search
        L3,2026-02-03T09:30:00, pricing_page_view ,Bottom, Select
        L3,2026-02-04,demo_request,  MOFU,email
    """,
    )
    assert load(db_file, events, "events").inserted == 3
    assert rows(
        db_file,
        "select lead_id, occurred_at, event_type, content_stage, channel from events "
        "where lead_id > 'L1' order by occurred_at",
    ) == [
        ("L2", dt.datetime(2026, 2, 2, 8), "webinar_signup", "top", "search"),
        ("L3", dt.datetime(2026, 2, 3, 9, 30), "pricing_page_view", "bottom", None),
        ("L3", dt.datetime(2026, 2, 4), "demo_request", "middle", "email"),
    ]
    stages = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        L3, MQL ,2026-03-05 10:00:00
        L3,  sales qualified lead,2026-03-06
    """,
        "stages.csv",
    )
    assert load(db_file, stages, "stage_changes").inserted == 2
    assert rows(
        db_file, "select stage, changed_at from stage_changes where lead_id = 'L3' order by 2"
    ) == [("mql", dt.datetime(2026, 3, 5, 10)), ("sql", dt.datetime(2026, 3, 6))]
    padded = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        L3, custmer ,2026-03-07
    """,
        "padded.csv",
    )
    refused(db_file, padded, "stage_changes", "row 2, column 'stage': 'custmer' is not a stage")


def test_lead_ids_are_placeholders_before_they_are_leads(db_file, tmp_path):
    # the fast path takes a lead id as read when it is a stored, clean lead id; a lead stored
    # under an id that this import's list calls a placeholder does not make it one
    leads = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        unknown,2026-01-01,search
    """,
        "leads.csv",
    )
    load(db_file, leads, "leads", placeholders=("",))
    assert rows(db_file, "select count(*) from leads where lead_id = 'unknown'") == [(1,)]
    events = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-06 10:00:00,email_open
        unknown,2026-01-06 11:00:00,email_open
        N/A,2026-01-06 12:00:00,email_open
    """,
    )
    refused(
        db_file,
        events,
        "events",
        "2 problems",
        "row 3, column 'lead_id': is empty (a value is required)",
        "row 4, column 'lead_id': is empty (a value is required)",
    )
    # under a list without 'unknown' it is that lead's id (and N/A an unknown lead)
    refused(
        db_file,
        events,
        "events",
        "1 problem;",
        "row 4, column 'lead_id': no lead 'N/A' in the database",
        placeholders=("",),
    )
    known = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        unknown,2026-01-06 11:00:00,email_open
    """,
        "known.csv",
    )
    # alone (no other problem sends the file down the full path), it is still a placeholder
    refused(db_file, known, "events", "row 2, column 'lead_id': is empty (a value is required)")
    assert load(db_file, known, "events", placeholders=("",)).inserted == 1
    assert rows(db_file, "select lead_id from events where lead_id <> 'L1'") == [("unknown",)]


def test_a_problem_deep_in_a_large_file_is_named_by_its_row(db_file, tmp_path):
    # the fast pass stages rows in any order; the report reads the file again, in order
    file = events_file(tmp_path, 300_000, ["L1", "L2", "L3"])
    lines = file.read_text().splitlines()
    lines[250_001] = "L1,2026-01-09 10:00:00,email_open,toppish"  # file row 250,002
    lines[123_456] = "phantom,2026-01-08 10:00:00,email_open,top"  # file row 123,457
    file.write_text("\n".join(lines) + "\n")
    refused(
        db_file,
        file,
        "events",
        "2 problems",
        "row 123457, column 'lead_id': no lead 'phantom'",
        "row 250002, column 'content_stage': 'toppish' is not a content stage",
    )


CELLS = {
    "lead_id": ["L1", " L2", "L3 ", "L2"],
    "occurred_at": [
        "2026-01-06 10:00:00",
        " 2026-01-06 10:00:00 ",
        "2026-01-06",
        "2026-1-6 9:5:1",
        "2026-01-06T10:00:00",
        "2026-01-06T10:00:00Z",
        "2026-01-06 10:00:00+02:00",
        "2026-01-06 10:00:00-0300",
        "2026-01-06 10:00",
        "2026-01-06 10:00:00.25",
    ],
    "event_type": ["email_open", " email_click", "Demo Request ", "x" * 40],
    "content_stage": ["top", " middle", "BOFU", "tofu ", "Select", "", "N/A", "bottom"],
    "campaign": ["spring", " spring ", "unknown", "UNKNOWN", "-", "Ünknown", "a,b", ""],
}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_fast_path_stores_what_the_full_path_parses(db_file, tmp_path_factory, data):
    # preview() parses through the full path only (trim, placeholders, offset-aware casts):
    # what the import stores must be exactly that, row for row
    picks = data.draw(
        st.lists(
            st.fixed_dictionaries({k: st.sampled_from(v) for k, v in CELLS.items()}),
            min_size=1,
            max_size=12,
        )
    )
    folder = tmp_path_factory.mktemp("fast")
    lines = [",".join(CELLS)] + [
        ",".join('"' + row[k].replace('"', '""') + '"' for k in CELLS) for row in picks
    ]
    file = folder / "events.csv"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = db.connect(db_file)
    try:
        cur = con.cursor()
        cur.execute("delete from events")
        expected = importer.preview(cur, file, importer.Mapping("events"), rows=100)
        result = importer.import_file(cur, file, importer.Mapping("events"), now=NOW)
        stored = cur.sql(
            "select lead_id, occurred_at, event_type, content_stage, channel, campaign from events"
        ).pl()
    finally:
        con.close()
    assert result.inserted == len(picks)
    columns = ["lead_id", "occurred_at", "event_type", "content_stage", "channel", "campaign"]
    order = ["occurred_at", "lead_id", "event_type", "content_stage", "campaign"]
    assert stored.sort(order, nulls_last=True).rows() == (
        expected.select(columns).sort(order, nulls_last=True).rows()
    )


# =====================================================================================
# files in every shape
# =====================================================================================


def test_utf8_bom_crlf_semicolons_and_quoted_delimiters(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id;created_at;channel;company
        L7;2026-01-01 09:30:00;search;"Café; Ltd"
        L8;2026-01-02;social;"line one
        line two"
    """,
        bom=True,
        newline="\r\n",
    )
    result = load(db_file, file, "leads")
    assert (result.inserted, result.rows) == (2, 2)
    assert rows(
        db_file, "select lead_id, created_at, company from leads where lead_id >= 'L7' order by 1"
    ) == [
        ("L7", dt.datetime(2026, 1, 1, 9, 30), "Café; Ltd"),
        ("L8", dt.datetime(2026, 1, 2), "line one\r\nline two"),
    ]


@pytest.mark.parametrize("delimiter", ["\t", "|", ","])
def test_any_delimiter(db_file, tmp_path, delimiter):
    text = (
        delimiter.join(["lead_id", "created_at", "channel"])
        + "\n"
        + delimiter.join(["L7", "2026-01-01", "search"])
        + "\n"
    )
    load(db_file, csv(tmp_path, text, "leads.tsv"), "leads")
    assert rows(db_file, "select channel from leads where lead_id = 'L7'") == [("search",)]


def test_latin1_file(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel,company,country
        L7,2026-01-01,search,Société Générale,España
    """,
        encoding="latin-1",
    )
    load(db_file, file, "leads")
    assert rows(db_file, "select company, country from leads where lead_id = 'L7'") == [
        ("Société Générale", "España")
    ]


def test_times_with_offsets_are_stored_in_utc_and_formats_can_be_given(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        L3,mql,2026-03-05T10:00:00+02:00
        L3,sql,2026-03-06T10:00:00Z
        L3,customer,2026-03-07 10:00
    """,
    )
    load(db_file, file, "stage_changes")
    european = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,31/01/2026 14:05,search
    """,
        "eu.csv",
    )
    load(db_file, european, "leads", formats={"created_at": "%d/%m/%Y %H:%M"})
    assert rows(
        db_file, "select stage, changed_at from stage_changes where lead_id = 'L3' order by 2"
    ) == [
        ("mql", dt.datetime(2026, 3, 5, 8)),
        ("sql", dt.datetime(2026, 3, 6, 10)),
        ("customer", dt.datetime(2026, 3, 7, 10)),
    ]
    assert rows(db_file, "select created_at from leads where lead_id = 'L7'") == [
        (dt.datetime(2026, 1, 31, 14, 5),)
    ]


def test_numbers_bands_and_stage_names_as_exports_write_them(db_file, tmp_path):
    deals = csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        L3,Closed Won,2026-03-07,"$12,500.50"
        L3,MQL,2026-03-02,
        L1,Sales Qualified Lead,2026-02-01,
    """,
    )
    load(db_file, deals, "stage_changes")
    assert rows(
        db_file,
        "select lead_id, stage, amount from stage_changes where "
        "changed_at >= '2026-02-01' and lead_id in ('L1', 'L3') order by 1, 2",
    ) == [("L1", "sql", None), ("L3", "customer", 12500.50), ("L3", "mql", None)]
    leads = csv(
        tmp_path,
        """
        lead_id,created_at,channel,company_size
        L7,2026-01-01,search,51-200
        L8,2026-01-01,search,5000+
        L9,2026-01-01,search,"1,200"
    """,
        "sizes.csv",
    )
    load(db_file, leads, "leads")
    assert rows(db_file, "select company_size from leads where lead_id >= 'L7' order by 1") == [
        (51,),
        (1200,),
        (5000,),
    ]
    european = csv(
        tmp_path,
        """
        date;channel;amount
        2026-02-01;search;1.234,50
    """,
        "spend.csv",
    )
    load(db_file, european, "spend", columns={"date": "period_start"}, decimal_comma=True)
    assert rows(db_file, "select amount from spend where period_start = '2026-02-01'") == [
        (1234.50,)
    ]


def test_parquet(db_file, tmp_path):
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "lead_id": ["L2", "L3"],
            "occurred_at": [dt.datetime(2026, 2, 2, 8), dt.datetime(2026, 3, 2, 9)],
            "event_type": ["webinar_signup", "pricing_page_view"],
            "content_stage": ["MOFU", "bottom"],
        }
    ).write_parquet(path)
    assert load(db_file, path, "events").inserted == 2
    assert rows(
        db_file,
        "select lead_id, occurred_at, content_stage from events where lead_id > 'L1' order by 1",
    ) == [
        ("L2", dt.datetime(2026, 2, 2, 8), "middle"),
        ("L3", dt.datetime(2026, 3, 2, 9), "bottom"),
    ]


def test_xlsx(db_file, tmp_path):
    path = tmp_path / "leads.xlsx"
    pl.DataFrame(
        {
            "Record ID": [101, 102],
            "Create Date": [dt.datetime(2026, 4, 1, 9, 15), dt.datetime(2026, 4, 2)],
            "Original Source": ["Organic Search", "Paid Social"],
            "Number of Employees": [250.0, None],
        }
    ).write_excel(path)
    mapping = {
        "Record ID": "lead_id",
        "Create Date": "created_at",
        "Original Source": "channel",
        "Number of Employees": "company_size",
    }
    assert load(db_file, path, "leads", columns=mapping).inserted == 2
    assert rows(
        db_file,
        "select lead_id, created_at, channel, company_size from leads "
        "where lead_id like '10%' order by 1",
    ) == [
        ("101", dt.datetime(2026, 4, 1, 9, 15), "Organic Search", 250),
        ("102", dt.datetime(2026, 4, 2), "Paid Social", None),
    ]


def test_unknown_file_types_are_refused(db_file, tmp_path):
    path = tmp_path / "leads.json"
    path.write_text("[]")
    refused(db_file, path, "leads", "unknown file type '.json'")


# =====================================================================================
# idempotent re-import, updates and keys
# =====================================================================================


def test_importing_the_same_leads_twice_adds_nothing(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
        L8,2026-01-02,social
    """,
    )
    first = load(db_file, file, "leads")
    after_first = checksum(db_file)
    second = load(db_file, file, "leads")
    assert (first.inserted, first.unchanged) == (2, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 2)
    assert checksum(db_file) == after_first


def test_a_changed_lead_is_updated_and_fields_the_file_lacks_are_kept(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L1,2026-01-05,display
        L3,2026-03-01,email
    """,
    )
    result = load(db_file, file, "leads")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    assert rows(db_file, "select channel, company from leads where lead_id = 'L1'") == [
        ("display", "Acme")
    ]


def test_events_are_deduplicated_on_all_their_fields(db_file, tmp_path):
    # the stored email_open of L1 is in the file; two identical clicks are two real events
    file = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-06,email_open
        L1,2026-01-07,email_click
        L1,2026-01-07,email_click
    """,
    )
    first = load(db_file, file, "events")
    second = load(db_file, file, "events")
    assert (first.inserted, first.unchanged) == (2, 1)
    assert (second.inserted, second.unchanged) == (0, 3)
    assert rows(db_file, "select event_type, count(*) from events group by 1 order by 1") == [
        ("email_click", 2),
        ("email_open", 1),
    ]


def test_identical_events_match_one_to_one_on_every_path(db_file, tmp_path):
    """One rule: identical events in a file are separate events, and a re-import matches them
    one to one, whether the fingerprints settle it or every row is matched."""
    three = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L2,2026-02-05,webinar
        L2,2026-02-05,webinar
        L2,2026-02-05,webinar
    """,
        "three.csv",
    )
    one = csv(tmp_path, "lead_id,occurred_at,event_type\nL2,2026-02-05,webinar\n", "one.csv")
    first = load(db_file, one, "events")
    assert first.inserted == 1
    # the table holds one, the file three: two are new (matched row by row, the table having
    # other events the fingerprints do not settle)
    second = load(db_file, three, "events")
    assert (second.inserted, second.unchanged, second.repeated) == (2, 1, 2)
    assert "2 rows repeat another row of the file exactly" in second.summary()
    third = load(db_file, three, "events")
    assert (third.inserted, third.unchanged) == (0, 3)
    assert rows(db_file, "select count(*) from events where event_type = 'webinar'") == [(3,)]


class Statements:
    """A cursor that notes every statement run through it."""

    def __init__(self, cur):
        self.cur = cur
        self.seen: list[str] = []

    def execute(self, sql, params=None):
        self.seen.append(" ".join(sql.split()))
        return self.cur.execute(sql, params or {})

    def __getattr__(self, name):
        return getattr(self.cur, name)


def load_noting(path: Path, file: Path, **mapping) -> tuple[importer.ImportResult, list[str]]:
    """Import an events file; return what it did and the statements it ran."""
    con = db.connect(path)
    try:
        cur = Statements(con.cursor())
        return importer.import_file(
            cur, file, importer.Mapping("events", **mapping), now=NOW
        ), cur.seen
    finally:
        con.close()


def matched_row_by_row(statements: list[str]) -> bool:
    """Return whether an import matched its rows against the stored events one by one."""
    return any('"import_new"' in s and "from events e" in s for s in statements)


def events_fingerprint(path: Path) -> tuple[int, int]:
    """Return (rows, sum of row hashes) of the events stored, computed here, not by importer."""
    return rows(
        path,
        "select count(*), sum(hash(lead_id, occurred_at, event_type, "
        "content_stage, channel, campaign)) from events",
    )[0]


def test_reimporting_events_skips_the_match_only_while_the_table_is_as_that_import_left_it(
    db_file, tmp_path
):
    file = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L1,2026-01-06,email_open
        L1,2026-01-07,email_click
        L1,2026-01-07,email_click
        L2,2026-02-02,webinar_signup
    """,
    )
    # the stored email_open of L1 is in the file: matched row by row, 3 new
    first, seen = load_noting(db_file, file)
    assert (first.inserted, first.unchanged) == (3, 1) and matched_row_by_row(seen)
    table = events_fingerprint(db_file)
    assert table[0] == 4
    recorded = json.loads(
        rows(db_file, "select value from meta where key = 'import_fingerprint_events'")[0][0]
    )
    assert tuple(recorded["table"]) == table
    file_rows = rows(
        db_file,
        "select count(*), sum(hash(lead_id, occurred_at, event_type, "
        "content_stage, channel, campaign)) from events "
        "where lead_id = 'L2' or event_type = 'email_click' "
        "or (lead_id = 'L1' and event_type = 'email_open')",
    )[0]
    # the open is counted once in the table but is the file's row too: file = all 4 rows
    assert tuple(recorded["file"]) == file_rows
    # again, table untouched: the fingerprints settle it, no row is matched, nothing changes
    after_first = checksum(db_file)
    second, seen = load_noting(db_file, file)
    assert (second.inserted, second.unchanged) == (0, 4) and not matched_row_by_row(seen)
    assert checksum(db_file) == after_first
    # an event deleted by hand: the table is no longer as the import left it, so the rows are
    # matched one by one and exactly the missing one comes back
    con = db.connect(db_file)
    con.execute("delete from events where lead_id = 'L2'")
    con.close()
    third, seen = load_noting(db_file, file)
    assert (third.inserted, third.unchanged) == (1, 3) and matched_row_by_row(seen)
    assert checksum(db_file) == after_first
    # another file in between: matched again (nothing new), then the same rows under another
    # mapping are other rows (the fingerprint is of rows as stored, not of the file's bytes)
    other = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type
        L3,2026-03-02,email_open
    """,
        "other.csv",
    )
    assert load(db_file, other, "events").inserted == 1
    fourth, seen = load_noting(db_file, file)
    assert (fourth.inserted, fourth.unchanged) == (0, 4) and matched_row_by_row(seen)
    fifth, seen = load_noting(db_file, file, constants={"channel": "email"})
    assert (fifth.inserted, fifth.unchanged) == (4, 0)
    assert rows(db_file, "select count(*) from events") == [(9,)]


def test_events_into_an_empty_table_are_all_inserted_and_then_the_table_is_the_file(tmp_path):
    path = tmp_path / "empty.duckdb"
    fx.new_database(path).close()
    con = db.connect(path)
    con.execute(
        "insert into leads (lead_id, created_at, channel) values "
        "('A', '2026-01-01', 'search'), ('B', '2026-01-01', 'social')"
    )
    con.close()
    file = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type,content_stage,channel
        A,2026-01-02 10:00,email_open,TOFU, search
        A,2026-01-02 10:00,email_open,TOFU,search
        B,2026-01-03,demo_request,N/A,
    """,
    )
    first, seen = load_noting(path, file)
    assert (first.inserted, first.unchanged) == (3, 0) and not matched_row_by_row(seen)
    assert rows(
        path,
        "select lead_id, occurred_at, event_type, content_stage, channel from events order by all",
    ) == [
        ("A", dt.datetime(2026, 1, 2, 10), "email_open", "top", "search"),
        ("A", dt.datetime(2026, 1, 2, 10), "email_open", "top", "search"),
        ("B", dt.datetime(2026, 1, 3), "demo_request", None, None),
    ]
    # nothing to record: the table now holds exactly the file's rows, and a re-import sees
    # that from the two fingerprints (the file's and the table's) alone
    assert rows(path, "select count(*) from meta where key = 'import_fingerprint_events'") == [(0,)]
    after_first = checksum(path)
    second, seen = load_noting(path, file)
    assert (second.inserted, second.unchanged) == (0, 3) and not matched_row_by_row(seen)
    assert checksum(path) == after_first
    # one row more in the file: not the table any more, so every row is matched
    bigger = csv(
        tmp_path,
        """
        lead_id,occurred_at,event_type,content_stage,channel
        A,2026-01-02 10:00,email_open,TOFU, search
        A,2026-01-02 10:00,email_open,TOFU,search
        B,2026-01-03,demo_request,N/A,
        B,2026-01-04,demo_request,,
    """,
        "bigger.csv",
    )
    third, seen = load_noting(path, bigger)
    assert (third.inserted, third.unchanged) == (1, 3) and matched_row_by_row(seen)


def test_stage_changes_spend_and_targets_by_key(db_file, tmp_path):
    stages = csv(
        tmp_path,
        """
        lead_id,stage,changed_at,amount
        L2,customer,2026-03-01,6000
        L3,mql,2026-03-02,
    """,
        "stages.csv",
    )
    result = load(db_file, stages, "stage_changes")
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 0)
    assert rows(db_file, "select amount from stage_changes where stage = 'customer'") == [(6000,)]
    spend = csv(
        tmp_path,
        """
        period_start,channel,amount
        2026-01-01,search,1500
        2026-01-01,social,300
    """,
        "spend.csv",
    )
    result = load(db_file, spend, "spend")
    assert (result.inserted, result.updated) == (1, 1)
    assert rows(db_file, "select channel, campaign, amount from spend order by 1") == [
        ("search", "", 1500),
        ("social", "", 300),
    ]
    targets = csv(
        tmp_path,
        """
        quarter,customers,revenue
        2026-07-01,12,
        2026-10-01,,250000
    """,
        "targets.csv",
    )
    mapping = {
        "quarter": "quarter_start",
        "customers": "target_customers",
        "revenue": "target_revenue",
    }
    assert load(db_file, targets, "targets", columns=mapping).inserted == 2
    assert load(db_file, targets, "targets", columns=mapping).unchanged == 2
    bad = csv(
        tmp_path,
        """
        quarter_start,target_customers,target_revenue
        2027-01-01,0,
        2027-04-01,,
    """,
        "bad_targets.csv",
    )
    refused(
        db_file,
        bad,
        "targets",
        "row 2, column 'target_customers': '0' must be greater than 0",
        "row 3, column 'target_customers': is empty, and so is target_revenue",
    )


def test_dry_run_reports_and_writes_nothing(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L1,2026-01-05,display
        L7,2026-01-01,search
    """,
    )
    before = checksum(db_file)
    result = load(db_file, file, "leads", dry_run=True)
    assert (result.inserted, result.updated, result.dry_run) == (1, 1, True)
    assert "would import" in result.summary()
    assert checksum(db_file) == before


# =====================================================================================
# mappings and suggestions
# =====================================================================================


def test_mapping_toml_round_trip_and_errors():
    mapping = importer.Mapping(
        "stage_changes",
        columns={'Deal "ID"': "lead_id", "won": "changed_at"},
        constants={"stage": "customer"},
        defaults={"owner": "nobody"},
        formats={"changed_at": "%d/%m/%Y"},
        placeholders=("", "n.a."),
        decimal_comma=True,
    )
    assert importer.mapping_from_toml(importer.mapping_to_toml(mapping)) == mapping
    with pytest.raises(db.FunnelcastError, match="x.toml: unknown key 'tabel'"):
        importer.mapping_from_toml('tabel = "leads"', "x.toml")
    with pytest.raises(db.FunnelcastError, match="cannot import into 'deals'"):
        importer.mapping_from_toml('table = "deals"', "x.toml")


def test_suggestions_recognise_hubspot_and_salesforce_exports():
    hubspot = [
        "Record ID",
        "First Name",
        "Email",
        "Create Date",
        "Original Source",
        "Original Source Drill-Down 1",
        "Company Name",
        "Industry",
        "Number of Employees",
        "Country/Region",
        "State/Region",
        "Job Title",
        "Lifecycle Stage",
    ]
    assert importer.suggest_mapping("leads", hubspot) == {
        "lead_id": "Record ID",
        "created_at": "Create Date",
        "channel": "Original Source",
        "campaign": "Original Source Drill-Down 1",
        "company": "Company Name",
        "industry": "Industry",
        "company_size": "Number of Employees",
        "country": "Country/Region",
        "region": "State/Region",
        "job_title": "Job Title",
    }
    salesforce = [
        "Lead ID",
        "Created Date",
        "Lead Source",
        "Company / Account",
        "Title",
        "Industry",
        "No. of Employees",
        "Country",
        "State/Province",
        "Lead Status",
    ]
    assert importer.suggest_mapping("leads", salesforce) == {
        "lead_id": "Lead ID",
        "created_at": "Created Date",
        "channel": "Lead Source",
        "company": "Company / Account",
        "industry": "Industry",
        "company_size": "No. of Employees",
        "country": "Country",
        "region": "State/Province",
        "job_title": "Title",
    }
    assert importer.suggest_mapping("stage_changes", salesforce)["stage"] == "Lead Status"


# =====================================================================================
# the command line
# =====================================================================================


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m funnelcast ARGS`; return its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "funnelcast", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_imports_refuses_and_dry_runs(db_file, tmp_path):
    good = csv(
        tmp_path,
        """
        id,created,source
        L7,2026-01-01,search
    """,
        "good.csv",
    )
    done = run_cli(
        "import",
        "--db",
        db_file,
        "--table",
        "leads",
        good,
        "--map",
        "id=lead_id",
        "--map",
        "created=created_at",
        "--map",
        "source=channel",
        "--dry-run",
    )
    assert done.returncode == 0, done.stderr
    assert "would import" in done.stdout and "1 new" in done.stdout
    assert rows(db_file, "select count(*) from leads") == [(3,)]
    done = run_cli(
        "import",
        "--db",
        db_file,
        "--table",
        "leads",
        good,
        "--map",
        "id=lead_id",
        "--map",
        "created=created_at",
        "--map",
        "source=channel",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"imported {good} into leads: 1 rows read, 1 new")
    before = checksum(db_file)
    bad = csv(
        tmp_path,
        """
        lead_id,stage,changed_at
        L7,won,2030-01-01
    """,
        "bad.csv",
    )
    done = run_cli("import", "--db", db_file, "--table", "stage_changes", bad)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"funnelcast: {bad}: 1 problem; nothing was imported",
        f"  row 2, column 'changed_at': '2030-01-01' is in the future (after "
        f"{(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date()})",
    ]
    assert checksum(db_file) == before


def test_cli_set_and_mapping_file_and_conflicts(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        deal,won_on,value
        L3,2026-03-09,700
    """,
    )
    mapping = tmp_path / "deals.toml"
    mapping.write_text(
        importer.mapping_to_toml(
            importer.Mapping(
                "stage_changes",
                columns={"deal": "lead_id", "won_on": "changed_at", "value": "amount"},
            )
        )
    )
    done = run_cli("import", "--db", db_file, "--mapping", mapping, file, "--set", "stage=customer")
    assert done.returncode == 0, done.stderr
    assert rows(db_file, "select stage, amount from stage_changes where lead_id = 'L3'") == [
        ("customer", 700)
    ]
    done = run_cli("import", "--db", db_file, "--mapping", mapping, "--table", "leads", file)
    assert done.returncode == 2
    assert "--table leads but" in done.stderr and "maps onto stage_changes" in done.stderr
    done = run_cli("import", "--db", db_file, "--table", "leads", file, "--map", "deal")
    assert done.returncode == 2 and "--map 'deal': expected NAME=VALUE" in done.stderr


def test_cli_creates_a_new_database_on_first_import(tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L1,2026-01-01,search
    """,
    )
    target = tmp_path / "new.duckdb"
    done = run_cli("import", "--db", target, "--table", "leads", file)
    assert done.returncode == 0, done.stderr
    assert rows(target, "select lead_id from leads") == [("L1",)]


def test_cli_says_plainly_when_a_dashboard_holds_the_file(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,created_at,channel
        L7,2026-01-01,search
    """,
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb; "
            "con = duckdb.connect(sys.argv[1], read_only=True, config={'autoinstall_known_extensions': False, 'autoload_known_extensions': False}); print('open', flush=True); "
            "time.sleep(60)",
            str(db_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        done = run_cli("import", "--db", db_file, "--table", "leads", file)
        dry = run_cli("import", "--db", db_file, "--table", "leads", file, "--dry-run")
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"funnelcast: database {db_file} is in use by another process (close the dashboard or "
        "the other command, or open it read-only)"
    )
    assert dry.returncode == 0 and "would import" in dry.stdout, dry.stderr
    assert rows(db_file, "select count(*) from leads") == [(3,)]


# =====================================================================================
# the Olist funnel, end to end
# =====================================================================================

OLIST_LOADS = (
    ("leads.toml", "olist_marketing_qualified_leads_dataset.csv"),
    ("mql_stage_changes.toml", "olist_marketing_qualified_leads_dataset.csv"),
    ("customer_stage_changes.toml", "olist_closed_deals_dataset.csv"),
)


@pytest.fixture(scope="module")
def olist_db(tmp_path_factory) -> Path:
    """The Olist files imported with the shipped mappings, by docs/importing.md's command lines."""
    if not OLIST.is_dir():
        pytest.skip(f"the Olist data is not here: {OLIST} is absent")
    path = tmp_path_factory.mktemp("olist") / "olist.duckdb"
    for mapping, file in OLIST_LOADS:
        done = run_cli(
            "import", "--db", path, "--mapping", REPO / "data" / "olist" / mapping, OLIST / file
        )
        assert done.returncode == 0, done.stderr
    return path


def olist_expected() -> tuple[dict[str, tuple[int, int]], int, int]:
    """Return MQLs and customers per origin, worked out from the files without Funnelcast."""
    mqls = pl.read_csv(OLIST / "olist_marketing_qualified_leads_dataset.csv")
    deals = pl.read_csv(OLIST / "olist_closed_deals_dataset.csv")
    origin = pl.col("origin").fill_null("unknown")
    per = (
        mqls.with_columns(origin.alias("origin"))
        .join(deals.select("mql_id", pl.lit(1).alias("won")), on="mql_id", how="left")
        .group_by("origin")
        .agg(pl.len().alias("mqls"), pl.col("won").sum().alias("customers"))
    )
    return (
        {r["origin"]: (r["mqls"], r["customers"]) for r in per.iter_rows(named=True)},
        mqls.height,
        deals.height,
    )


def test_olist_metrics_match_the_files(olist_db, capsys):
    per_origin, count_mqls, count_deals = olist_expected()
    assert (count_mqls, count_deals) == (8000, 842)
    assert cli.main(["metrics", "--db", str(olist_db), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["leads"], result["mqls"], result["customers"]) == (8000, 8000, 842)
    assert result["mql_to_customer"] == pytest.approx(842 / 8000)
    assert f"{result['mql_to_customer']:.2%}" == "10.53%"
    shown = {c["channel"]: (c["mqls"], c["customers"]) for c in result["by_channel"]}
    assert shown == per_origin
    for channel in result["by_channel"]:
        mqls, customers = per_origin[channel["channel"]]
        assert channel["mql_to_customer"] == pytest.approx(customers / mqls)
    assert shown["paid_search"] == (1586, 195)


def test_olist_reimport_adds_nothing(olist_db):
    before = checksum(olist_db)
    for mapping, file in OLIST_LOADS:
        done = run_cli(
            "import", "--db", olist_db, "--mapping", REPO / "data" / "olist" / mapping, OLIST / file
        )
        assert done.returncode == 0, done.stderr
        assert " 0 new, 0 updated" in done.stdout
    assert checksum(olist_db) == before


def test_olist_data_page_shows_the_cli_figures_and_what_is_missing(olist_db, monkeypatch, capsys):
    assert cli.main(["metrics", "--db", str(olist_db), "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("FUNNELCAST_DB", str(olist_db))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown == {
        "Leads": "8,000",
        "MQLs": f"{expected['mqls']:,}",
        "Customers": f"{expected['customers']:,}",
        "MQL → customer": f"{expected['mql_to_customer'] * 100:.2f}%",
    }
    assert shown["MQL → customer"] == "10.53%"
    infos = [i.value for i in at.info]
    assert any(text.startswith("No events loaded") for text in infos)
    assert any(text.startswith("No spend loaded") for text in infos)
    warnings = [w.value for w in at.warning]
    assert any(
        text.startswith("797 customer stage changes with an amount of 0") for text in warnings
    )
    assert any(text.startswith("1,159 leads in the channel 'unknown'") for text in warnings)
    assert any(text.startswith("1 lead won before its first recorded MQL") for text in warnings)


# =====================================================================================
# the Data page's logic on a hand-made database
# =====================================================================================


@pytest.fixture
def odd_db(tmp_path: Path) -> Path:
    """A database with one of each oddity the Data page reports, counted by hand below."""
    path = tmp_path / "odd.duckdb"
    con = fx.new_database(path)
    fx.add_journeys(
        con,
        [
            # won before it was an MQL, with no amount
            fx.Journey(
                "A",
                "2026-01-10",
                "search",
                stages=[("customer", "2026-01-20"), ("mql", "2026-02-01")],
            ),
            # a stage change dated before the lead was created
            fx.Journey("B", "2026-03-01", "unknown", stages=[("mql", "2026-02-20")]),
            # won for 0; two typical deals of 100 and an outlier over 100 x their median
            fx.Journey(
                "C",
                "2026-01-01",
                "social",
                stages=[("mql", "2026-01-02"), ("customer", "2026-01-09", 0)],
            ),
            fx.Journey(
                "D",
                "2026-01-01",
                "social",
                stages=[("mql", "2026-01-02"), ("customer", "2026-01-09", 100)],
            ),
            fx.Journey(
                "E",
                "2026-01-01",
                "social",
                stages=[("mql", "2026-01-02"), ("customer", "2026-01-09", 20000)],
            ),
            fx.Journey(
                "G",
                "2026-01-01",
                "social",
                stages=[("mql", "2026-01-02"), ("customer", "2026-01-09", 100)],
            ),
            # no stage change at all; an event before it was created
            fx.Journey("F", "2026-01-05", "email", events=[("email_open", "2026-01-01")]),
        ],
    )
    fx.add_spend(
        con,
        [
            fx.Spend("2026-01-01", "display", 500.0),
            fx.Spend("2026-01-01", "social", 800.0, campaign="spring"),
        ],
    )
    con.execute("checkpoint")
    con.close()
    return path


def test_data_page_logic_on_hand_made_oddities(odd_db):
    con = db.connect(odd_db, read_only=True)
    try:
        cur = con.cursor()
        ctx = load_context(cur)
        loaded = data_page.loaded_tables(ctx)
        nulls = data_page.column_nulls(cur)
        unmatched = data_page.unmatched_ids(cur, ctx)
        health = data_page.health(cur, ctx)
    finally:
        con.close()
    assert loaded.select("table", "rows").rows() == [
        ("leads", 7),
        ("events", 1),
        ("stage_changes", 11),
        ("spend", 2),
        ("targets", 0),
    ]
    assert loaded.row(0, named=True)["first"] == dt.date(2026, 1, 1)
    assert data_page.missing_tables(ctx) == [
        "No targets loaded: load them for the plan: how many MQLs next quarter needs."
    ]
    amount = nulls.filter(
        (pl.col("table_name") == "stage_changes") & (pl.col("column_name") == "amount")
    ).row(0, named=True)
    # 11 stage changes; amounts on the deals of C, D, E and G only
    assert (amount["count_rows"], amount["count_nulls"], amount["share_empty"]) == (11, 7, 7 / 11)
    assert set(nulls["table_name"]) == {"leads", "events", "stage_changes", "spend"}
    assert [n.text for n in unmatched] == [
        "1 lead with no stage change (never MQL, or the CRM history for it is not loaded) (e.g. F)",
        "1 spend channel that no lead has: its cost has no MQLs to divide by (check the "
        "names match) (e.g. display)",
        "3 lead channels with no spend: no cost or ROI for them (e.g. email, search, unknown)",
        "1 spend campaign that no lead names (e.g. social / spring)",
    ]
    # a lead that never became an MQL is a fact of every funnel; the names that do not match are
    # warnings
    assert [n.level for n in unmatched] == ["info", "warning", "warning", "warning"]
    # A has an MQL (recorded after it was won), so no customer lacks one: no such note
    texts = [n.text for n in health]
    assert texts[:6] == [
        "1 stage change dated before its lead was created (e.g. B mql)",
        "1 lead won before its first recorded MQL (e.g. A)",
        "1 customer stage change without a deal amount: revenue counts it as 0 (e.g. A)",
        "1 customer stage change with an amount of 0: revenue and ROI understate what was won "
        "(e.g. C)",
        "1 customer amount over 100 times the median: one such deal can dominate revenue and "
        "ROI (e.g. E: $20,000.00)",
        "1 event dated before its lead was created (e.g. F)",
    ]
    assert texts[6].startswith("1 lead in the channel 'unknown'")


def test_page_mapping_helpers(tmp_path):
    columns = ["Record ID", "Create Date", "Original Source", "Notes"]
    choices = data_page.initial_choices("leads", columns)
    assert choices["lead_id"] == "Record ID" and choices["company"] == data_page.NOT_MAPPED
    choices["campaign"] = "Notes"
    choices["channel"] = data_page.SET_VALUE
    mapping = data_page.mapping_from_choices(
        "leads",
        choices,
        {"channel": "events"},
        defaults={"region": "emea", "country": ""},
        placeholders=data_page.parse_placeholders("\nN/A\n tbd "),
    )
    assert mapping == importer.Mapping(
        "leads",
        columns={"Record ID": "lead_id", "Create Date": "created_at", "Notes": "campaign"},
        constants={"channel": "events"},
        defaults={"region": "emea"},
        placeholders=("", "N/A", "tbd"),
    )
    database = tmp_path / "x.duckdb"
    saved = data_page.save_mapping(database, "HubSpot contacts!", mapping)
    assert saved == tmp_path / "mappings" / "HubSpot_contacts.toml"
    assert data_page.saved_mappings(database, "leads") == {"HubSpot_contacts": saved}
    assert data_page.saved_mappings(database, "events") == {}
    assert importer.read_mapping_file(saved) == mapping
    assert data_page.choices_from_mapping(mapping, columns)["channel"] == data_page.SET_VALUE


def test_page_preview_shows_parsed_values(tmp_path):
    file = csv(
        tmp_path,
        """
        Record ID,Create Date,Original Source
        7,2026-01-01T10:00:00Z,ORGANIC_SEARCH
        8,not a date,Select
    """,
    )
    header = data_page.file_header(file)
    assert (header.columns, header.rows, header.delimiter) == (
        ("Record ID", "Create Date", "Original Source"),
        2,
        ",",
    )
    mapping = data_page.mapping_from_choices(
        "leads", data_page.initial_choices("leads", list(header.columns)), {}
    )
    frame = data_page.preview(file, mapping)
    assert frame.select("row", "lead_id", "created_at", "channel").rows() == [
        (2, "7", dt.datetime(2026, 1, 1, 10), "ORGANIC_SEARCH"),
        (3, "8", None, None),
    ]


def test_data_page_on_an_empty_database_says_what_to_load(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    fx.new_database(path).close()
    monkeypatch.setenv("FUNNELCAST_DB", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    assert not at.exception
    infos = [i.value for i in at.info]
    for table in ("leads", "events", "stage changes", "spend", "targets"):
        assert any(text.startswith(f"No {table} loaded") for text in infos), (table, infos)
    assert not at.metric
    assert at.selectbox(key="data_table").options == [
        "leads",
        "events",
        "stage changes",
        "spend",
        "targets",
    ]


def test_unmatched_ids_and_data_health_queries_row_by_row(tmp_path):
    con = fx.new_database()
    fx.add_journeys(
        con,
        [
            # a demo request straight to a deal: a customer without a recorded MQL
            fx.Journey(
                "H",
                "2026-01-01",
                "events",
                stages=[("sql", "2026-01-03"), ("customer", "2026-02-01", 900)],
            ),
            fx.Journey(
                "J",
                "2026-01-01",
                "events",
                stages=[("mql", "2026-01-02")],
                events=[("demo_request", "2026-10-02")],
            ),
        ],
    )
    fx.add_spend(con, [fx.Spend("2026-01-01", "events", 50.0, campaign="expo")])
    unmatched = db.run(con, "unmatched_ids").rows()
    assert unmatched == [
        ("leads_without_stage_changes", 0, []),
        ("customers_without_mql", 1, ["H"]),
        ("spend_channels_without_leads", 0, []),
        ("lead_channels_without_spend", 0, []),
        ("spend_campaigns_without_leads", 1, ["events / expo"]),
    ]
    # as of the end of September: J's October event lies after it
    health = dict(
        (name, (count, examples))
        for name, count, examples in db.run(
            con, "data_health", as_of=dt.datetime(2026, 9, 30, 23, 59)
        ).rows()
    )
    assert health["activity_after_as_of"] == (1, ["event J"])
    assert health["customers_without_amount"] == (0, [])
    assert health["amount_outliers"] == (0, [])  # one deal is its own median
    assert sum(count for count, _ in health.values()) == 1
    # without an as-of nothing lies after it
    assert db.run(con, "data_health", as_of=None).filter(
        pl.col("check_name") == "activity_after_as_of"
    )["count_items"].to_list() == [0]
