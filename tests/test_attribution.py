"""Attribution on hand-made journeys: queries/attribution_touches.sql lists each deal's touches,
funnelcast.attribution credits them in whole cents under seven models. Every expected credit
below was worked out by hand (the comment says how); the credit sum is a property over random
journeys."""

from __future__ import annotations

import contextlib
import datetime as dt

import fixtures as fx
import polars as pl
import pytest
from fixtures import Journey, Touch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelcast.analytics import attribution

Q1 = [dt.date(2026, 1, 1)]


@pytest.fixture(scope="module")
def roi_db():
    """Return the ROI database (tests/fixtures.py) in memory, shared by this module's tests."""
    with contextlib.closing(fx.roi_review()) as con:
        yield con


@pytest.fixture(scope="module")
def touch_frame(roi_db):
    return attribution.touches(roi_db.cursor(), 1, 7.0)


def credits_by_touch(touch_frame: pl.DataFrame, lead_id: str) -> dict[str, list[int]]:
    """Return, per model, the cents credited to each touch of a lead's deal in touch order."""
    frame = attribution.credits(touch_frame).filter(pl.col("lead_id") == lead_id)
    return {
        model: frame.filter(pl.col("model") == model).sort("touch_index")["revenue_cents"].to_list()
        for model in attribution.MODEL_KEYS
    }


# ----- the touches a deal has -----


def test_a_deal_s_touches_are_its_source_and_its_events_up_to_the_deal(touch_frame):
    multi = touch_frame.filter(pl.col("lead_id") == "multi_touch_won").sort("touch_index")

    # the download at the lead's creation, through its source campaign, is the source touch
    # itself; the email of 5 Mar came after the deal of 1 Mar
    assert multi.select("touch_index", "channel", "campaign", "is_source").rows() == [
        (1, "search", "search-brand", True),
        (2, "email", "email-nurture", False),
        (3, "events", "events-webinars", False),
        (4, "email", "email-nurture", False),
        (5, "social", "social-linkedin", False),
    ]
    # MQL on 2 Feb: the webinar of 1 Feb is the last touch before it
    assert set(multi["mql_touch_index"]) == {3}
    assert set(multi["amount_cents"]) == {310_000}


def test_a_deal_without_mql_uses_its_last_touch_as_the_mql_touch(touch_frame):
    two = touch_frame.filter(pl.col("lead_id") == "two_touches_without_mql")

    assert two["mql_at"].to_list() == [None, None]
    assert set(two["mql_touch_index"]) == {2}


def test_an_event_without_a_channel_is_credited_to_the_lead_s_source():
    con = fx.build(
        [
            Journey(
                "silent_event",
                "2026-01-05",
                "events",
                attributes={"campaign": "expo"},
                stages=[("customer", "2026-02-01", 100)],
            )
        ]
    )
    fx.add_touches(con, [Touch("silent_event", "2026-01-10", "email_open", None)])

    frame = attribution.touches(con.cursor(), 1, 7.0)

    assert frame.select("touch_index", "channel", "campaign", "is_source").rows() == [
        (1, "events", "expo", True),
        (2, "events", "expo", False),
    ]


# ----- every model, by hand -----


def test_every_model_on_five_touches(touch_frame):
    # 3,100.00 = 310,000 cents over search, email, events (MQL touch), email, social
    assert credits_by_touch(touch_frame, "multi_touch_won") == {
        "first_touch": [310_000, 0, 0, 0, 0],
        "last_touch_mql": [0, 0, 310_000, 0, 0],
        "last_touch_deal": [0, 0, 0, 0, 310_000],
        # a fifth each
        "linear": [62_000] * 5,
        # 40% ends; 20% / 3 = 20,666.67 in the middle: floors leave 2 cents, which go to the
        # two earliest of the equal fractions
        "u_shaped": [124_000, 20_667, 20_667, 20_666, 124_000],
        # 30% first, MQL (3rd) and last; 10% / 2 on the other two
        "w_shaped": [93_000, 15_500, 93_000, 15_500, 93_000],
        # a week apart with a 7-day half-life: weights 1/16..1, shares 1, 2, 4, 8, 16 of 31
        "time_decay": [10_000, 20_000, 40_000, 80_000, 160_000],
    }


def test_every_model_on_two_touches_without_mql(touch_frame):
    # 999.99 = 99,999 cents over social (source, 1 Mar) and search (demo request, 3 Mar)
    assert credits_by_touch(touch_frame, "two_touches_without_mql") == {
        "first_touch": [99_999, 0],
        # no MQL: the last touch before the deal stands in
        "last_touch_mql": [0, 99_999],
        "last_touch_deal": [0, 99_999],
        # 49,999.5 each: the odd cent goes to the earlier touch
        "linear": [50_000, 49_999],
        # two touches: nothing between, so 50/50 like linear
        "u_shaped": [50_000, 49_999],
        # first 30%; last holds the last and the MQL role, 60%; no other touch, so the 10%
        # spreads over both: 35% / 65% = 34,999.65 / 64,999.35, the cent to the larger fraction
        "w_shaped": [35_000, 64_999],
        # 2 days before the last touch: weight 2^(-2/7) = 0.820335, share 0.450651
        # = 45,064.62 cents, and the odd cent
        "time_decay": [45_065, 54_934],
    }


