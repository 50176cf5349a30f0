"""The attribution kept per data version (funnelcast.analytics.attribution_kept) must give exactly
the figures of crediting the touches again (attribution.load_credits, a batch at a time), at the
kept half-life and at any other, and must never be read once the data it was kept from changed.
"""

from __future__ import annotations

import contextlib
import shutil

import fixtures as fx
import polars as pl
import pytest

from funnelcast.analytics import attribution, attribution_kept, metrics, roi, rollups
from funnelcast.data import db

KEYS = list(attribution.CREDIT_KEYS)


def assert_same(
    got: tuple[pl.DataFrame, pl.DataFrame], expected: tuple[pl.DataFrame, pl.DataFrame]
):
    totals, deals = got
    want_totals, want_deals = expected
    assert totals.height == want_totals.height > 0
    assert totals.select(*KEYS, "revenue_cents").equals(want_totals.select(*KEYS, "revenue_cents"))
    assert totals["customers"].to_list() == pytest.approx(
        want_totals["customers"].to_list(), abs=1e-9
    )
    assert deals.height == want_deals.height > 0
    assert attribution.journeys(deals) == attribution.journeys(want_deals)
    for quarter in want_deals["quarter_start"].unique().to_list():
        assert attribution.journeys(deals, quarter_starts=[quarter]) == attribution.journeys(
            want_deals, quarter_starts=[quarter]
        )


def kept(cur, fy: int, half_life: float):
    return attribution_kept.read(cur, rollups.data_key(cur), fy, half_life)


@pytest.fixture()
def review():
    with contextlib.closing(fx.roi_review()) as con:
        yield con.cursor()


@pytest.mark.parametrize("half_life", [7.0, 0.5, 30.0, 120.0])
def test_the_kept_credits_are_the_credited_touches_on_hand_made_journeys(review, half_life):
    assert kept(review, 1, half_life) is None  # nothing kept yet
    rollups.refresh(review)
    expected = attribution.load_credits(review, 1, half_life, batch_leads=2)
    assert_same(kept(review, 1, half_life), expected)
    assert_same(attribution_kept.credit(review, 1, half_life), expected)


@pytest.mark.parametrize("half_life", [7.0, 3.0, 45.0])
def test_the_kept_credits_are_the_credited_touches_on_the_demo(demo_db, tmp_path, half_life):
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    con = db.connect(path)
    try:
        cur = con.cursor()
        db.set_meta(cur, "fiscal_year_start_month", "4")
        rollups.refresh(cur)
        expected = attribution.load_credits(cur, 4, half_life, batch_leads=50)
        assert_same(kept(cur, 4, half_life), expected)
        assert_same(attribution_kept.credit(cur, 4, half_life), expected)
        # the time-decay credits do move with the half-life (else the test could not fail)
        other = attribution.load_credits(cur, 4, half_life * 2, batch_leads=50)[0]
        decay = pl.col("model") == "time_decay"
        assert not expected[0].filter(decay).equals(other.filter(decay))
    finally:
        con.close()


def credited(report: dict) -> dict:
    """Return what the credits decide in a ROI report: revenue per channel and campaign, the
    models compared, the journeys."""
    return {
        "revenue": report["totals"]["revenue"],
        "channels": {r["channel"]: r["revenue"] for r in report["by_channel"]},
        "campaigns": {(r["channel"], r["campaign"]): r["revenue"] for r in report["by_campaign"]},
        "attribution": report["attribution"],
    }


def test_roi_load_reads_the_kept_credits_and_gives_the_same_report(demo_db, tmp_path):
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    con = db.connect(path)
    try:
        cur = con.cursor()
        ctx = metrics.load_context(cur)
        default = attribution.DEFAULT_HALF_LIFE_DAYS
        # nothing kept yet: credited from one scan of the events
        assert kept(cur, ctx.fy_start_month, default) is None
        plain = {h: roi.load(cur, ctx, h) for h in (default, 10.0)}
        rollups.refresh(cur)
        assert kept(cur, ctx.fy_start_month, default) is not None
        quarter = ctx.quarters[-2].label
        for half_life, before in plain.items():
            after = roi.load(cur, ctx, half_life)
            for model in attribution.MODEL_KEYS:
                for scope in (None, quarter):
                    got, want = (
                        credited(roi.report(ctx, inputs, quarter=scope, model=model))
                        for inputs in (after, before)
                    )
                    assert got == want
                    assert want["revenue"] > 0
    finally:
        con.close()


def _add_an_event(cur):
    cur.execute(
        "insert into events (lead_id, occurred_at, event_type, channel, campaign) "
        "select lead_id, created_at + interval 1 hour, 'webinar', 'events', 'spring' "
        "from leads order by lead_id limit 1"
    )


def _move_a_deal(cur):
    cur.execute(
        "update stage_changes set changed_at = changed_at - interval 1 day "
        "where stage = 'customer' and lead_id = (select min(lead_id) from stage_changes "
        "where stage = 'customer')"
    )


@pytest.mark.parametrize("change", [_add_an_event, _move_a_deal], ids=lambda f: f.__name__)
def test_the_kept_credits_are_never_read_once_the_data_changed(review, change):
    rollups.refresh(review)
    assert kept(review, 1, 7.0) is not None
    assert kept(review, 4, 7.0) is None  # another fiscal year
    change(review)
    assert kept(review, 1, 7.0) is None
    rollups.refresh(review)
    assert_same(kept(review, 1, 7.0), attribution.load_credits(review, 1, 7.0))


def test_nothing_kept_is_read_from_another_kind_of_cursor():
    assert attribution_kept.read(object(), "key", 1, 7.0) is None


def test_the_kept_payback_is_the_queried_one(review):
    rollups.refresh(review)
    queried = db.run(review, "spend_payback", fy_start_month=1)
    got = attribution_kept.read_payback(review, rollups.data_key(review), 1)
    assert got is not None and got.height == queried.height > 0
    assert got.sort(got.columns).equals(queried.sort(queried.columns))
    assert attribution_kept.read_payback(review, rollups.data_key(review), 4) is None
