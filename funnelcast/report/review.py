"""The quarterly review: one self-contained HTML file of a quarter to take into a meeting —
the scorecard, KPIs with their change, the plan against actuals, the funnel, ROI and cost per
channel, the attribution models side by side and the payback of spend.

`collect` reads the database (through funnelcast.metrics and funnelcast.roi); `render` is pure
and embeds plotly.js inline, so the file opens offline, without any network. Every amount in it
carries the database's currency.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import plotly.io as pio
import plotly.offline

from funnelcast import charts
from funnelcast.analytics import attribution, metrics, overview, roi
from funnelcast.charts import roi_figures as roi_charts
from funnelcast.core import formats
from funnelcast.core.currency import Currency
from funnelcast.core.stats import MIN_N
from funnelcast.data import db
from funnelcast.data.context import DataContext

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class ReportData:
    """Everything the review shows, read from the database; rendering needs nothing else."""

    quarter: str
    period: str
    as_of: str | None
    is_complete: bool
    roi: dict[str, Any]  # funnelcast.roi.report for the quarter
    current: dict[str, Any]  # funnelcast.metrics.summarize for the quarter
    previous: dict[str, Any] | None
    year_ago: dict[str, Any] | None
    target: dict[str, Any] | None  # the targets row of the quarter
    has_targets: bool
    source: str  # the database it was made from
    currency: Currency  # of every amount


def collect(
    cur: duckdb.DuckDBPyConnection,
    ctx: DataContext,
    inputs: roi.Inputs,
    *,
    quarter: str,
    model: str = "first_touch",
    source: str = "",
) -> ReportData:
    """Return the data of the review of a quarter."""
    q = ctx.quarter(quarter)
    report = roi.report(ctx, inputs, quarter=quarter, model=model)
    frame = metrics.funnel_by_quarter(cur, ctx)
    scope = report["scope"]

    def summary(label: str | None) -> dict[str, Any] | None:
        return metrics.summarize(ctx, frame, quarter=label) if label else None

    targets = db.run(cur, "quarter_target", quarter_start=q.start).to_dicts()
    return ReportData(
        quarter=q.label,
        period=formats.period(q.start, q.end),
        as_of=ctx.as_of.date().isoformat() if ctx.as_of else None,
        is_complete=overview.is_complete(q, ctx.as_of),
        roi=report,
        current=metrics.summarize(ctx, frame, quarter=q.label),
        previous=summary(scope["previous_quarter"]),
        year_ago=summary(scope["year_ago_quarter"]),
        target=targets[0] if targets else None,
        has_targets=roi.has_rows(ctx, "targets"),
        source=source,
        currency=ctx.currency,
    )


def build(
    cur: duckdb.DuckDBPyConnection,
    *,
    quarter: str | None = None,
    model: str = "first_touch",
    half_life_days: float = attribution.DEFAULT_HALF_LIFE_DAYS,
    source: str = "",
) -> tuple[str, str]:
    """Return (quarter label, HTML) of the review of a quarter (default: the latest complete)."""
    attribution.check_model(model)
    attribution.check_half_life(half_life_days)
    ctx = metrics.load_context(cur)
    label = quarter or overview.default_quarter(ctx)
    if label is None:
        raise db.FunnelcastError("the database holds no leads: there is no quarter to review")
    ctx.quarter(label)
    inputs = roi.load(cur, ctx, half_life_days)
    data = collect(cur, ctx, inputs, quarter=label, model=model, source=source)
    return data.quarter, render(data)


# ===== rendering =====

CSS = """
body { font-family: Inter, 'Source Sans Pro', 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
       color: #1f2937; margin: 0; background: #f8fafc; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; background: white; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 34px 0 6px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.muted, .note { color: #6b7280; font-size: 13px; }
.note { margin: 4px 0 10px; }
.scorecard { font-size: 20px; margin: 18px 0; padding: 14px 18px; background: #eff6ff;
             border-left: 4px solid #2563eb; }
.warning { background: #fffbeb; border-left: 4px solid #f59e0b; padding: 8px 12px; margin: 8px 0;
           font-size: 14px; }
.kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 10px; }
.kpi { border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 12px; }
.kpi .label { font-size: 13px; color: #6b7280; }
.kpi .value { font-size: 24px; font-weight: 600; margin: 2px 0; }
.kpi .change { font-size: 12px; }
.good { color: #15803d; } .bad { color: #b91c1c; } .neutral { color: #6b7280; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
th, td { padding: 5px 7px; border-bottom: 1px solid #e5e7eb; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f1f5f9; font-weight: 600; }
tr.total td { font-weight: 600; border-top: 2px solid #94a3b8; }
.two { display: grid; grid-template-columns: 2fr 3fr; gap: 16px; align-items: start; }
.chart { min-height: 300px; }
.plan td:first-child { width: 30%; }
@media print { body { background: white; } main { padding: 0; } .chart { break-inside: avoid; } }
"""


def _e(text: Any) -> str:
    """Return text escaped for HTML."""
    return html.escape(str(text))


def _figure(fig) -> str:
    """Return a figure as an HTML fragment that uses the inline plotly.js."""
    return (
        '<div class="chart">'
        + pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG)
        + "</div>"
    )


def _tone(delta: float | None, better: str) -> str:
    """Return the CSS class of a change: good, bad or neutral news."""
    if not delta or better == "neutral":
        return "neutral"
    return "good" if (delta > 0) == (better == "up") else "bad"


def _kpi_tiles(data: ReportData) -> str:
    """Return the KPI grid: each figure with its change from the previous and year-ago quarter."""
    scope = data.roi["scope"]
    now = overview.kpis(data.current, data.previous)
    year = overview.kpis(data.current, data.year_ago)
    tiles = []
    for kpi, kpi_year in zip(now, year):
        lines = []
        for label, k in ((scope["previous_quarter"], kpi), (scope["year_ago_quarter"], kpi_year)):
            if label is None:
                continue
            text = formats.change(k.delta, k.kind, k.relative, data.currency)
            if text is not None:
                lines.append(
                    f'<div class="change {_tone(k.delta, k.better)}">{_e(text)} vs {_e(label)}</div>'
                )
        basis = overview.rate_basis(kpi.rate) if kpi.rate else kpi.note
        tiles.append(
            f'<div class="kpi"><div class="label">{_e(kpi.label)}</div>'
            f'<div class="value">{_e(formats.by_kind(kpi.value, kpi.kind, data.currency))}</div>'
            f'{"".join(lines)}<div class="muted">{_e(basis)}</div></div>'
        )
    return f'<div class="kpis">{"".join(tiles)}</div>'


def _plan(data: ReportData) -> str:
    """Return the plan against actuals, or a line saying there is no plan for the quarter."""
    if data.target is None:
        where = (
            f"the targets table has no row for {data.quarter}"
            if data.has_targets
            else "no targets are loaded (targets: quarter_start, target_customers, target_revenue)"
        )
        return f'<p class="note">No plan for this quarter: {_e(where)}.</p>'
    rows = []
    for label, target, actual, kind in (
        ("Customers", data.target.get("target_customers"), data.current["customers"], "count"),
        ("Revenue", data.target.get("target_revenue"), data.current["revenue"], "money"),
    ):
        if target is None:
            continue
        reached = actual / target if target else None
        tone = "good" if reached is not None and reached >= 1 else "bad"
        shown = [formats.by_kind(v, kind, data.currency) for v in (target, actual, actual - target)]
        rows.append(
            f"<tr><td>{label}</td><td>{_e(shown[0])}</td><td>{_e(shown[1])}</td>"
            f'<td class="{tone}">{_e(formats.share(reached, 0))}</td><td>{_e(shown[2])}</td></tr>'
        )
    so_far = "" if data.is_complete else " The quarter is not over: actuals are to date."
    return (
        '<table class="plan"><tr><th>Plan</th><th>Target</th><th>Actual</th><th>of target</th>'
        f"<th>Gap</th></tr>{''.join(rows)}</table>"
        f'<p class="note">Actuals: customers won and deal revenue in the quarter.{so_far}</p>'
    )


def _points(value: float | None) -> str:
    """Return a change of ROI in percentage points, signed."""
    return formats.DASH if value is None else formats.signed(f"{value * 100:,.0f} pts")


def _channel_table(report: dict[str, Any], currency: Currency) -> str:
    """Return the ROI and cost-per-stage table, one row per channel and a total."""
    scope = report["scope"]

    def _money(value: float | None) -> str:
        return formats.money(value, currency)

    head = ["Channel", "Spend", "Leads", "MQLs", "SQLs", "Customers", "Revenue", "Cost/lead",
            "Cost/MQL", "Cost/SQL", "Cost/customer", "ROI"]  # fmt: skip
    if scope["previous_quarter"]:
        head.append(f"ROI vs {scope['previous_quarter']}")
    if scope["year_ago_quarter"]:
        head.append(f"ROI vs {scope['year_ago_quarter']}")

    def cells(row: dict[str, Any]) -> list[str]:
        out = [
            _money(row["spend"]), formats.count(row["leads"]), formats.count(row["mqls"]),
            formats.count(row["sqls"]), formats.count(row["customers"]), _money(row["revenue"]),
            _money(row["cost_per_lead"]), _money(row["cost_per_mql"]),
            _money(row["cost_per_sql"]), _money(row["cost_per_customer"]),
            "no spend" if row["roi"] is None else formats.share(row["roi"], 0),
        ]  # fmt: skip
        for key, label in (
            ("vs_previous", "previous_quarter"),
            ("vs_year_ago", "year_ago_quarter"),
        ):
            if scope[label]:
                delta = (row["change"][key] or {}).get("roi") if row["change"][key] else None
                out.append(_points(delta))
        return out

    body = [
        f"<tr><td>{_e(r['channel'])}</td>"
        + "".join(f"<td>{_e(c)}</td>" for c in cells(r))
        + "</tr>"
        for r in report["by_channel"]
    ]
    total = report["totals"]
    body.append(
        '<tr class="total"><td>Total</td>'
        + "".join(f"<td>{_e(c)}</td>" for c in cells({**total, "change": total["change"]}))
        + "</tr>"
    )
    return (
        "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
        + "".join(body) + "</table>"
    )  # fmt: skip


def _attribution_table(report: dict[str, Any], currency: Currency) -> str:
    """Return revenue per channel under each model with its rank, and the rank-change flag."""
    head = ["Channel", *(m.label for m in attribution.MODELS), "Rank changes"]
    body = []
    for row in report["attribution"]["by_channel"]:
        cells = [
            formats.money(row["models"][m]["revenue"], currency)
            + (f" (#{row['models'][m]['rank']})" if row["models"][m]["rank"] else "")
            for m in attribution.MODEL_KEYS
        ]
        flag = f"⚑ ranks {row['rank_low']}–{row['rank_high']}" if row["rank_changes"] else "—"
        body.append(
            f"<tr><td>{_e(row['channel'])}</td>"
            + "".join(f"<td>{_e(c)}</td>" for c in cells)
            + f"<td>{_e(flag)}</td></tr>"
        )
    roi_row = []
    for row in report["attribution"]["by_channel"]:
        rois = [
            "no spend"
            if row["models"][m]["roi"] is None
            else formats.share(row["models"][m]["roi"], 0)
            for m in attribution.MODEL_KEYS
        ]
        roi_row.append(
            f"<tr><td>{_e(row['channel'])}</td>" + "".join(f"<td>{_e(c)}</td>" for c in rois)
            + "<td></td></tr>"
        )  # fmt: skip
    header = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
    return (
        f"<table>{header}{''.join(body)}</table>"
        '<p class="note">ROI under each model: (revenue credited − spend) ÷ spend.</p>'
        f"<table>{header.replace('Rank changes', '')}{''.join(roi_row)}</table>"
    )


def attribution_notes(report: dict[str, Any]) -> list[str]:
    """Return what a reader must know about the attribution: its basis and its edge cases."""
    att = report["attribution"]
    journeys = att["journeys"]
    notes = []
    if att["basis"] == "source only":
        notes.append(
            "No events are loaded, so every deal has a single touch, its lead's source: every "
            "model credits the source channel, and the models agree. Load events (lead_id, "
            "occurred_at, event_type, channel, campaign) to compare them."
        )
    notes.append(
        f"{formats.count(journeys['deals'])} deals in scope"
        + (
            f", a median of {journeys['median_touches']:g} touches each"
            if journeys["deals"]
            else ""
        )
        + f"; {formats.count(journeys['one_touch'])} with one touch (every model gives it all), "
        f"{formats.count(journeys['two_touches'])} with two (U-shaped splits them 50/50), "
        f"{formats.count(journeys['without_mql'])} without an MQL before the deal (the last touch before the "
        "deal stands in for the MQL touch)."
    )
    if att["rank_changes"]:
        notes.append(
            "⚑ The ranking depends on the model for: " + ", ".join(att["rank_changes"]) + "."
        )
    return notes


def _payback_table(rows: list[dict[str, Any]], currency: Currency) -> str:
    """Return spend, leads, customers, revenue so far and ROI so far per spend quarter."""

    def _money(value: float | None) -> str:
        return formats.money(value, currency)

    head = ["Quarter", "Spend", "Leads", "Customers so far", "Revenue so far", "ROI so far", ""]
    body = [
        f"<tr><td>{_e(r['quarter'])}</td><td>{_e(_money(r['spend']))}</td>"
        f"<td>{_e(formats.count(r['leads']))}</td><td>{_e(formats.count(r['customers_so_far']))}</td>"
        f"<td>{_e(_money(r['revenue_so_far']))}</td>"
        f"<td>{_e('no spend' if r['roi_so_far'] is None else formats.share(r['roi_so_far'], 0))}</td>"
        f"<td>{'' if r['is_mature'] else 'maturing'}</td></tr>"
        for r in rows
    ]
    return (
        "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"
        + "".join(body) + "</table>"
    )  # fmt: skip


def render(data: ReportData) -> str:
    """Return the review as one HTML document with plotly.js and every chart inline."""
    report = data.roi
    scope = report["scope"]
    currency = data.currency
    compare = ", ".join(
        f"against {label}"
        for label in (scope["previous_quarter"], scope["year_ago_quarter"])
        if label
    )
    definition = data.current["scope"]["definition"]
    warnings = []
    if not data.is_complete:
        warnings.append(f"{data.quarter} is not over: the data runs to {data.as_of}.")
    if data.current["scope"]["cohort_is_mature"] is False:
        warnings.append(
            "The quarter's conversion rates will still rise: its MQLs had less time than most "
            "past journeys took to close. A lower rate is not yet a decline."
        )
    if not scope["has_spend"]:
        warnings.append(
            "No spend is loaded: cost and ROI need a spend export (period_start, channel, "
            "campaign, amount). Revenue and volumes are shown."
        )
    if not scope["has_stage_changes"]:
        warnings.append(
            "No stage changes are loaded: MQLs, SQLs, customers and revenue need the CRM's "
            "stage history."
        )
    sections = [
        f"<h1>Quarterly review · {_e(data.quarter)}</h1>",
        f'<div class="muted">{_e(data.period)} · data as of {_e(data.as_of)}'
        + f" · amounts in {_e(currency.label)}"
        + (f" · changes {_e(compare)}" if compare else "")
        + (f" · {_e(data.source)}" if data.source else "")
        + "</div>",
        f'<div class="scorecard">{_e(report["scorecard"]["sentence"])}</div>',
        *(f'<div class="warning">{_e(w)}</div>' for w in warnings),
        "<h2>Key figures</h2>",
        _kpi_tiles(data),
        '<p class="note">Volumes, revenue and spend count what happened in the quarter; '
        "conversion rates follow the quarter's cohort. MQLs as recorded by the CRM"
        + (f" under definition {_e(definition['name'])} (threshold {definition['threshold']:g})"
           if definition else "")
        + f". ⚠ marks a rate resting on fewer than {MIN_N} cases.</p>",
        "<h2>Plan against actuals</h2>",
        _plan(data),
        "<h2>Funnel</h2>",
        '<div class="two">'
        + (
            _figure(charts.funnel(data.current))
            if data.current["rates"]["mql_to_sal"]["n"]
            else '<p class="note">No MQLs in this quarter: there is no funnel to draw.</p>'
        )
        + _figure(roi_charts.cost_per_stage(report["by_channel"], currency=currency))
        + "</div>",
        "<h2>Return per channel</h2>",
        f'<p class="note">Revenue credited by {_e(scope["model_label"])}; volumes count leads by '
        "their source channel. ROI = (revenue − spend) ÷ spend; markers: the same channel's ROI "
        "in the comparison quarters.</p>",
        _figure(
            roi_charts.roi_by_channel(
                report["by_channel"],
                model_label=scope["model_label"],
                currency=currency,
                previous_label=scope["previous_quarter"],
                year_ago_label=scope["year_ago_quarter"],
            )
        ),
        _channel_table(report, currency),
        "<h2>Attribution: the models side by side</h2>",
        *(f'<p class="note">{_e(n)}</p>' for n in attribution_notes(report)),
        _figure(
            roi_charts.attribution_comparison(
                report["attribution"]["by_channel"],
                half_life_days=scope["half_life_days"],
                currency=currency,
            )
        ),
        _attribution_table(report, currency),
        "<ul class=\"note\">"
        + "".join(f"<li><b>{_e(m['label'])}</b>: {_e(m['rule'])}</li>"
                  for m in report["attribution"]["models"])
        + "</ul>",
        "<h2>Payback: spend pays back later</h2>",
        '<p class="note">Per quarter of spend, the revenue its new leads have won so far, in '
        "whatever quarter it closed.</p>",
        _figure(
            roi_charts.payback(
                report["payback"]["by_quarter"],
                p90_days=report["payback"]["lead_to_customer_p90_days"],
                currency=currency,
            )
        ),
        _payback_table(report["payback"]["by_quarter"], currency),
        f'<p class="muted">Made by Funnelcast on {dt.date.today().isoformat()}.</p>',
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Quarterly review {_e(data.quarter)} · Funnelcast</title>"
        f"<style>{CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        "</head><body><main>" + "\n".join(sections) + "</main></body></html>"
    )


def write(path: Path, text: str, *, replace: bool = False) -> None:
    """Write the review to path; refuse to overwrite a file unless replace is set."""
    if path.exists() and not replace:
        raise db.FunnelcastError(
            f"{path} already exists; choose another file or pass --replace to overwrite it"
        )
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise db.FunnelcastError(f"{path}: cannot write it: {exc}") from None
