"""What the MQL Planner page shows, and its cached calls: the plan for the chosen target, the
chance curve, the channel, cohort and backtest tables, and their figures.

The numbers come from funnelcast.planner (which the `plan` command prints); this module caches
them per database file and turns them into rows and Plotly figures. Figure and table builders
are pure: they take what funnelcast.planner returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from funnelcast import charts, definitions, planner
from funnelcast.analytics import metrics
from funnelcast.core import formats
from funnelcast.core.periods import Quarter
from funnelcast.ui import dashboard
from funnelcast.ui.dashboard import Database

# Widget keys: explicit, so that tests can set them and choices survive page changes.
QUARTER_KEY = "planner_quarter"
CUSTOMERS_KEY = "planner_customers"
REVENUE_KEY = "planner_revenue"
WINDOW_KEY = "planner_window"
THRESHOLD_KEY = "planner_threshold"
MIX_KEY = "planner_mix"
SAVE_KEY = "planner_save"
LOADED_KEY = "planner_loaded_quarter"
FLASH_KEY = "planner_flash"
PLANNABLE_QUARTERS = 4
MAX_WINDOW = 8
LEVEL_NAMES = {"p50": "50%", "p80": "80%", "p90": "90%"}


# ===== cached calls =====


@st.cache_data(show_spinner="Learning rates from history…")
def _history(_cur: duckdb.DuckDBPyConnection, key: str, window: int) -> planner.History:
    """Return funnelcast.planner.load_history, cached."""
    return planner.load_history(_cur, metrics.load_context(_cur), window=window)


def history(database: Database, window: int) -> planner.History:
    """Return what the planner learns from the database, with a window of mature quarters."""
    return _history(database.cursor, database.key, window)


@st.cache_data(show_spinner="Planning…", max_entries=32)
def _plan(
    _database: Database,
    key: str,
    quarter: str,
    customers: int | None,
    revenue: float | None,
    window: int,
    mix: tuple[tuple[str, float], ...] | None,
    threshold: float | None,
) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame | None]:
    """Return the plan summary, its chance curve and the definition's trade-off curve."""
    h = history(_database, window)
    target = planner.Target(quarter, customers, revenue)
    p = planner.plan(h, target, mix=dict(mix) if mix is not None else None)
    leads = planner.qualified_leads(h, p, engine(_database), threshold)
    return planner.summary(p, leads), chance_curve(p, leads["expected_mqls"]), leads.get("curve")


def engine(database: Database) -> tuple[Any, Any, Any] | None:
    """Return the definition in force with the Threshold Lab engine's materialised history and
    scores (None: no definition): the Lab's own cached ones, so the history is held once."""
    current = definitions.current(database.cursor)
    if current is None:
        return None
    return (
        current,
        dashboard.lab_materialised(database, current),
        dashboard.lab_scores(database, current),
    )


def plan(
    database: Database,
    quarter: str,
    customers: int | None,
    revenue: float | None,
    window: int,
    mix: Mapping[str, float] | None,
    threshold: float | None,
) -> tuple[dict[str, Any], pl.DataFrame, pl.DataFrame | None]:
    """Return the plan for a target as `funnelcast plan --format json` prints it, with the
    chance of the target by MQLs and the definition's MQLs and rates by threshold."""
    frozen = tuple(sorted(mix.items())) if mix is not None else None
    return _plan(database, database.key, quarter, customers, revenue, window, frozen, threshold)


@st.cache_data(show_spinner="Backtesting past plans…")
def _backtest(_cur: duckdb.DuckDBPyConnection, key: str, window: int) -> pl.DataFrame:
    """Return funnelcast.planner.backtest, cached."""
    return planner.backtest(_cur, window=window)


def backtest(database: Database, window: int) -> pl.DataFrame:
    """Return the backtest of past quarters' plans."""
    return _backtest(database.cursor, database.key, window)


@st.cache_data(show_spinner=False)
def _targets(_cur: duckdb.DuckDBPyConnection, key: str) -> pl.DataFrame:
    """Return the stored targets, cached."""
    return planner.stored_targets(_cur)


