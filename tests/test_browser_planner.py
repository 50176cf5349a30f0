"""The MQL Planner in a real headless Chromium: served on the demo database, it shows the
required MQLs `funnelcast plan` prints, draws its charts, and has no error on the page or in the
console. Leaves a screenshot in tests/screenshots/planner.png."""

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
# chance by MQLs, MQLs by threshold, backtest
PLANNER_CHARTS = 3


def test_the_served_planner_shows_the_cli_plan(chromium, served_app, demo_db, capsys):
    from playwright.sync_api import sync_playwright

    assert cli.main(["plan", "--db", str(demo_db), "--format", "json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    problems: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(PAGE_RENDER_MS)
            page.on(
                "console", lambda m: m.type == "error" and problems.append(f"console: {m.text}")
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(served_app)
            page.get_by_test_id("stSidebarNav").get_by_text("MQL Planner").click()
            page.get_by_text("How well past plans came true", exact=True).wait_for()
            page.locator(".js-plotly-plot .main-svg").nth(PLANNER_CHARTS - 1).wait_for()
            page.wait_for_timeout(1500)
            needed = (
                page.get_by_test_id("stMetric")
                .filter(
                    has=page.get_by_test_id("stMetricLabel").get_by_text(
                        "New MQLs needed (80%)", exact=True
                    )
                )
                .get_by_test_id("stMetricValue")
                .inner_text()
            )
            charts = page.locator(".js-plotly-plot").count()
            exceptions = page.get_by_test_id("stException").all_inner_texts()
            errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
            height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height + 40})
            page.wait_for_timeout(800)
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "planner.png"), full_page=True)
        finally:
            browser.close()

    assert needed == formats.count(expected["required_mqls"]["p80"])
    assert charts == PLANNER_CHARTS
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
