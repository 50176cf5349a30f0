"""One real browser run: `streamlit run app.py` served on a free port, opened in Debian's
headless Chromium, shows the figures `funnelcast metrics` prints, with no error on the page
or in the console. Leaves a screenshot in tests/artifacts/overview.png.

The served app and the browser are tests/browser_support.py's; its names are also importable
from here for the tests that import them from this module."""

from __future__ import annotations

import pytest
from browser_support import (  # noqa: F401  (what tests that import it from here use)
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium,
    free_port,
    metric_value,
    open_page,
    screenshot_main,
    serve_app,
    shown_errors,
    wait_until_healthy,
)
from cli_support import cli_json

pytestmark = pytest.mark.browser


def test_served_overview_shows_the_cli_figures(chromium, served_app, demo_db, capsys):
    expected = cli_json(capsys, "metrics", "--db", demo_db, "--quarter", "2026Q3")
    problems: list[str] = []

    with open_page(chromium, served_app, problems=problems) as page:
        shown_mqls = metric_value(page, "MQLs in 2026Q3")
        # The last chart on the page is drawn once the whole script has run.
        page.locator(".js-plotly-plot .main-svg").nth(3).wait_for()
        page.get_by_test_id("stDataFrame").wait_for()
        page.wait_for_timeout(1000)  # let Plotly finish laying out before the screenshot
        exceptions, errors = shown_errors(page)
        screenshot_main(page, ARTIFACTS / "overview.png", settle_ms=500)

    assert shown_mqls == f"{expected['mqls']:,}"
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