def targets(database: Database) -> pl.DataFrame:
    """Return every stored target."""
    return _targets(database.cursor, database.key)


@st.cache_data(show_spinner=False)
def _suggested(
    _cur: duckdb.DuckDBPyConnection, key: str, quarter: Quarter, fy_start_month: int
) -> tuple[planner.Target, dict[str, Any]] | None:
    """Return funnelcast.planner.from_last_year, cached."""
    return planner.from_last_year(_cur, quarter, fy_start_month)


def suggested(
    database: Database, quarter: Quarter, fy_start_month: int
) -> tuple[planner.Target, dict[str, Any]] | None:
    """Return the target history suggests for a quarter (last year's same quarter plus 10%)
    and the year-ago figures behind it; None when the data has no such quarter."""
    return _suggested(database.cursor, database.key, quarter, fy_start_month)


# ===== plain helpers =====


def about(value: float) -> str:
    """Return a count as a sentence says it: to the ten from 100 on (1,590), else whole."""
    return formats.count(round(value, -1) if value >= 100 else round(value))


def opening(result: dict[str, Any], currency: Any) -> str:
    """Return the plan in one plain sentence: the new MQLs an 80% chance of the target takes,
    and the MQLs the definition in force brings."""
    target = result["target"]
    wants = [
        *([f"{formats.count(target['customers'])} customers"] if target["customers"] else []),
        *([f"{formats.money(target['revenue'], currency)} revenue"] if target["revenue"] else []),
    ]
    future = " and ".join(result["future_quarters"])
    needed = result["required_mqls"]["p80"]
    text = f"To be 80% sure of {' and '.join(wants)} in {target['quarter']} you need about " + (
        f"**{about(needed)} new MQLs** in {future}"
        if needed is not None
        else "more new MQLs than any plan reaches"
    )
    expected = result["expected_mqls_current_definition"]
    if expected is None:
        return text + "."
    return (
        text + f"; at today's definition you will get about **{about(expected)}** a quarter, "
        f"a {formats.share(result['probability_of_target'], 0)} chance of the target."
    )


def plannable_quarters(h: planner.History, n: int = PLANNABLE_QUARTERS) -> list[Quarter]:
    """Return the next n quarters after the data's end: the ones a plan can be made for."""
    first = planner.default_quarter(h)
    return [first.shifted(i, h.fy_start_month) for i in range(n)]


def stored_values(frame: pl.DataFrame, quarter: Quarter) -> tuple[int | None, float | None]:
    """Return a quarter's stored (customers, revenue) target, (None, None) without one."""
    rows = frame.filter(pl.col("quarter_start") == quarter.start)
    if rows.is_empty():
        return None, None
    return rows["target_customers"][0], rows["target_revenue"][0]


def chance_curve(p: planner.Plan, expected: float, points: int = 60) -> pl.DataFrame:
    """Return the chance of the target by new MQLs per future quarter, from 0 to past the 90%
    requirement and the expected MQLs."""
    top = max([v for v in p.required_mqls.values() if v is not None] + [expected, 1.0])
    grid = sorted({round(top * 1.25 * i / (points - 1)) for i in range(points)})
    return pl.DataFrame({"mqls": grid, "probability": p.odds.probabilities(grid)})


def mix_frame(h: planner.History, mix: Mapping[str, float] | None = None) -> pl.DataFrame:
    """Return the channel mix as an editable table of shares in percent."""
    shares = planner.channel_mix(h, mix)
    return pl.DataFrame(
        {
            "channel": list(shares),
            "share_pct": [round(v * 100, 1) for v in shares.values()],
        }
    )


def mix_from(frame: Any, default: pl.DataFrame) -> dict[str, float] | None:
    """Return the edited mix as channel -> share, None while it equals the recent mix."""
    edited = pl.DataFrame(frame) if not isinstance(frame, pl.DataFrame) else frame
    if edited.equals(default):
        return None
    return {c: float(s or 0.0) for c, s in edited.select("channel", "share_pct").iter_rows()}


