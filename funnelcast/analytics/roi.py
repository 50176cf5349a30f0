"""What the budget bought: spend, volumes, cost per stage and ROI per channel, campaign and
quarter, with the change from the previous quarter and from the same quarter a year before;
revenue credited by an attribution model; and the payback of each quarter's spend so far.

SQL counts (queries/roi_by_channel_quarter.sql, spend_payback.sql, and the deals' credits:
attribution_credit_split.sql, kept per data version by funnelcast.analytics.attribution_kept);
this module sums, divides, compares and labels. `load` runs the queries once; `report` is pure
and gives what the ROI page shows and `funnelcast roi --format json` prints.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics import attribution, attribution_kept, metrics, rollups
from funnelcast.core import formats
from funnelcast.core.currency import USD, Currency
from funnelcast.core.periods import Quarter, quarter_of
from funnelcast.core.stats import rate, ratio
from funnelcast.data import db
from funnelcast.data.context import DataContext

COUNT_COLUMNS = (
    "count_leads", "count_mqls", "count_sqls", "count_customers", "count_mqls_reached_sql",
    "revenue", "spend",
)  # fmt: skip
NO_CAMPAIGN = "(none)"

DEFINITIONS = {
    "spend": "marketing spend whose period starts in the quarter",
    "leads, mqls, sqls, customers": "leads by their source channel (and campaign) that first "
    "reached the stage in the quarter; MQLs as the CRM recorded them",
    "revenue": "deals won in the quarter, credited to channels and campaigns by the chosen "
    "attribution model (first touch: the lead's source); every model sums to the same total",
    "source_revenue": "deals won in the quarter, by the lead's source channel (no model)",
    "cost_per_lead, cost_per_mql, cost_per_sql, cost_per_customer": "spend divided by the "
    "quarter's count; null without spend or without count",
    "roi": "(revenue - spend) / spend; null without spend",
    "change.vs_previous, change.vs_year_ago": "this quarter's value minus that quarter's; for "
    "roi and shares in fractions (0.05 = 5 points)",
    "scorecard.mql_to_sql": "cohort: of the quarter's MQLs, the share that reached SQL so far",
    "payback": "per quarter of spend: the revenue its new leads have won so far, whenever it "
    "closed; immature while the quarter is younger than 90% of past lead-to-customer journeys",
}


@dataclass(frozen=True)
class Inputs:
    """Everything the ROI figures are computed from, read once per database and half-life."""

    frame: pl.DataFrame  # roi_by_channel_quarter
    deals: pl.DataFrame  # attribution.deal_summary: one row per deal
    credits: pl.DataFrame  # attribution.credit_totals: per quarter, model, channel, campaign
    payback: pl.DataFrame  # spend_payback
    mql_to_sql_days: float  # 90% of MQL-to-SQL steps took at most this long
    lead_to_customer_days: float  # 90% of lead-to-customer journeys took at most this long
    half_life_days: float


def load(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    half_life_days: float = attribution.DEFAULT_HALF_LIFE_DAYS,
) -> Inputs:
    """Return the inputs of every ROI figure: run the queries once."""
    fy = ctx.fy_start_month
    key = rollups.data_key(cur) if isinstance(cur, duckdb.DuckDBPyConnection) else None
    credits, deals = _credits(cur, fy, half_life_days, key)
    # the recorded counts per quarter and campaign and the lags: kept per data version when
    # current (funnelcast.analytics.rollups), else from the raw tables, with the same answers
    kept = rollups.read_roi(cur, fy) or rollups.compute_roi(cur, fy)
    return Inputs(
        frame=kept.frame,
        deals=deals,
        credits=credits,
        payback=_payback(cur, fy, key),
        mql_to_sql_days=kept.mql_to_sql_days,
        lead_to_customer_days=kept.lead_to_customer_days,
        half_life_days=float(half_life_days),
    )


def _payback(cur: duckdb.DuckDBPyConnection, fy: int, key: str | None) -> pl.DataFrame:
    """Return spend_payback.sql's rows: kept with the attribution when current, else queried."""
    kept = attribution_kept.read_payback(cur, key, fy) if key is not None else None
    return kept if kept is not None else db.run(cur, "spend_payback", fy_start_month=fy)


