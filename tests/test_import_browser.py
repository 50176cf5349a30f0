"""The Olist data loaded with the shipped mappings, served and opened in a real browser: the Data
page shows 8,000 MQLs, 842 customers and 10.53% MQL → customer, says what the data lacks, and the
Overview says what is missing instead of failing. Screenshots: tests/screenshots/data.png and
tests/artifacts/olist_overview.png."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401  (chromium is a fixture)
    ARTIFACTS,
    CHROMIUM_ARGS,
    PAGE_RENDER_MS,
    ROOT,
    chromium,
    serve_app,
)

from funnelcast import importer
from funnelcast.data import db

pytestmark = pytest.mark.browser

OLIST = ROOT.parent / "shared" / "data" / "olist"
MAPPINGS = ROOT / "data" / "olist"
SCREENSHOTS = ROOT / "tests" / "screenshots"
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
    with serve_app(tmp_path / "streamlit.log", {"FUNNELCAST_DB": str(olist_db)}) as (url, _):
        yield url


def full_page(page, path: Path) -> None:
    """Save a screenshot of the whole main area."""
    page.wait_for_timeout(1000)
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": height + 40})
    page.wait_for_timeout(500)
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def test_olist_in_the_browser(chromium, served_olist):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(PAGE_RENDER_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(served_olist)
            page.get_by_test_id("stMetric").first.wait_for()
            overview_info = page.get_by_test_id("stAlertContentInfo").all_inner_texts()
            overview_errors = page.get_by_test_id("stException").all_inner_texts()
            full_page(page, ARTIFACTS / "olist_overview.png")

            page.set_viewport_size({"width": 1400, "height": 1000})
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
            full_page(page, SCREENSHOTS / "data.png")
        finally:
            browser.close()

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
    with serve_app(tmp_path / "streamlit.log", {"FUNNELCAST_DB": str(path)}) as (url, _):
        yield url, path


def test_upload_map_check_and_import_in_the_browser(chromium, served_empty, tmp_path):
    from playwright.sync_api import sync_playwright

    url, database = served_empty
    export = tmp_path / "hubspot-contacts.csv"
    export.write_text(
        "Record ID,First Name,Create Date,Original Source,Company Name,Number of Employees\n"
        "501,Ana,2026-05-04 10:00,Organic Search,Acme,51-200\n"
        "502,Ben,2026-05-05 11:30,Paid Social,Globex,N/A\n",
        encoding="utf-8",
    )
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(PAGE_RENDER_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(url)
            page.get_by_test_id("stAlertContentInfo").first.wait_for()  # the Overview has run
            page.get_by_test_id("stSidebarNavLink").filter(has_text="Data").click()
            page.get_by_text("Import a file").wait_for()
            page.locator("input[type=file]").set_input_files(str(export))
            page.get_by_text("Map the columns").wait_for()
            page.get_by_test_id("stDataFrame").nth(1).wait_for()  # the preview
            page.get_by_role("button", name="Check").click()
            page.get_by_text("would import").wait_for()
            full_page(page, ARTIFACTS / "data_import.png")
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.get_by_role("button", name="Import").click()
            page.get_by_text("imported hubspot-contacts.csv into leads").wait_for()
            errors = page.get_by_test_id("stException").all_inner_texts()
        finally:
            browser.close()
    assert not problems and not errors, (problems, errors)
    con = db.connect(database, read_only=True)
    try:
        stored = con.execute(
            "select lead_id, created_at::varchar, channel, company, company_size from leads "
            "order by 1"
        ).fetchall()
    finally:
        con.close()
    assert stored == [
        ("501", "2026-05-04 10:00:00", "Organic Search", "Acme", 51),
        ("502", "2026-05-05 11:30:00", "Paid Social", "Globex", None),
    ]
