"""The MQL Planner in a real headless Chromium: served on the demo database, it shows the
required MQLs `funnelcast plan` prints, draws its charts, and has no error on the page or in the
console. Leaves a screenshot in tests/screenshots/planner.png."""

from __future__ import annotations

import browser_support as bs
import pytest
from cli_support import cli_json
from test_browser_every_page import settle

from funnelcast.core import formats

pytestmark = pytest.mark.browser

# chance by MQLs, MQLs by threshold, backtest
PLANNER_CHARTS = 3


def test_the_served_planner_shows_the_cli_plan(chromium, served_app, demo_db, capsys):
    expected = cli_json(capsys, "plan", "--db", demo_db)
    problems: list[str] = []

    with bs.open_page(chromium, served_app, problems=problems) as page:
        bs.open_from_sidebar(page, "MQL Planner")
        page.get_by_text("How well past plans came true", exact=True).wait_for()
        # a loaded machine may show a run's charts before the run has ended and been redrawn:
        # count them once the run is over (the every-page test's settle), then all are there
        settle(page)
        page.locator(".js-plotly-plot .main-svg").nth(PLANNER_CHARTS - 1).wait_for()
        page.wait_for_timeout(1500)
        needed = bs.metric_value(page, "New MQLs needed (80%)")
        charts = page.locator(".js-plotly-plot").count()
        exceptions, errors = bs.shown_errors(page)
        bs.screenshot_main(page, bs.SCREENSHOTS / "planner.png")

    assert needed == formats.count(expected["required_mqls"]["p80"])
    assert charts == PLANNER_CHARTS
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
