"""The demo's own MQL scorer (funnelcast.demo.mql) against the linear-time scorer it stands in
for (funnelcast.definitions.scoring.mql_moments): the same moments, to the microsecond, on
random histories full of ties (several events of a type at one moment, several types at one
moment, events at and before the lead's creation), disqualified leads, penalties and caps."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from funnelcast.definitions import scoring
from funnelcast.demo.mql import US_PER_DAY, mql_moments_us

# (name, points, cap) in the order of the names, as the scorer adds them up
RULES = [
    ("a_click", 3.0, 12.0),
    ("b_demo", 40.0, None),
    ("c_open", 1.0, 5.0),
    ("d_unsub", -25.0, None),
]


def _history(seed: int, leads: int, events: int, spread_days: float):
    rng = np.random.default_rng(seed)
    created = rng.integers(0, int(spread_days * US_PER_DAY), leads)
    # few distinct moments, so that ties are common; some events before creation
    lead = np.sort(rng.integers(0, leads, events))
    moment = created[lead] + (rng.integers(-3, 40, events) * US_PER_DAY // 4)
    kind = rng.choice(len(RULES), events, p=[0.35, 0.1, 0.45, 0.1])
    fit = rng.choice([-10.0, 0.0, 5.0, 15.0, 30.0, 45.0], leads)
    disqualified = rng.random(leads) < 0.1
    return created, fit, disqualified, lead, moment, kind


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("threshold", [20.0, 45.0, 65.0])
def test_the_demo_scorer_gives_the_scorers_moments(seed, threshold):
    created, fit, disqualified, lead, moment, kind = _history(seed, 400, 6000, 60.0)
    ids = [f"L{i + 1:07d}" for i in range(len(created))]
    fit_frame = pl.DataFrame(
        {
            "lead_id": ids,
            "created_at": pl.Series(created).cast(pl.Datetime("us")),
            "fit_points": fit,
            "is_disqualified": disqualified,
        }
    )
    names = [name for name, _, _ in RULES]
    events = (
        pl.DataFrame(
            {
                "lead_id": [ids[i] for i in lead],
                "event_type": [names[k] for k in kind],
                "occurred_at": pl.Series(moment).cast(pl.Datetime("us")),
            }
        )
        .group_by("lead_id", "event_type", "occurred_at")
        .agg(pl.len().cast(pl.Int64).alias("count_events"))
        .join(
            pl.DataFrame(
                {
                    "event_type": names,
                    "points": [p for _, p, _ in RULES],
                    "cap_points": [c for _, _, c in RULES],
                }
            ),
            on="event_type",
        )
    )
    expected = scoring.mql_moments(fit_frame, events, threshold=threshold, half_life_days=7.0)
    got = mql_moments_us(
        created_us=created,
        fit_points=fit,
        disqualified=disqualified,
        lead=lead,
        occurred_us=moment,
        event_type=kind,
        rules=[(p, c) for _, p, c in RULES],
        threshold=threshold,
        half_life_days=7.0,
    )
    want = np.full(len(created), -1, dtype=np.int64)
    index = expected["lead_id"].str.slice(1).cast(int).to_numpy() - 1
    want[index] = expected["mql_at"].dt.epoch("us").to_numpy()
    assert 0 < (want >= 0).sum() < len(created)  # some leads reach the threshold, not all
    assert np.array_equal(got, want)


def test_events_out_of_second_order_are_sorted_all_the_same():
    created, fit, disqualified, lead, moment, kind = _history(4, 200, 3000, 30.0)
    rules = [(p, c) for _, p, c in RULES]
    common = dict(created_us=created, fit_points=fit, disqualified=disqualified, rules=rules)
    common.update(threshold=45.0, half_life_days=7.0)
    in_order = mql_moments_us(lead=lead, occurred_us=moment, event_type=kind, **common)
    shuffled = np.random.default_rng(0).permutation(len(lead))
    out_of_order = mql_moments_us(
        lead=lead[shuffled], occurred_us=moment[shuffled], event_type=kind[shuffled], **common
    )
    assert np.array_equal(in_order, out_of_order)
