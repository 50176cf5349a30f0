"""The Threshold Lab in a real browser: served with `streamlit run app.py` on the demo database
and opened in Debian's headless Chromium, its MQL volume for the default quarters is what
`funnelcast metrics --threshold` counts, before and after the slider is moved with the keyboard,
with no error on the page or in the console. Leaves a screenshot in tests/artifacts/lab.png."""

from __future__ import annotations

import json

import pytest
from test_browser import ARTIFACTS, CHROMIUM_ARGS, PAGE_RENDER_MS, chromium, served_app  # noqa: F401

from funnelcast import cli, definitions
from funnelcast.data import db

pytestmark = pytest.mark.browser
QUARTERS = ("2025Q4", "2026Q1", "2026Q2", "2026Q3")  # the Lab's default: last four complete


def cli_mqls(capsys, database, threshold: float) -> int:
    """Return the MQLs `funnelcast metrics --threshold` counts over the default quarters."""
    total = 0
    for quarter in QUARTERS:
        args = [
            "metrics",
            "--db",
            str(database),
            "--quarter",
            quarter,
            "--threshold",
            f"{threshold:g}",
            "--format",
            "json",
        ]
        assert cli.main(args) == 0
        total += json.loads(capsys.readouterr().out)["mqls"]
    return total


def test_the_served_lab_shows_the_cli_mqls_as_the_slider_moves(
    chromium, served_app, demo_db, capsys
):
    from playwright.sync_api import sync_playwright

    con = db.connect(demo_db, read_only=True)
    try:
        start = definitions.current(con.cursor()).threshold
    finally:
        con.close()
    problems: list[str] = []
    shown: list[str] = []
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
            page.get_by_test_id("stMetric").first.wait_for()
            page.get_by_test_id("stSidebarNav").get_by_text("Threshold Lab", exact=True).click()
            page.get_by_role("heading", name="Threshold Lab").first.wait_for()

            def mqls() -> str:
                card = page.get_by_test_id("stMetric").filter(
                    has=page.get_by_test_id("stMetricLabel").get_by_text("MQLs", exact=True)
                )
                card.first.wait_for()
                return card.first.get_by_test_id("stMetricValue").inner_text()

            shown.append(mqls())
            thumb = page.get_by_role("slider").first
            thumb.focus()
            for _ in range(5):  # step 1: five points up
                thumb.press("ArrowRight")
            # The slider reruns only the page's threshold fragment, which the status widget
            # may not announce: wait until the figures are drawn for the last threshold and no
            # element of an earlier run is left on the page.
            page.wait_for_function(
                "(want) => document.body.innerText.includes('The draft at threshold ' + want +"
                " ',') && !document.querySelector('[data-stale=\"true\"]')",
                arg=f"{start + 5:g}",
            )
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
            shown.append(mqls())
            moved_to = float(page.get_by_test_id("stSliderThumbValue").first.inner_text())
            problems += page.get_by_test_id("stException").all_inner_texts()
            ARTIFACTS.mkdir(exist_ok=True)
            height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height + 40})
            page.wait_for_timeout(800)
            page.screenshot(path=str(ARTIFACTS / "lab.png"), full_page=True)
        finally:
            browser.close()

    assert shown[0] == f"{cli_mqls(capsys, demo_db, start):,}"
    assert moved_to == start + 5
    assert shown[1] == f"{cli_mqls(capsys, demo_db, start + 5):,}"
    assert not problems, problems
