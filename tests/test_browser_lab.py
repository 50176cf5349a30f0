"""The Threshold Lab in a real browser: served with `streamlit run app.py` on the demo database
and opened in Debian's headless Chromium, its MQL volume for the default quarters is what
`funnelcast metrics --threshold` counts, before and after the slider is moved with the keyboard,
with no error on the page or in the console. Leaves a screenshot in tests/artifacts/lab.png."""

from __future__ import annotations

import browser_support as bs
import pytest
from cli_support import cli_json

from funnelcast import definitions
from funnelcast.data import db

pytestmark = pytest.mark.browser
QUARTERS = ("2025Q4", "2026Q1", "2026Q2", "2026Q3")  # the Lab's default: last four complete


def cli_mqls(capsys, database, threshold: float) -> int:
    """Return the MQLs `funnelcast metrics --threshold` counts over the default quarters."""
    args = ("metrics", "--db", database, "--threshold", f"{threshold:g}")
    return sum(cli_json(capsys, *args, "--quarter", quarter)["mqls"] for quarter in QUARTERS)


def test_the_served_lab_shows_the_cli_mqls_as_the_slider_moves(
    chromium, served_app, demo_db, capsys
):
    con = db.connect(demo_db, read_only=True)
    try:
        start = definitions.current(con.cursor()).threshold
    finally:
        con.close()
    problems: list[str] = []
    shown: list[str] = []
    with bs.open_page(chromium, served_app, problems=problems) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        bs.open_from_sidebar(page, "Threshold Lab")
        page.get_by_role("heading", name="Threshold Lab").first.wait_for()

        def mqls() -> str:
            card = bs.metric_card(page, "MQLs").first
            card.wait_for()
            return card.get_by_test_id("stMetricValue").inner_text()

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
        bs.screenshot_main(page, bs.ARTIFACTS / "lab.png")

    assert shown[0] == f"{cli_mqls(capsys, demo_db, start):,}"
    assert moved_to == start + 5
    assert shown[1] == f"{cli_mqls(capsys, demo_db, start + 5):,}"
    assert not problems, problems