def test_one_touch_takes_everything_under_every_model(touch_frame):
    assert credits_by_touch(touch_frame, "single_touch_won") == {
        model: [100_000] for model in attribution.MODEL_KEYS
    }


def test_channels_side_by_side_with_roi_and_rank_changes(touch_frame):
    spend = {"search": 1500.0, "email": 300.0, "events": 400.0, "social": 200.0, "display": 100.0}
    rows = {
        r["channel"]: r
        for r in attribution.comparison(attribution.credits(touch_frame), spend, quarter_starts=Q1)
    }

    revenue = {ch: [r["models"][m]["revenue"] for m in attribution.MODEL_KEYS]
               for ch, r in rows.items()}  # fmt: skip
    # sums of the per-touch credits above, per channel, in MODEL_KEYS order
    assert revenue == {
        "display": [0, 0, 0, 0, 0, 0, 0],
        "email": [0, 0, 0, 1240.00, 413.33, 310.00, 1000.00],
        "events": [0, 3100.00, 0, 620.00, 206.67, 930.00, 400.00],
        "referral": [1000.00] * 7,
        "search": [3100.00, 999.99, 999.99, 1119.99, 1739.99, 1579.99, 649.34],
        "social": [999.99, 0, 3100.00, 1120.00, 1740.00, 1280.00, 2050.65],
    }
    # every model hands out the same quarter's revenue
    assert {round(sum(v[i] for v in revenue.values()), 2) for i in range(7)} == {5099.99}
    ranks = {ch: [r["models"][m]["rank"] for m in attribution.MODEL_KEYS] for ch, r in rows.items()}
    assert ranks == {
        "display": [None] * 7,  # credited nothing by any model: not ranked, not flagged
        "email": [4, 4, 4, 1, 4, 5, 2],
        "events": [4, 1, 4, 5, 5, 4, 5],
        "referral": [2, 2, 2, 4, 3, 3, 2],  # ties 1,000.00 with email under time decay
        "search": [1, 3, 3, 3, 2, 1, 4],
        "social": [3, 4, 1, 2, 1, 2, 1],
    }
    assert {ch for ch, r in rows.items() if r["rank_changes"]} == {
        "email", "events", "referral", "search", "social",
    }  # fmt: skip
    # ROI under W-shaped: (1,579.99 - 1,500) / 1,500; referral has no spend
    assert rows["search"]["models"]["w_shaped"]["roi"] == pytest.approx(79.99 / 1500)
    assert rows["referral"]["models"]["w_shaped"]["roi"] is None
    assert rows["display"]["models"]["linear"]["roi"] == -1.0


def test_customers_are_credited_once_per_lead_by_model_weights(touch_frame):
    table = attribution.credited(attribution.credits(touch_frame), quarter_starts=Q1)
    linear = {
        r["channel"]: r["customers"] for r in table.filter(pl.col("model") == "linear").to_dicts()
    }

    # multi: a fifth each (email twice); two touches: a half each; single: referral
    assert linear == pytest.approx(
        {"search": 0.2 + 0.5, "email": 0.4, "events": 0.2, "social": 0.2 + 0.5, "referral": 1.0}
    )


def test_later_deals_of_a_customer_credit_revenue_but_no_customer():
    con = fx.build(
        [
            Journey(
                "buys_twice",
                "2026-01-05",
                "search",
                stages=[("customer", "2026-01-20", 100), ("customer", "2026-03-01", 50)],
            )
        ]
    )
    frame = attribution.credits(attribution.touches(con.cursor(), 1, 7.0))
    first = frame.filter(pl.col("model") == "first_touch").sort("deal_at")

    assert first.select("revenue_cents", "customers").rows() == [(10_000, 1.0), (5_000, 0.0)]


def test_journey_counts_name_the_edge_cases(touch_frame):
    assert attribution.journeys(touch_frame, quarter_starts=Q1) == {
        "deals": 3, "one_touch": 1, "two_touches": 1, "without_mql": 1, "source_only": 1,
        "median_touches": 2.0,
    }  # fmt: skip


def test_without_events_every_model_credits_the_source():
    con = fx.roi_review(events=False)
    rows = attribution.comparison(
        attribution.credits(attribution.touches(con.cursor(), 1, 7.0)), {}, quarter_starts=Q1
    )

    assert {r["channel"]: {r["models"][m]["revenue"] for m in attribution.MODEL_KEYS} for r in rows} == {
        "referral": {1000.0}, "search": {3100.0}, "social": {999.99},
    }  # fmt: skip
    assert not any(r["rank_changes"] for r in rows)


