"""The quarterly review and the ROI page in a real headless Chromium: the review written by
`funnelcast report` opens offline and draws every chart with no console error and no network
request; the served ROI page shows the scorecard `funnelcast roi` computes. Leaves screenshots
in tests/screenshots/report.png and tests/screenshots/roi.png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_browser import (  # noqa: F401  (fixtures used by name)
    CHROMIUM_ARGS,
    PAGE_RENDER_MS,
    chromium,
    served_app,
)

from funnelcast import cli
from funnelcast.core import formats

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
QUARTER = "2026Q3"
# funnel, cost per stage, ROI by channel, attribution comparison, payback
REVIEW_CHARTS = 5


def watch(page, problems: list[str]) -> None:
    """Record console errors and page errors of a browser page in problems."""
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))


def test_the_review_renders_its_charts_offline(chromium, demo_db, tmp_path, capsys):
    from playwright.sync_api import sync_playwright

    out = tmp_path / "review.html"
    assert cli.main(["report", "--db", str(demo_db), "--quarter", QUARTER, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: the quarterly review of {QUARTER}")
    assert cli.main(["roi", "--db", str(demo_db), "--quarter", QUARTER, "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    problems: list[str] = []
    requests: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(PAGE_RENDER_MS)
            watch(page, problems)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(out.as_uri())
            page.locator(".js-plotly-plot .main-svg").nth(REVIEW_CHARTS - 1).wait_for()
            page.wait_for_timeout(800)
            charts = page.locator(".js-plotly-plot").count()
            bars = page.locator(".js-plotly-plot .barlayer .trace").count()
            funnel = page.locator(".js-plotly-plot .funnellayer .trace").count()
            scorecard = page.locator(".scorecard").inner_text()
            height = page.evaluate("document.body.scrollHeight")
            page.set_viewport_size({"width": 1280, "height": height})
            page.wait_for_timeout(500)
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
        finally:
            browser.close()

    assert charts == REVIEW_CHARTS
    assert funnel == 1
    assert bars >= 4 + 7 + 2  # cost per stage, one trace per model, spend and revenue so far
    assert scorecard == expected["scorecard"]["sentence"]
    assert not problems, problems
    # plotly.js is inline: the file asks nothing of the network
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []


def test_the_served_roi_page_shows_the_cli_scorecard(chromium, served_app, demo_db, capsys):
    from playwright.sync_api import sync_playwright

    assert cli.main(["roi", "--db", str(demo_db), "--quarter", QUARTER, "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    problems: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(PAGE_RENDER_MS)
            watch(page, problems)
            page.goto(served_app)
            page.get_by_test_id("stSidebarNav").get_by_text("ROI & attribution").click()
            page.get_by_text("Quarterly review", exact=True).wait_for()
            page.locator(".js-plotly-plot .main-svg").nth(3).wait_for()
            page.get_by_test_id("stDownloadButton").wait_for()
            page.wait_for_timeout(1500)
            spend = (
                page.get_by_test_id("stMetric")
                .filter(has=page.get_by_test_id("stMetricLabel").get_by_text("Spend", exact=True))
                .get_by_test_id("stMetricValue")
                .inner_text()
            )
            headings = page.get_by_test_id("stHeading").all_inner_texts()
            exceptions = page.get_by_test_id("stException").all_inner_texts()
            errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
            height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height + 40})
            page.wait_for_timeout(800)
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "roi.png"), full_page=True)
        finally:
            browser.close()

    assert spend == formats.money(expected["totals"]["spend"])
    assert expected["scorecard"]["sentence"] in headings
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