def _credits(
    cur: duckdb.DuckDBPyConnection, fy: int, half_life_days: float, key: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the credit totals and deal rows: kept per data version when current
    (funnelcast.analytics.attribution_kept), else credited in one pass on DuckDB, else (Spark) a
    bounded batch of dealing leads at a time in Python; the same figures every way."""
    if key is None:  # not DuckDB (Spark)
        return attribution.load_credits(cur, fy, half_life_days)
    kept = attribution_kept.read(cur, key, fy, half_life_days)
    return kept or attribution_kept.credit(cur, fy, half_life_days)


# ----- figures -----


def cost_and_return(counts: dict[str, float], revenue: float) -> dict[str, Any]:
    """Return volumes, spend, revenue, cost per stage and ROI from summed counts."""
    spend = float(counts.get("spend", 0) or 0)
    cost = lambda n: ratio(spend, n) if spend > 0 else None  # noqa: E731
    return {
        "spend": round(spend, 2),
        "leads": int(counts.get("count_leads", 0)),
        "mqls": int(counts.get("count_mqls", 0)),
        "sqls": int(counts.get("count_sqls", 0)),
        "customers": int(counts.get("count_customers", 0)),
        "revenue": round(float(revenue), 2),
        "source_revenue": round(float(counts.get("revenue", 0) or 0), 2),
        "cost_per_lead": cost(counts.get("count_leads", 0)),
        "cost_per_mql": cost(counts.get("count_mqls", 0)),
        "cost_per_sql": cost(counts.get("count_sqls", 0)),
        "cost_per_customer": cost(counts.get("count_customers", 0)),
        "roi": ratio(float(revenue) - spend, spend) if spend > 0 else None,
    }


CHANGE_KEYS = ("spend", "leads", "mqls", "sqls", "customers", "revenue", "cost_per_lead",
               "cost_per_mql", "cost_per_sql", "cost_per_customer", "roi")  # fmt: skip


def change(current: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return current minus before for each compared figure (None where either is missing)."""
    if before is None:
        return None
    return {
        key: (
            current[key] - before[key]
            if current.get(key) is not None and before.get(key) is not None
            else None
        )
        for key in CHANGE_KEYS
    }


def _sum(frame: pl.DataFrame, keys: list[str]) -> dict[tuple, dict[str, float]]:
    """Return the count columns summed per key tuple."""
    if frame.is_empty():
        return {}
    grouped = frame.group_by(keys).agg(pl.col(c).sum() for c in COUNT_COLUMNS)
    return {tuple(r[k] for k in keys): r for r in grouped.to_dicts()}


def _credited(inputs: Inputs, starts: list[dt.date] | None, model: str, by: str) -> dict:
    """Return revenue credited by the model per channel (or (channel, campaign))."""
    table = attribution.credited(inputs.credits, quarter_starts=starts, by=by).filter(
        pl.col("model") == model
    )
    keys = ["channel"] if by == "channel" else ["channel", "campaign"]
    return {tuple(r[k] for k in keys): r["revenue"] for r in table.to_dicts()}


def _quarter_figures(
    inputs: Inputs, starts: list[dt.date] | None, model: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Return the totals and the per-channel figures over the given quarters (None: all)."""
    frame = inputs.frame
    if starts is not None:
        frame = frame.filter(pl.col("quarter_start").is_in(starts))
    per_channel = _sum(frame, ["channel"])
    credit = _credited(inputs, starts, model, "channel")
    channels = sorted({k[0] for k in per_channel} | {k[0] for k in credit})
    rows = {
        ch: cost_and_return(per_channel.get((ch,), {}), credit.get((ch,), 0.0)) for ch in channels
    }
    totals_counts = {c: sum(r.get(c, 0) for r in per_channel.values()) for c in COUNT_COLUMNS}
    totals = cost_and_return(totals_counts, sum(credit.values()))
    totals["count_mqls_reached_sql"] = int(totals_counts["count_mqls_reached_sql"])
    for ch in channels:
        rows[ch]["count_mqls_reached_sql"] = int(
            per_channel.get((ch,), {}).get("count_mqls_reached_sql", 0)
        )
    return totals, rows


def _campaign_rows(inputs: Inputs, starts: list[dt.date] | None, model: str) -> list[dict]:
    """Return one row per channel and campaign: volumes, spend, credited revenue, cost, ROI."""
    frame = inputs.frame
    if starts is not None:
        frame = frame.filter(pl.col("quarter_start").is_in(starts))
    counts = _sum(frame, ["channel", "campaign"])
    credit = _credited(inputs, starts, model, "campaign")
    keys = sorted(set(counts) | set(credit))
    return [
        {
            "channel": ch,
            "campaign": campaign or NO_CAMPAIGN,
            **cost_and_return(counts.get((ch, campaign), {}), credit.get((ch, campaign), 0.0)),
        }
        for ch, campaign in keys
    ]


def _is_past(quarter: Quarter, days: float, as_of: dt.datetime | None) -> bool:
    """Return whether `days` after the quarter's end lies on or before the as-of moment."""
    if as_of is None:
        return False
    return dt.datetime.combine(quarter.end, dt.time()) + dt.timedelta(days=days) <= as_of


def payback(ctx: DataContext, inputs: Inputs, channel: str | None = None) -> list[dict]:
    """Return per quarter of spend: spend, its new leads, what they have won so far and the
    ROI so far, marked immature while 90% of lead-to-customer journeys would not have closed."""
    frame = inputs.payback
    if channel is not None:
        frame = frame.filter(pl.col("channel") == channel)
    if frame.is_empty():
        return []
    per_quarter = (
        frame.group_by("quarter_start")
        .agg(pl.col(c).sum() for c in ("spend", "count_leads", "count_leads_reached_mql",
                                       "count_leads_reached_customer", "revenue_so_far"))
        .sort("quarter_start")
    )  # fmt: skip
    out = []
    for row in per_quarter.to_dicts():
        quarter = quarter_of(row["quarter_start"], ctx.fy_start_month)
        spend = float(row["spend"])
        revenue = float(row["revenue_so_far"])
        out.append(
            {
                "quarter": quarter.label,
                "spend": round(spend, 2),
                "leads": int(row["count_leads"]),
                "leads_reached_mql": int(row["count_leads_reached_mql"]),
                "customers_so_far": int(row["count_leads_reached_customer"]),
                "revenue_so_far": round(revenue, 2),
                "roi_so_far": ratio(revenue - spend, spend) if spend > 0 else None,
                "is_mature": _is_past(quarter, inputs.lead_to_customer_days, ctx.as_of),
            }
        )
    return out


def has_rows(ctx: DataContext, table: str) -> bool:
    """Return whether a canonical table has rows."""
    return bool(ctx.extent.get(table, {}).get("count_rows"))


def scorecard(
    quarter_label: str | None,
    totals: dict[str, Any],
    *,
    is_mature: bool,
    has_spend: bool,
    currency: Currency = USD,
) -> dict[str, Any]:
    """Return the sentence a marketing leader is judged on, with its figures and its n."""
    mql_to_sql = rate(totals["count_mqls_reached_sql"], totals["mqls"])
    period = "this quarter's" if quarter_label else "the whole history's"
    share = formats.share(mql_to_sql.value)
    if has_spend:
        sentence = (
            f"{quarter_label or 'All history'}: {period} budget of {formats.money(totals['spend'], currency)} "
            f"produced {formats.count(totals['mqls'])} MQLs; {share} became SQLs."
        )
    else:
        sentence = (
            f"{quarter_label or 'All history'}: no spend is loaded; the period produced "
            f"{formats.count(totals['mqls'])} MQLs; {share} became SQLs."
        )
    if not is_mature:
        sentence += " (so far: this cohort is still maturing)"
    return {
        "budget": totals["spend"] if has_spend else None,
        "mqls": totals["mqls"],
        "mqls_reached_sql": totals["count_mqls_reached_sql"],
        "mql_to_sql": mql_to_sql.as_dict(),
        "is_mature": is_mature,
        "sentence": sentence,
    }


def report(
    ctx: DataContext,
    inputs: Inputs,
    *,
    quarter: str | None = None,
    model: str = "first_touch",
) -> dict[str, Any]:
    """Return the ROI figures for a quarter (None: all history) with revenue credited by a
    model: totals, scorecard, channels, campaigns, the models side by side and the payback."""
    attribution.check_model(model)
    scope_quarter = ctx.quarter(quarter) if quarter else None
    fy = ctx.fy_start_month

    def known(q: Quarter) -> Quarter | None:
        return q if q in ctx.quarters else None

    previous = known(scope_quarter.previous(fy)) if scope_quarter else None
    year_ago = known(scope_quarter.shifted(-4, fy)) if scope_quarter else None
    starts = [scope_quarter.start] if scope_quarter else None

    totals, rows = _quarter_figures(inputs, starts, model)
    before = {
        name: _quarter_figures(inputs, [q.start], model) if q else None
        for name, q in (("previous", previous), ("year_ago", year_ago))
    }
    totals["change"] = {
        "vs_previous": change(totals, before["previous"][0]) if before["previous"] else None,
        "vs_year_ago": change(totals, before["year_ago"][0]) if before["year_ago"] else None,
    }
    by_channel = []
    for ch, row in rows.items():
        earlier = {name: (found[1].get(ch) if found else None) for name, found in before.items()}
        by_channel.append(
            {
                "channel": ch,
                **row,
                "previous": _brief(earlier["previous"]),
                "year_ago": _brief(earlier["year_ago"]),
                "change": {
                    "vs_previous": change(row, earlier["previous"]),
                    "vs_year_ago": change(row, earlier["year_ago"]),
                },
            }
        )

    has_spend = has_rows(ctx, "spend")
    has_events = has_rows(ctx, "events")
    is_mature = (
        _is_past(scope_quarter, inputs.mql_to_sql_days, ctx.as_of)
        if scope_quarter
        else all(_is_past(q, inputs.mql_to_sql_days, ctx.as_of) for q in ctx.quarters[-1:])
    )
    spend_by_channel = {ch: row["spend"] for ch, row in rows.items()}
    compared = attribution.comparison(inputs.credits, spend_by_channel, quarter_starts=starts)
    return {
        "scope": {
            "quarter": scope_quarter.label if scope_quarter else None,
            "period_start": scope_quarter.start.isoformat() if scope_quarter else None,
            "period_end": scope_quarter.end.isoformat() if scope_quarter else None,
            "previous_quarter": previous.label if previous else None,
            "year_ago_quarter": year_ago.label if year_ago else None,
            "as_of": ctx.as_of.isoformat() if ctx.as_of else None,
            "fiscal_year_start_month": fy,
            "model": model,
            "model_label": attribution.MODEL_LABELS[model],
            "half_life_days": inputs.half_life_days,
            "mql_source": "recorded",
            "has_spend": has_spend,
            "has_events": has_events,
            "has_stage_changes": has_rows(ctx, "stage_changes"),
            "attribution_basis": "touches" if has_events else "source only",
        },
        "scorecard": scorecard(
            scope_quarter.label if scope_quarter else None,
            totals,
            is_mature=is_mature,
            has_spend=has_spend,
            currency=ctx.currency,
        ),
        "currency": ctx.currency.code,
        "totals": totals,
        "by_channel": by_channel,
        "by_campaign": _campaign_rows(inputs, starts, model),
        "attribution": {
            "basis": "touches" if has_events else "source only",
            "half_life_days": inputs.half_life_days,
            "models": [
                {"key": m.key, "label": m.label, "rule": m.rule} for m in attribution.MODELS
            ],
            "journeys": attribution.journeys(inputs.deals, quarter_starts=starts),
            "by_channel": compared,
            "rank_changes": [r["channel"] for r in compared if r["rank_changes"]],
        },
        "payback": {
            "lead_to_customer_p90_days": round(inputs.lead_to_customer_days, 1),
            "by_quarter": payback(ctx, inputs),
        },
        "definitions": DEFINITIONS,
    }


def _brief(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return the figures a comparison quarter contributes to a channel row."""
    if row is None:
        return None
    return {k: row[k] for k in ("spend", "mqls", "revenue", "cost_per_mql", "roi")}


def roi(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    model: str = "first_touch",
    half_life_days: float = attribution.DEFAULT_HALF_LIFE_DAYS,
) -> dict[str, Any]:
    """Return report() for a database: what `funnelcast roi --format json` prints."""
    attribution.check_model(model)
    attribution.check_half_life(half_life_days)
    ctx = metrics.load_context(cur)
    if quarter:
        ctx.quarter(quarter)
    return report(ctx, load(cur, ctx, half_life_days), quarter=quarter, model=model)


# ----- tables as the page shows them (shares in %) -----


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def channel_table(result: dict[str, Any]) -> pl.DataFrame:
    """Return one row per channel and a total: volumes, spend, revenue, cost per stage, ROI and
    its change in points from the previous and the year-ago quarter."""

    def row(name: str, item: dict[str, Any]) -> dict[str, Any]:
        change = item["change"]
        return {
            "channel": name,
            **{k: item[k] for k in ("spend", "leads", "mqls", "sqls", "customers", "revenue",
                                    "cost_per_lead", "cost_per_mql", "cost_per_sql",
                                    "cost_per_customer")},
            "roi_pct": _pct(item["roi"]),
            "roi_vs_previous_pts": _pct((change["vs_previous"] or {}).get("roi")),
            "roi_vs_year_ago_pts": _pct((change["vs_year_ago"] or {}).get("roi")),
        }  # fmt: skip

    rows = [row(r["channel"], r) for r in result["by_channel"]]
    rows.append(row("Total", result["totals"]))
    schema = {
        "channel": pl.String, "spend": pl.Float64, "leads": pl.Int64, "mqls": pl.Int64,
        "sqls": pl.Int64, "customers": pl.Int64, "revenue": pl.Float64,
        "cost_per_lead": pl.Float64, "cost_per_mql": pl.Float64, "cost_per_sql": pl.Float64,
        "cost_per_customer": pl.Float64, "roi_pct": pl.Float64,
        "roi_vs_previous_pts": pl.Float64, "roi_vs_year_ago_pts": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def campaign_table(result: dict[str, Any], channel: str | None = None) -> pl.DataFrame:
    """Return one row per channel and campaign (of one channel, when given)."""
    keys = ("channel", "campaign", "spend", "leads", "mqls", "sqls", "customers", "revenue",
            "cost_per_mql", "cost_per_customer")  # fmt: skip
    rows = [
        {**{k: r[k] for k in keys}, "roi_pct": _pct(r["roi"])}
        for r in result["by_campaign"]
        if channel is None or r["channel"] == channel
    ]
    schema = {
        "channel": pl.String, "campaign": pl.String, "spend": pl.Float64, "leads": pl.Int64,
        "mqls": pl.Int64, "sqls": pl.Int64, "customers": pl.Int64, "revenue": pl.Float64,
        "cost_per_mql": pl.Float64, "cost_per_customer": pl.Float64, "roi_pct": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def attribution_table(result: dict[str, Any], value: str = "revenue") -> pl.DataFrame:
    """Return one row per channel with its revenue (or ROI in %, or rank) under each model and
    the rank-change flag."""
    if value not in ("revenue", "roi", "rank"):
        raise ValueError(f"not an attribution figure: {value!r}")
    rows = []
    for item in result["attribution"]["by_channel"]:
        cells = {}
        for model in attribution.MODEL_KEYS:
            found = item["models"][model][value]
            cells[model] = _pct(found) if value == "roi" else found
        flag = f"⚑ {item['rank_low']}–{item['rank_high']}" if item["rank_changes"] else ""
        rows.append({"channel": item["channel"], **cells, "rank_changes": flag})
    kind = pl.Int64 if value == "rank" else pl.Float64
    schema = {"channel": pl.String, **{m: kind for m in attribution.MODEL_KEYS},
              "rank_changes": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