# ----- bad input -----


@pytest.mark.parametrize("days", [0, -3, float("nan"), float("inf")])
def test_a_half_life_must_be_positive(roi_db, days):
    with pytest.raises(attribution.AttributionInputError, match="half-life must be > 0"):
        attribution.touches(roi_db.cursor(), 1, days)


def test_an_unknown_model_is_refused_with_the_known_ones():
    with pytest.raises(
        attribution.AttributionInputError, match="unknown attribution model 'last'.*first_touch"
    ):
        attribution.check_model("last")


# ----- the credit sum, as properties -----


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**11),
            st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=12),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_allocated_cents_always_sum_to_the_amount(groups):
    rows = [
        {"lead_id": f"L{g}", "deal_at": 0, "touch_index": i + 1, "amount_cents": amount, "w": w}
        for g, (amount, weights) in enumerate(groups)
        for i, w in enumerate(weights)
    ]
    frame = pl.DataFrame(rows)
    frame = frame.with_columns(cents=attribution.allocate_cents(frame, "w"))

    sums = frame.group_by("lead_id").agg(pl.col("cents").sum(), pl.col("amount_cents").first())
    assert (sums["cents"] == sums["amount_cents"]).all()
    assert (frame["cents"] >= 0).all()
    # no touch is off its exact share by a cent or more
    exact = frame.with_columns(
        share=pl.when(pl.col("w").sum().over("lead_id") > 0)
        .then(pl.col("w") / pl.col("w").sum().over("lead_id"))
        .otherwise(1 / pl.len().over("lead_id"))
    )
    assert ((exact["cents"] - exact["amount_cents"] * exact["share"]).abs() < 1 + 1e-6).all()


CHANNELS = ("search", "email", "social", None)
moments = st.integers(0, 200).map(lambda d: dt.datetime(2026, 1, 1) + dt.timedelta(hours=12 * d))


@st.composite
def journeys(draw):
    """A random lead that won at least one deal: events through random channels (or none), at
    random moments (also before its creation, at the same moment, after the deal), an MQL
    before, after or without its deal."""
    count = draw(st.integers(1, 4))
    out = []
    for n in range(count):
        created = draw(moments)
        deal = draw(moments)
        stages = [("customer", deal.isoformat(), draw(st.integers(0, 10**8)) / 100)]
        if draw(st.booleans()):
            stages.append(("customer", (deal + dt.timedelta(days=30)).isoformat(),
                           draw(st.integers(0, 10**6)) / 100))  # fmt: skip
        mql = draw(st.one_of(st.none(), moments))
        if mql is not None:
            stages.append(("mql", mql.isoformat()))
        lead = f"L{n}"
        events = [
            Touch(lead, draw(moments).isoformat(), "touch", channel,
                  None if channel is None else f"{channel}-{draw(st.integers(0, 2))}")
            for channel in draw(st.lists(st.sampled_from(CHANNELS), max_size=8))
        ]  # fmt: skip
        out.append((Journey(lead, created.isoformat(), draw(st.sampled_from(CHANNELS[:3])),
                            stages=stages), events))  # fmt: skip
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(), st.floats(0.5, 90))
def test_a_customer_s_credits_sum_to_its_revenue_exactly_under_every_model(leads, half_life):
    con = fx.build([journey for journey, _ in leads])
    try:
        fx.add_touches(con, [t for _, touches in leads for t in touches])
        frame = attribution.touches(con.cursor(), 1, half_life)
        credit = attribution.credits(frame)
        recorded = fx.rows(
            con,
            "select cast(coalesce(sum(amount), 0) * 100 as bigint) from stage_changes "
            "where stage = 'customer'",
        )[0][0]
    finally:
        con.close()

    weights = [c for c in frame.columns if c.startswith("w_")]
    per_deal = frame.group_by("lead_id", "deal_at").agg(pl.col(w).sum() for w in weights)
    for w in weights:
        assert per_deal[w].to_list() == pytest.approx([1.0] * per_deal.height)
    sums = credit.group_by("lead_id", "deal_at", "model").agg(
        pl.col("revenue_cents").sum(),
        pl.col("amount_cents").first(),
        pl.col("customers").sum(),
        pl.col("is_first_deal").first(),
    )
    assert (sums["revenue_cents"] == sums["amount_cents"]).all()
    assert (credit["revenue_cents"] >= 0).all()
    assert sums.height == per_deal.height * len(attribution.MODEL_KEYS)
    # one customer per lead, under every model
    for row in sums.iter_rows(named=True):
        assert row["customers"] == pytest.approx(1.0 if row["is_first_deal"] else 0.0)
    # and every model hands out exactly the revenue the CRM recorded
    for model in attribution.MODEL_KEYS:
        total = credit.filter(pl.col("model") == model)["revenue_cents"].sum()
        assert total == recorded
