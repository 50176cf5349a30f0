"""The Threshold Lab held to a small memory budget, in a real browser: served with
`streamlit run app.py` and FUNNELCAST_LAB_MEMORY set so that about 40% of the demo's leads fit,
it says so in one sentence, marks its figures as from a 40% sample, and shows the MQLs of that
sample scaled up to the whole data (the same sample materialised by hand). Leaves a screenshot
in tests/artifacts/lab_sampled.png."""

from __future__ import annotations

import shutil

import browser_support as bs
import pytest
from budget_support import dashboard_types, memory_for_share

from funnelcast import definitions, lab
from funnelcast.analytics import metrics
from funnelcast.core import formats
from funnelcast.data import db
from funnelcast.lab import budget
from funnelcast.lab import page as tl

pytestmark = pytest.mark.browser
# a fresh server's first page, and the Lab's first open (the engine made ready, the sample
# materialised), on a busy machine
LAB_OPEN_MS = 240_000


def test_the_served_lab_on_a_small_budget_shows_a_sample_scaled(chromium, demo_db, tmp_path):
    path = tmp_path / "small.duckdb"  # its own file: no history kept beside the shared demo
    shutil.copy(demo_db, path)
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        current = definitions.current(cur)
        types = dashboard_types(cur, current)
        memory = memory_for_share(cur, current, types, 0.405)  # room for about 40% of the leads
        m = lab.materialise(
            cur, current.half_life_days, types, sample=budget.Sample(share=0.4, seed=budget.SEED)
        )
        lab.read_fields_for(m, cur, current)
        quarters = tl.default_quarters(metrics.load_context(cur))
        scored = lab.backtest(m, lab.score(m, current), current.threshold, quarters, 50.0)
    finally:
        con.close()
    by_hand = lab.sampled.backtest(m, scored)
    assert by_hand.totals["mqls"] != scored.totals["mqls"]  # the scaling shows

    problems: list[str] = []
    env = {"FUNNELCAST_DB": str(path), budget.MEMORY_ENV: str(memory)}
    with bs.serve_app(tmp_path / "streamlit.log", env) as (url, _):
        with bs.open_page(chromium, url, problems=problems) as page:
            page.get_by_test_id("stMetric").first.wait_for(timeout=LAB_OPEN_MS)
            bs.open_from_sidebar(page, "Threshold Lab")
            page.get_by_text("(from a 40% sample)").first.wait_for(timeout=LAB_OPEN_MS)
            page.get_by_role("heading", name="Who moves (from a 40% sample)").wait_for()
            card = bs.metric_card(page, "MQLs").first
            card.wait_for()
            mqls = card.get_by_test_id("stMetricValue").inner_text()
            sentence = page.get_by_test_id("stAlertContentInfo").all_inner_texts()
            marks = page.get_by_role("heading").filter(has_text="(from a 40% sample)")
            n_marks = marks.count()
            problems += page.get_by_test_id("stException").all_inner_texts()
            bs.screenshot_main(page, bs.ARTIFACTS / "lab_sampled.png")

    assert mqls == formats.count(by_hand.totals["mqls"])
    assert any("40% random sample of leads" in s and "scaled up" in s for s in sentence)
    assert not any("0.00 GB" in s for s in sentence)  # a small budget is said in MB
    assert n_marks == 2  # the draft's figures, and who moves
    assert not problems, problems
