"""The Threshold Lab in a real browser: served with `streamlit run app.py` on the demo database
and opened in Debian's headless Chromium, its MQL volume for the default quarters is what
`funnelcast metrics --threshold` counts, before and after the slider is moved with the keyboard,
with no error on the page or in the console. Leaves a screenshot in tests/artifacts/lab.png."""

from __future__ import annotations

import browser_support as bs
import pytest
from cli_support import cli_json
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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


def test_a_numeric_rule_added_in_the_editor_changes_the_mqls_as_the_sql_counts(
    chromium, served_app, demo_db, capsys, tmp_path
):
    """Open the rule editor, add "Website visits ≥ 15: +60" (a custom attribute of the demo),
    and see the MQLs change to what the SQL counts for that draft once saved."""
    import shutil

    problems: list[str] = []
    shown: list[str] = []
    with bs.open_page(chromium, served_app, problems=problems, viewport=(1400, 1100)) as page:
        page.get_by_test_id("stMetric").first.wait_for()
        bs.open_from_sidebar(page, "Threshold Lab")
        page.get_by_role("heading", name="Threshold Lab").first.wait_for()
        card = bs.metric_card(page, "MQLs").first
        card.wait_for()
        shown.append(card.get_by_test_id("stMetricValue").inner_text())
        page.get_by_text("Points, caps and fit rules of the draft").click()
        page.get_by_text("Add a fit rule").wait_for()

        def choose(label: str, option: str) -> None:
            """Pick option in the selectbox labelled label. The list is virtualised: on a busy
            machine a row can be re-rendered while it is clicked (Playwright then waits on a
            detached element), so a try that fails closes the list and opens it again."""
            box = page.get_by_test_id("stSelectbox").filter(has_text=label).last
            for attempt in range(4):
                box.click()
                page.keyboard.type(option.split(" (")[0])  # the list filters as one types
                try:
                    page.get_by_role("listbox").get_by_role(
                        "option", name=option, exact=True
                    ).click(timeout=10_000)
                    break
                except PlaywrightTimeout:
                    page.keyboard.press("Escape")
                    if attempt == 3:
                        raise
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
            chosen = box.locator("input").input_value()
            assert chosen == option, chosen

        choose("Field", "Website visits (number)")
        page.get_by_text("leads have a value: from").first.wait_for()
        choose("Operator", "≥")

        # the "Add a fit rule" box's inputs: its Points is the first so labelled (the behaviour
        # box beside it has one too)
        def enter(label: str, text: str) -> None:
            field = page.get_by_label(label, exact=True).first
            field.fill(text)
            field.press("Enter")
            page.wait_for_timeout(700)  # the rerun the entry starts
            page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
            assert field.input_value() == f"{float(text):g}"  # points: no spurious decimals

        enter("Value", "15")
        enter("Points", "60")
        page.get_by_role("button", name="Add fit rule").click()
        page.get_by_text("Website visits ≥ 15").first.wait_for()
        # the rule's own points input shows the 60 given
        assert (
            page.get_by_test_id("stNumberInput")
            .filter(has_text="Website visits ≥ 15")
            .locator("input")
            .input_value()
            == "60"
        )
        page.get_by_test_id("stStatusWidget").wait_for(state="hidden")
        page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")
        shown.append(
            bs.metric_card(page, "MQLs").first.get_by_test_id("stMetricValue").inner_text()
        )
        problems += page.get_by_test_id("stException").all_inner_texts()
        bs.screenshot_main(page, bs.ARTIFACTS / "lab_rule_editor.png")

    # the same draft saved in a copy of the database: the SQL's MQLs over the same quarters
    copy = tmp_path / "draft.duckdb"
    shutil.copy(demo_db, copy)
    con = db.connect(copy)
    try:
        current = definitions.current(con.cursor())
        rule = definitions.FitRule("Website visits", 15.0, 60.0, op=">=")
        draft = definitions.Definition(
            name="with visits",
            threshold=current.threshold,
            half_life_days=current.half_life_days,
            fit_rules=(*current.fit_rules, rule),
            behaviour_rules=current.behaviour_rules,
        )
        definitions.save(con.cursor(), draft, QUARTERS[0], replace=True)
        con.execute("checkpoint")
    finally:
        con.close()
    assert not problems, problems
    assert shown[0] == f"{cli_mqls(capsys, demo_db, current.threshold):,}"
    assert shown[1] == f"{cli_mqls(capsys, copy, current.threshold):,}"
    assert int(shown[1].replace(",", "")) > int(shown[0].replace(",", ""))
