"""What the Overview page shows, without Streamlit: the default quarter, KPIs with their change,
the per-channel table and what is missing from the database.

Every number comes from funnelcast.metrics; this module picks, compares and labels them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl

from funnelcast.core import formats
from funnelcast.core.periods import Quarter
from funnelcast.data.context import DataContext


@dataclass(frozen=True)
class Kpi:
    """One headline figure: its value, the previous quarter's, and the rate behind it if any."""

    key: str
    label: str
    kind: str  # "count", "share" or "money": how it is formatted
    value: float | None
    previous: float | None
    delta: float | None
    relative: float | None  # delta / previous, for counts and money
    better: str  # "up", "down" or "neutral": which direction of change is good news
    note: str  # what it counts, in a few words
    rate: dict[str, Any] | None  # successes, n, low, high, is_small_sample for cohort rates


class KpiSpec(NamedTuple):
    """Which figure of a metrics result a KPI shows, and how it reads."""

    key: str
    label: str
    kind: str
    better: str
    note: str
    rate_key: str | None = None


KPI_SPECS = (
    KpiSpec("leads", "Leads", "count", "up", "created in the period"),
    KpiSpec("mqls", "MQLs", "count", "up", "first became MQL in the period"),
    KpiSpec("sqls", "SQLs", "count", "up", "reached SQL in the period"),
    KpiSpec("customers", "Customers", "count", "up", "won in the period"),
    KpiSpec("mql_to_sql", "MQL → SQL", "share", "up", "of the period's MQLs", "mql_to_sql"),
    KpiSpec(
        "sql_to_customer",
        "SQL → customer",
        "share",
        "up",
        "of the period's SQLs",
        "sql_to_customer",
    ),  # fmt: skip
    KpiSpec(
        "mql_to_customer",
        "MQL → customer",
        "share",
        "up",
        "of the period's MQLs",
        "mql_to_customer",
    ),  # fmt: skip
    KpiSpec("revenue", "Revenue", "money", "up", "deals won in the period"),
    KpiSpec("spend", "Spend", "money", "neutral", "marketing spend in the period"),
    KpiSpec("cost_per_mql", "Cost per MQL", "money", "down", "spend ÷ MQLs"),
    KpiSpec("roi", "ROI", "share", "up", "(revenue − spend) ÷ spend"),
)


def is_complete(quarter: Quarter, as_of: dt.datetime | None) -> bool:
    """Return whether the data reaches the quarter's last day.

    as_of names the day the data runs through (the demo stores a date), so a quarter is
    complete once as_of falls on or after its last day.
    """
    return as_of is not None and quarter.end <= as_of.date() + dt.timedelta(days=1)


def partial_quarters(ctx: DataContext) -> list[str]:
    """Return the labels of the data's quarters that the data does not yet cover to the end."""
    return [q.label for q in ctx.quarters if not is_complete(q, ctx.as_of)]


def default_quarter(ctx: DataContext) -> str | None:
    """Return the latest complete quarter (the latest quarter if none is), or None without data."""
    complete = [q for q in ctx.quarters if is_complete(q, ctx.as_of)]
    if complete:
        return complete[-1].label
    return ctx.quarters[-1].label if ctx.quarters else None


def period_of(ctx: DataContext, label: str | None) -> tuple[dt.date, dt.date] | None:
    """Return the first day and the day after the last of a quarter, or of all history."""
    if label is not None:
        quarter = ctx.quarter(label)
        return quarter.start, quarter.end
    if not ctx.quarters or ctx.as_of is None:
        return None
    return ctx.quarters[0].start, ctx.as_of.date() + dt.timedelta(days=1)


def previous_quarter(ctx: DataContext, label: str | None) -> str | None:
    """Return the label of the quarter before `label` when the data has it, else None."""
    if label is None:
        return None
    previous = ctx.quarter(label).previous(ctx.fy_start_month)
    return previous.label if previous in ctx.quarters else None


def kpis(current: dict[str, Any], previous: dict[str, Any] | None) -> list[Kpi]:
    """Return the headline KPIs of a metrics result, each with its change from `previous`."""
    out = []
    for spec in KPI_SPECS:
        value = current[spec.key]
        before = previous[spec.key] if previous is not None else None
        delta = value - before if value is not None and before is not None else None
        relative = delta / before if delta is not None and spec.kind != "share" and before else None
        rate = current["rates"][spec.rate_key] if spec.rate_key else None
        out.append(
            Kpi(
                spec.key,
                spec.label,
                spec.kind,
                value,
                before,
                delta,
                relative,
                spec.better,
                spec.note,
                rate,
            )  # fmt: skip
        )
    return out


def missing_inputs(ctx: DataContext) -> dict[str, str]:
    """Return, per canonical table the Overview reads that has no rows, what loading it gives."""
    needs = {
        "leads": "no leads loaded: load a leads export (one row per lead: lead_id, created_at, "
        "channel) to see volumes and conversion",
        "stage_changes": "no stage changes loaded: MQLs, SQLs, customers and revenue need the "
        "CRM's stage history (lead_id, stage, changed_at, amount)",
        "spend": "no spend loaded: cost and ROI need a spend export "
        "(period_start, channel, amount)",
    }
    return {
        table: message
        for table, message in needs.items()
        if not ctx.extent.get(table, {}).get("count_rows")
    }


def rate_basis(rate: dict[str, Any], *, short: bool = False) -> str:
    """Return what a rate rests on: its n, its 95% interval and a flag when n is small."""
    if short:
        ci = formats.interval(rate["low"], rate["high"], digits=0)
        return f"{'⚠ ' if rate['is_small_sample'] else ''}n {formats.count(rate['n'])} · {ci}"
    text = f"n = {formats.count(rate['n'])} · 95% CI {formats.interval(rate['low'], rate['high'])}"
    return text + (" · ⚠ small sample" if rate["is_small_sample"] else "")


def _percent(value: float | None) -> float | None:
    """Return a share in percent (0.25 -> 25.0), for tables that format with a % sign."""
    return None if value is None else value * 100


def channel_table(result: dict[str, Any]) -> pl.DataFrame:
    """Return one row per channel of a metrics result, as the page tabulates it (shares in %).

    SQLs have no column of their own: they are the n of SQL → customer.
    """
    rows = [
        {
            "channel": row["channel"],
            "leads": row["leads"],
            "mqls": row["mqls"],
            "customers": row["customers"],
            "mql_to_sql_pct": _percent(row["mql_to_sql"]),
            "mql_to_sql_basis": rate_basis(row["rates"]["mql_to_sql"], short=True),
            "sql_to_customer_pct": _percent(row["sql_to_customer"]),
            "sql_to_customer_basis": rate_basis(row["rates"]["sql_to_customer"], short=True),
            "revenue": row["revenue"],
            "spend": row["spend"],
            "cost_per_mql": row["cost_per_mql"],
            "roi_pct": _percent(row["roi"]),
        }
        for row in result["by_channel"]
    ]
    schema = {
        "channel": pl.String, "leads": pl.Int64, "mqls": pl.Int64, "customers": pl.Int64,
        "mql_to_sql_pct": pl.Float64, "mql_to_sql_basis": pl.String,
        "sql_to_customer_pct": pl.Float64, "sql_to_customer_basis": pl.String,
        "revenue": pl.Float64, "spend": pl.Float64, "cost_per_mql": pl.Float64,
        "roi_pct": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)
