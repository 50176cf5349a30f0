"""The quarterly review and the ROI page in a real headless Chromium: the review written by
`funnelcast report` opens offline and draws every chart with no console error and no network
request; the served ROI page shows the scorecard `funnelcast roi` computes. Leaves screenshots
in tests/screenshots/report.png and tests/screenshots/roi.png."""

from __future__ import annotations

import browser_support as bs
import pytest
from cli_support import cli_json

from funnelcast import cli
from funnelcast.core import formats
from funnelcast.core.currency import Currency

pytestmark = pytest.mark.browser

QUARTER = "2026Q3"
# funnel, cost per stage, ROI by channel, attribution comparison, payback
REVIEW_CHARTS = 5


def test_the_review_renders_its_charts_offline(chromium, demo_db, tmp_path, capsys):
    out = tmp_path / "review.html"
    assert cli.main(["report", "--db", str(demo_db), "--quarter", QUARTER, "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: the quarterly review of {QUARTER}")
    expected = cli_json(capsys, "roi", "--db", demo_db, "--quarter", QUARTER)
    problems: list[str] = []
    requests: list[str] = []

    options = {"viewport": (1280, 900), "problems": problems, "requests": requests}
    with bs.open_page(chromium, out.as_uri(), **options) as page:
        page.locator(".js-plotly-plot .main-svg").nth(REVIEW_CHARTS - 1).wait_for()
        page.wait_for_timeout(800)
        charts = page.locator(".js-plotly-plot").count()
        bars = page.locator(".js-plotly-plot .barlayer .trace").count()
        funnel = page.locator(".js-plotly-plot .funnellayer .trace").count()
        scorecard = page.locator(".scorecard").inner_text()
        height = page.evaluate("document.body.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": height})
        page.wait_for_timeout(500)
        bs.SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(bs.SCREENSHOTS / "report.png"), full_page=True)

    assert charts == REVIEW_CHARTS
    assert funnel == 1
    assert bars >= 4 + 7 + 2  # cost per stage, one trace per model, spend and revenue so far
    assert scorecard == expected["scorecard"]["sentence"]
    assert not problems, problems
    # plotly.js is inline: the file asks nothing of the network
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []


def test_the_served_roi_page_shows_the_cli_scorecard(chromium, served_app, demo_db, capsys):
    expected = cli_json(capsys, "roi", "--db", demo_db, "--quarter", QUARTER)
    problems: list[str] = []

    with bs.open_page(chromium, served_app, problems=problems) as page:
        bs.open_from_sidebar(page, "ROI & attribution")
        page.get_by_text("Quarterly review", exact=True).wait_for()
        page.locator(".js-plotly-plot .main-svg").nth(3).wait_for()
        page.get_by_test_id("stDownloadButton").wait_for()
        page.wait_for_timeout(1500)
        spend = bs.metric_value(page, "Spend")
        headings = page.get_by_test_id("stHeading").all_inner_texts()
        exceptions, errors = bs.shown_errors(page)
        bs.screenshot_main(page, bs.SCREENSHOTS / "roi.png")

    assert spend == formats.money(expected["totals"]["spend"], Currency(expected["currency"]))
    assert expected["scorecard"]["sentence"] in headings
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
