"""The Olist data loaded with the shipped mappings, served and opened in a real browser: the Data
page shows 8,000 MQLs, 842 customers and 10.53% MQL → customer, says what the data lacks, and the
Overview says what is missing instead of failing. Screenshots: tests/screenshots/data.png and
tests/artifacts/olist_overview.png."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import browser_support as bs
import pytest
from undated_export import write_undated_export

from funnelcast import importer
from funnelcast.data import db

pytestmark = pytest.mark.browser

OLIST = bs.ROOT.parent / "shared" / "data" / "olist"
MAPPINGS = bs.ROOT / "data" / "olist"
LOADS = (
    ("leads.toml", "olist_marketing_qualified_leads_dataset.csv"),
    ("mql_stage_changes.toml", "olist_marketing_qualified_leads_dataset.csv"),
    ("customer_stage_changes.toml", "olist_closed_deals_dataset.csv"),
)


@pytest.fixture
def olist_db(tmp_path: Path) -> Path:
    """Return a database holding the Olist files, imported with the shipped mappings."""
    if not OLIST.is_dir():
        pytest.skip(f"the Olist data is not here ({OLIST} is absent)")
    path = tmp_path / "olist.duckdb"
    con = db.connect(path, create=True)
    try:
        for mapping, file in LOADS:
            importer.import_file(
                con.cursor(), OLIST / file, importer.read_mapping_file(MAPPINGS / mapping)
            )
        con.execute("checkpoint")
    finally:
        con.close()
    return path


@pytest.fixture
def served_olist(olist_db: Path, tmp_path: Path) -> Iterator[str]:
    """Return the URL of the dashboard served on the Olist database."""
    with bs.serve_database(olist_db, tmp_path / "streamlit.log") as url:
        yield url


def full_page(page, path: Path) -> None:
    """Save a screenshot of the whole main area once the page has had a second to settle."""
    page.wait_for_timeout(1000)
    bs.screenshot_main(page, path, settle_ms=500)


def test_olist_in_the_browser(chromium, served_olist):
    problems: list[str] = []
    options = {"viewport": (1400, 1000), "problems": problems, "console_errors": False}
    with bs.open_page(chromium, served_olist, **options) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        overview_info = page.get_by_test_id("stAlertContentInfo").all_inner_texts()
        overview_errors = page.get_by_test_id("stException").all_inner_texts()
        full_page(page, bs.ARTIFACTS / "olist_overview.png")

        page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
        page.get_by_text("What the loaded data gives").wait_for()
        page.get_by_test_id("stMetric").nth(3).wait_for()
        metrics = dict(
            zip(
                page.get_by_test_id("stMetricLabel").all_inner_texts(),
                page.get_by_test_id("stMetricValue").all_inner_texts(),
            )
        )
        data_info = page.get_by_test_id("stAlertContentInfo").all_inner_texts()
        data_errors = page.get_by_test_id("stException").all_inner_texts()
        full_page(page, bs.SCREENSHOTS / "data.png")

    assert not problems, problems
    assert not overview_errors and not data_errors, (overview_errors, data_errors)
    assert any("no spend loaded" in text.lower() for text in overview_info), overview_info
    assert {k: metrics[k] for k in ("MQLs", "Customers", "MQL → customer")} == {
        "MQLs": "8,000",
        "Customers": "842",
        "MQL → customer": "10.53%",
    }
    assert any("No events loaded" in text for text in data_info), data_info
    assert any("No spend loaded" in text for text in data_info), data_info


@pytest.fixture
def served_empty(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Return the URL of the dashboard served on a new, empty database, and its path."""
    path = tmp_path / "empty.duckdb"
    db.connect(path, create=True).close()
    with bs.serve_database(path, tmp_path / "streamlit.log") as url:
        yield url, path


