"""The Funnel and Handoff pages in a real browser: served with `streamlit run app.py` on the demo
database, opened in Debian's headless Chromium from the sidebar, they show the figures the CLI
prints, with no error on the page or in the console. Leaves screenshots in tests/artifacts/."""

from __future__ import annotations

import browser_support as bs
import pytest
from cli_support import cli_json

pytestmark = pytest.mark.browser


def test_served_funnel_and_handoff_pages_show_the_cli_figures(
    chromium, served_app, demo_db, capsys
):
    handoffs = cli_json(capsys, "handoff", "--db", demo_db, "--quarter", "2026Q3")
    shown: dict[str, str] = {}
    problems: list[str] = []
    exceptions: list[str] = []

    with bs.open_page(chromium, served_app, problems=problems) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        for title in ("Funnel", "Handoff"):
            bs.open_from_sidebar(page, title)
            page.get_by_role("heading", name=title).first.wait_for()
            # the Sankey (Funnel) and the not-ready cards (Handoff) come last
            page.get_by_test_id("stMetric").last.wait_for()
            page.locator(".js-plotly-plot .main-svg").last.wait_for()
            page.wait_for_timeout(1500)
            for texts in bs.shown_errors(page):
                exceptions += texts
            if title == "Handoff":
                shown["handoffs"] = bs.metric_value(page, "Hand-offs")
            bs.screenshot_main(page, bs.ARTIFACTS / f"{title.lower()}.png", settle_ms=500)

    assert shown["handoffs"] == f"{handoffs['handoffs']:,}"
    assert not exceptions, exceptions
    assert not problems, problems
