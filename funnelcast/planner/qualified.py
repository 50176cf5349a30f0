"""Enough qualified leads? The MQLs the definition in force (or a what-if threshold) is
expected to bring per quarter, replayed by the Threshold Lab engine, set against the plan's
requirements: the chance of the target with them, and the highest threshold that still brings
the MQLs each level needs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import duckdb
import numpy as np
import polars as pl

from funnelcast import definitions, lab
from funnelcast.planner.history import History, PlanError
from funnelcast.planner.sizing import Plan

# The definition in force, its materialised history and its scores.
Engine = tuple[definitions.Definition, lab.Materialised, lab.Scores]


def lab_engine(cur: duckdb.DuckDBPyConnection, sample: float | None = None) -> Engine | None:
    """Return the definition in force with its materialised history and scores (None: none):
    of a share of leads when sample is given, else of all that fit in the memory the process
    may use (lab.budget)."""
    current = definitions.current(cur)
    if current is None:
        return None
    types = [rule.event_type for rule in current.behaviour_rules]
    chosen = lab.budget.plan(cur, types, lab.named_fields([current]), share=sample)
    m = lab.materialise_for(cur, current, sample=chosen)
    return current, m, lab.score(m, current)


def _odds(p: Plan, expected: float) -> dict[str, Any]:
    """Return the chance of the target with the expected MQLs, and per level whether they are
    enough."""
    return {
        "probability_of_target": p.probability(expected),
        "enough": {k: v is not None and expected >= v for k, v in p.required_mqls.items()},
    }


def qualified_leads(
    history: History,
    p: Plan,
    engine: Engine | None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Return the MQLs the definition is expected to produce per quarter (the mean of the recent
    complete quarters' replayed MQLs) at its threshold or a what-if one, the chance of the target
    with them, and per level the highest threshold whose volume meets the requirement, with the
    SQL rate it brings ("volume"), and the highest whose MQLs still meet the requirement once it
    is rescaled to the MQL-to-customer rate that threshold gives on the mature window
    ("customers": a looser threshold brings more MQLs, each less likely to buy)."""
    if engine is None:
        recent_mqls = [sum(history.cohort_mqls.get(q, {}).values()) for q in history.recent]
        expected = float(np.mean(recent_mqls)) if recent_mqls else 0.0
        return {
            "source": "recorded MQLs (no MQL definition is in force)",
            "definition": None,
            "threshold": None,
            "expected_mqls": expected,
            **_odds(p, expected),
            "threshold_for_required": None,
            "threshold_for_steady_state": None,
            "sample": None,
        }
    current, m, s = engine
    if threshold is not None and not (math.isfinite(threshold) and threshold >= 0):
        raise PlanError(f"what-if threshold must be a number of 0 or more, not {threshold:g}")
    t = float(current.threshold if threshold is None else threshold)
    known = {q.label for q in m.calendar.quarters}
    recent = [q for q in history.recent if q in known]
    window = [q for q in history.window if q in known]
    # a sampled history's volumes scaled to the whole data (lab.sampled); rates as sampled
    bt = lab.sampled.backtest(m, lab.backtest(m, s, t, recent))
    expected = float(cast(float, bt.quarters["mqls"].mean())) if not bt.quarters.is_empty() else 0.0
    thresholds = sorted(set(np.round(lab.default_thresholds(s), 6).tolist()) | {t})
    volume = lab.sampled.curve(m, lab.tradeoff_curve(m, s, recent, thresholds))
    quality = lab.sampled.curve(m, lab.tradeoff_curve(m, s, window, thresholds))
    n_recent = max(1, len(recent))
    curve = pl.DataFrame(
        {
            "threshold": volume["threshold"],
            "expected_mqls": volume["mqls"] / n_recent,
            "mql_to_sql": quality["mql_to_sql"],
            "mql_to_customer": quality["mql_to_customer"],
            "mqls_in_window": quality["mqls"],
        }
    )
    at_t = curve.filter(pl.col("threshold") == t).row(0, named=True)
    base_q = at_t["mql_to_customer"]
    by_threshold = curve.sort("threshold", descending=True).to_dicts()

    def highest(required: float, rescale: bool) -> dict[str, Any] | None:
        """Return the highest threshold whose MQLs reach the requirement (rescaled to its own
        MQL-to-customer rate when asked)."""
        for row in by_threshold:
            q = row["mql_to_customer"]
            if rescale and (not q or not base_q):
                continue
            need = required * base_q / q if rescale else required
            if row["expected_mqls"] >= need:
                return {**row, "required_mqls": need}
        return None

    def for_levels(requirements: Mapping[str, int | None]) -> dict[str, Any]:
        return {
            level: {"volume": highest(required, False), "customers": highest(required, True)}
            if required is not None
            else {"volume": None, "customers": None}
            for level, required in requirements.items()
        }

    return {
        "source": f"definition {current.definition_id} '{current.name}' replayed on "
        f"{recent[0]}–{recent[-1]}{m.sample.mark}"
        if recent
        else "no complete quarter",
        "sample": None if m.sample.is_whole else m.sample.share,
        "definition": {
            "definition_id": current.definition_id,
            "name": current.name,
            "threshold": float(current.threshold),
        },
        "threshold": t,
        "expected_mqls": expected,
        "mqls_per_quarter": dict(
            zip(bt.quarters["quarter"].to_list(), bt.quarters["mqls"].to_list())
        ),
        "mql_to_sql": at_t["mql_to_sql"],
        **_odds(p, expected),
        "threshold_for_required": for_levels(p.required_mqls),
        "threshold_for_steady_state": for_levels(p.required_mqls_steady_state),
        "curve": curve,
    }