def test_upload_map_check_and_import_in_the_browser(chromium, served_empty, tmp_path):
    url, database = served_empty
    export = tmp_path / "hubspot-contacts.csv"
    export.write_text(
        "Record ID,First Name,Create Date,Original Source,Company Name,Number of Employees,"
        "Visits\n"
        "501,Ana,2026-05-04 10:00,Organic Search,Acme,51-200,4\n"
        "502,Ben,2026-05-05 11:30,Paid Social,Globex,N/A,17\n",
        encoding="utf-8",
    )
    problems: list[str] = []
    options = {"viewport": (1400, 1000), "problems": problems, "console_errors": False}
    with bs.open_page(chromium, url, **options) as page:
        page.get_by_test_id("stAlertContentInfo").first.wait_for()  # the Overview has run
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
        page.get_by_text("Import a file").wait_for()
        page.locator("input[type=file]").set_input_files(str(export))
        page.get_by_text("Required fields").wait_for()
        page.get_by_test_id("stDataFrame").nth(1).wait_for()  # the preview
        # the columns no field takes are listed to keep, with the type their values read as
        page.get_by_text("Other columns (2)").wait_for()
        page.get_by_role("button", name="Check").click()
        page.get_by_text("would import").wait_for()
        full_page(page, bs.ARTIFACTS / "data_import.png")
        page.get_by_role("button", name="Import").click()
        page.get_by_text("imported hubspot-contacts.csv into leads").wait_for()
        errors = page.get_by_test_id("stException").all_inner_texts()
    assert not problems and not errors, (problems, errors)
    con = db.connect(database, read_only=True)
    try:
        stored = con.execute(
            "select lead_id, created_at::varchar, channel, company, company_size from leads "
            "order by 1"
        ).fetchall()
        kept = con.execute(
            "select lead_id, attribute, text_value, number_value from lead_attributes order by 1, 2"
        ).fetchall()
        types = dict(
            con.execute("select attribute, value_type from lead_attribute_types").fetchall()
        )
    finally:
        con.close()
    assert stored == [
        ("501", "2026-05-04 10:00:00", "Organic Search", "Acme", 51),
        ("502", "2026-05-05 11:30:00", "Paid Social", "Globex", None),
    ]
    assert types == {"First Name": "text", "Visits": "number"}
    assert kept == [
        ("501", "First Name", "Ana", None),
        ("501", "Visits", None, 4.0),
        ("502", "First Name", "Ben", None),
        ("502", "Visits", None, 17.0),
    ]


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")  # a command-line option: --map, --set, …


def test_an_undated_export_imports_with_the_mouse_alone(chromium, served_empty, tmp_path):
    """Issue 19, item 5: the 37-column export with no date column and "Prospect ID" as its id:
    upload it, pick one date in the control beside the note, click Import. No text on the page
    names a command-line option, and every row of the file is a lead in the database."""
    url, database = served_empty
    export = write_undated_export(tmp_path, leads=9_000, id_header="Prospect ID")
    problems: list[str] = []
    options = {"viewport": (1400, 1000), "problems": problems, "console_errors": False}
    with bs.open_page(chromium, url, **options) as page:
        page.get_by_test_id("stAlertContentInfo").first.wait_for()  # the Overview has run
        page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
        page.get_by_text("Import a file").wait_for()
        page.locator("input[type=file]").set_input_files(str(export))
        page.get_by_text("This file has no creation date").wait_for()
        page.get_by_text("Recognised from the headers: 'Prospect ID' as the lead id").wait_for()
        before = page.get_by_test_id("stMain").inner_text()
        full_page(page, bs.ARTIFACTS / "data_undated_export.png")
        # the date: open the calendar beside the note and click the first of this month
        page.get_by_test_id("stDateInputCalendarButton").click()
        calendar = page.get_by_test_id("stDateInputCalendar")
        calendar.get_by_role("button").filter(has_text=re.compile(r"^1$")).first.click()
        page.get_by_role("button", name="Import").wait_for()
        picked = page.get_by_test_id("stDateInput").locator("input[type=date]").input_value()
        full_page(page, bs.ARTIFACTS / "data_undated_export_dated.png")
        page.get_by_role("button", name="Import").click()
        page.get_by_text("imported leads-export.csv into leads").wait_for(timeout=180_000)
        page.get_by_text("What the loaded data gives").wait_for()
        after = page.get_by_test_id("stMain").inner_text()
        full_page(page, bs.ARTIFACTS / "data_undated_export_imported.png")
        errors = bs.shown_errors(page)
    assert not problems and errors == ([], []), (problems, errors)
    assert FLAG.findall(before) == [] and FLAG.findall(after) == [], (before, after)
    assert picked == dt.date.today().replace(day=1).isoformat()
    con = db.connect(database, read_only=True)
    try:
        stored = con.execute(
            "select count(*), count(distinct lead_id), min(created_at)::date, "
            "max(created_at)::date from leads"
        ).fetchall()
        kept = con.execute("select count(*) from lead_attribute_types").fetchall()[0][0]
    finally:
        con.close()
    first = dt.date.fromisoformat(picked)
    assert stored == [(9_000, 9_000, first, first)]
    assert kept == 34  # the 37 columns less Prospect ID, Lead Source and Country (fields)
