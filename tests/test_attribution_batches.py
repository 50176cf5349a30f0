"""roi.load credits the deals a batch of dealing leads at a time (attribution.load_credits) so
that memory stays bounded: it must give exactly the figures of the old path, which read every
deal's touches at once and credited them per touch (kept here as the oracle)."""

from __future__ import annotations

import contextlib

import fixtures as fx
import polars as pl
import pytest

from funnelcast.analytics import attribution
from funnelcast.data import db


def oracle(cur, fy: int, half_life: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The old path: every touch in one frame, credited per touch, then summed."""
    frame = attribution.touches(cur, fy, half_life)
    per_touch = attribution.credits(frame)
    totals = (
        per_touch.group_by(*attribution.CREDIT_KEYS)
        .agg(pl.col("revenue_cents").sum(), pl.col("customers").sum())
        .sort(*attribution.CREDIT_KEYS)
    )
    return totals, frame


def assert_same(cur, fy: int, half_life: float, batch_leads: int) -> None:
    expected, frame = oracle(cur, fy, half_life)
    got, deals = attribution.load_credits(cur, fy, half_life, batch_leads)
    assert got.height == expected.height > 0
    keys = list(attribution.CREDIT_KEYS)
    assert got.select(*keys, "revenue_cents").equals(expected.select(*keys, "revenue_cents"))
    assert got["customers"].to_list() == pytest.approx(expected["customers"].to_list(), abs=1e-9)
    assert deals.height == frame.select(*attribution.DEAL).unique().height
    assert attribution.journeys(deals) == attribution.journeys(frame)
    # every deal's credits still sum to its amount under every model
    amount = frame.group_by(*attribution.DEAL).agg(pl.col("amount_cents").first())
    for model in attribution.MODEL_KEYS:
        total = got.filter(pl.col("model") == model)["revenue_cents"].sum()
        assert total == amount["amount_cents"].sum()


@pytest.mark.parametrize("batch_leads", [1, 2, 3, 1000])
def test_batches_give_the_one_pass_figures_on_hand_made_journeys(batch_leads):
    with contextlib.closing(fx.roi_review()) as con:
        cur = con.cursor()
        assert len(attribution.batches(cur, batch_leads)) > (1 if batch_leads < 3 else 0)
        assert_same(cur, 1, 7.0, batch_leads)


@pytest.mark.parametrize("batch_leads", [7, 50])
def test_batches_give_the_one_pass_figures_on_the_demo(demo_db, batch_leads):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        assert len(attribution.batches(cur, batch_leads)) > 1
        assert_same(cur, 4, 30.0, batch_leads)
    finally:
        con.close()