def _rate_text(r: dict[str, Any]) -> str:
    """Return a rate with its n and 95% interval, flagged when n is small."""
    flag = "⚠ " if r["is_small_sample"] else ""
    return (
        f"{flag}{formats.share(r['value'])} of {formats.count(r['n'])} "
        f"({formats.interval(r['low'], r['high'], 0)})"
    )


def borrowed(row: dict[str, Any]) -> str:
    """Return a note for a channel whose plan uses all channels' rates (none of its own)."""
    return " · plan uses all channels' rate" if row["rates_borrowed_from_all_channels"] else ""


def channel_table(result: dict[str, Any]) -> pl.DataFrame:
    """Return one row per channel: share, rates with n and interval, cost, MQLs and budget."""
    rows = [
        {
            "channel": r["channel"],
            "share_pct": r["mix_share"] * 100,
            "mql_to_sql": _rate_text(r["mql_to_sql"]) + borrowed(r),
            "sql_to_customer": _rate_text(r["sql_to_customer"]) + borrowed(r),
            "cost_per_mql": r["cost_per_mql"],
            "mqls_p80": r["mqls"]["p80"],
            "sqls_point": r["sqls_point"],
            "budget_p80": r["budget"]["p80"],
        }
        for r in result["per_channel"]
    ]
    schema = {
        "channel": pl.String,
        "share_pct": pl.Float64,
        "mql_to_sql": pl.String,
        "sql_to_customer": pl.String,
        "cost_per_mql": pl.Float64,
        "mqls_p80": pl.Float64,
        "sqls_point": pl.Float64,
        "budget_p80": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def cohort_table(result: dict[str, Any]) -> pl.DataFrame:
    """Return the MQL cohorts that feed the target quarter: MQLs in or needed, and what they
    are expected to bring."""
    rows = [
        {
            "quarter": c["quarter"],
            "status": {
                "to come": "needed (p50 point)",
                "in": "in the funnel",
                "so far, scaled": "so far, scaled to the quarter",
            }[c["status"]],
            "mqls": c["mqls"],
            "close_share_pct": c["close_share"] * 100,
            "expected_customers": c["expected_customers_in_target"],
        }
        for c in result["stage_lags"]["cohorts"]
    ]
    schema = {
        "quarter": pl.String,
        "status": pl.String,
        "mqls": pl.Float64,
        "close_share_pct": pl.Float64,
        "expected_customers": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def threshold_rows(result: dict[str, Any]) -> pl.DataFrame:
    """Return per requirement (the target quarter alone, the steady state) and chance level the
    highest threshold giving that many MQLs with its MQL-to-SQL rate, and the highest whose MQLs
    meet the requirement at their own, lower, conversion."""
    q = result["qualified_leads"]
    rows = []
    for basis, key, required in (
        (result["target"]["quarter"], "threshold_for_required", result["required_mqls"]),
        ("steady state", "threshold_for_steady_state", result["required_mqls_steady_state"]),
    ):
        found = q.get(key) or {}
        for level, name in LEVEL_NAMES.items():
            volume = (found.get(level) or {}).get("volume")
            customers = (found.get(level) or {}).get("customers")
            rows.append(
                {
                    "need": f"{name} · {basis}",
                    "required_mqls": required[level],
                    "threshold": volume["threshold"] if volume else None,
                    "mql_to_sql_pct": volume["mql_to_sql"] * 100
                    if volume and volume["mql_to_sql"] is not None
                    else None,
                    "threshold_at_its_rates": customers["threshold"] if customers else None,
                }
            )
    schema = {
        "need": pl.String,
        "required_mqls": pl.Float64,
        "threshold": pl.Float64,
        "mql_to_sql_pct": pl.Float64,
        "threshold_at_its_rates": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# ===== figures =====


def chance_figure(curve: pl.DataFrame, result: dict[str, Any]) -> go.Figure:
    """Return the chance of reaching the target by new MQLs, with the 50/80/90% requirements and
    the MQLs the current definition is expected to produce."""
    fig = charts._figure(
        f"Chance of reaching {result['target']['quarter']}'s target by new MQLs", 340
    )
    fig.add_trace(
        go.Scatter(
            x=curve["mqls"].to_list(),
            y=curve["probability"].to_list(),
            mode="lines",
            line=dict(color=charts.ACCENT, width=3),
            name="chance",
            hovertemplate="%{x:,} MQLs: %{y:.0%}<extra></extra>",
        )
    )
    for level, name in LEVEL_NAMES.items():
        value = result["required_mqls"][level]
        if value is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=[value],
                y=[int(name[:-1]) / 100],
                mode="markers+text",
                name=name,
                marker=dict(color=charts.INK, size=9),
                text=[f"{name}: {value:,}"],
                textposition="middle left",
                showlegend=False,
                hovertemplate=f"{name} chance: %{{x:,}} MQLs<extra></extra>",
            )
        )
    expected = result["expected_mqls_current_definition"]
    fig.add_vline(
        x=expected,
        line=dict(
            color=charts.LOSS if result["probability_of_target"] < 0.5 else charts.GAIN, dash="dash"
        ),
        annotation_text=f"expected {expected:,.0f}",
        annotation_position="top right",
    )
    fig.update_layout(
        showlegend=False,
        xaxis_title="new MQLs per quarter still to come",
        yaxis=dict(tickformat=".0%", range=[0, 1.05], title="chance"),
    )
    return fig


def threshold_figure(curve: pl.DataFrame, result: dict[str, Any]) -> go.Figure:
    """Return the definition's expected MQLs per quarter by threshold against the requirement."""
    q = result["qualified_leads"]
    fig = charts._figure("MQLs per quarter by threshold (current definition)", 320)
    fig.add_trace(
        go.Scatter(
            x=curve["threshold"].to_list(),
            y=curve["expected_mqls"].to_list(),
            mode="lines",
            line=dict(color=charts.ACCENT, width=3),
            name="expected MQLs",
            hovertemplate="threshold %{x:g}: %{y:,.0f} MQLs<extra></extra>",
        )
    )
    for need, text, position in (
        (result["required_mqls"]["p80"], f"{result['target']['quarter']}, 80%", "top right"),
        (result["required_mqls_steady_state"]["p80"], "steady state, 80%", "bottom right"),
    ):
        if need is not None:
            fig.add_hline(
                y=need,
                line=dict(color=charts.LOSS, dash="dot"),
                annotation_text=f"{text}: {need:,}",
                annotation_position=position,
            )
    if q.get("threshold") is not None:
        fig.add_vline(
            x=q["threshold"],
            line=dict(color=charts.MUTED, dash="dash"),
            annotation_text=f"threshold {q['threshold']:g}",
        )
    fig.update_layout(showlegend=False, xaxis_title="MQL threshold", yaxis_title="MQLs per quarter")
    return fig


def backtest_figure(frame: pl.DataFrame) -> go.Figure:
    """Return each backtested quarter's 80% and 90% ranges, point forecast and what happened."""
    fig = charts._figure("Backtest: predicted customers (ranges) against what happened", 340)
    x = frame["quarter"].to_list()
    for low, high, name, color, width in (
        ("low_90", "high_90", "90% range", "#bfdbfe", 0.5),
        ("low_80", "high_80", "80% range", "#60a5fa", 0.3),
    ):
        fig.add_trace(
            go.Bar(
                x=x,
                y=(frame[high] - frame[low]).to_list(),
                base=frame[low].to_list(),
                name=name,
                marker=dict(color=color),
                width=width,
                customdata=frame[high].to_list(),
                hovertemplate=f"{name}: %{{base:.0f}}–%{{customdata:.0f}}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["predicted"].to_list(),
            mode="markers",
            name="forecast",
            marker=dict(symbol="line-ew-open", size=22, color=charts.INK),
        )
    )
    hit = frame["in_80"].to_list()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["actual"].to_list(),
            mode="markers",
            name="won (red: outside the 80% range)",
            marker=dict(size=10, color=[charts.GAIN if h else charts.LOSS for h in hit]),
        )
    )
    fig.update_layout(barmode="overlay", yaxis_title="customers won in the quarter")
    return fig


def as_of_text(result: dict[str, Any]) -> str:
    """Return the data's last day as text."""
    return dt.datetime.fromisoformat(result["as_of"]).date().isoformat()
