"""The Funnel and Handoff pages in a real browser: served with `streamlit run app.py` on the demo
database, opened in Debian's headless Chromium from the sidebar, they show the figures the CLI
prints, with no error on the page or in the console. Leaves screenshots in tests/artifacts/."""

from __future__ import annotations

import json

import pytest
from test_browser import ARTIFACTS, CHROMIUM_ARGS, PAGE_RENDER_MS, chromium, served_app  # noqa: F401

from funnelcast import cli

pytestmark = pytest.mark.browser


def cli_json(capsys, *args: str) -> dict:
    """Return what a funnelcast command prints with --format json."""
    assert cli.main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_served_funnel_and_handoff_pages_show_the_cli_figures(
    chromium, served_app, demo_db, capsys
):
    from playwright.sync_api import sync_playwright

    handoffs = cli_json(capsys, "handoff", "--db", str(demo_db), "--quarter", "2026Q3")
    shown: dict[str, str] = {}
    problems: list[str] = []
    exceptions: list[str] = []

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
            ARTIFACTS.mkdir(exist_ok=True)
            for title in ("Funnel", "Handoff"):
                page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
                page.get_by_role("heading", name=title).first.wait_for()
                # the Sankey (Funnel) and the not-ready cards (Handoff) come last
                page.get_by_test_id("stMetric").last.wait_for()
                page.locator(".js-plotly-plot .main-svg").last.wait_for()
                page.wait_for_timeout(1500)
                exceptions += page.get_by_test_id("stException").all_inner_texts()
                exceptions += page.get_by_test_id("stAlertContentError").all_inner_texts()
                if title == "Handoff":
                    card = page.get_by_test_id("stMetric").filter(
                        has=page.get_by_test_id("stMetricLabel").get_by_text(
                            "Hand-offs", exact=True
                        )
                    )
                    shown["handoffs"] = card.get_by_test_id("stMetricValue").inner_text()
                height = page.evaluate(
                    "document.querySelector('[data-testid=stMain]').scrollHeight"
                )
                page.set_viewport_size({"width": 1600, "height": height + 40})
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / f"{title.lower()}.png"), full_page=True)
                page.set_viewport_size({"width": 1600, "height": 1000})
        finally:
            browser.close()

    assert shown["handoffs"] == f"{handoffs['handoffs']:,}"
    assert not exceptions, exceptions
    assert not problems, problems
