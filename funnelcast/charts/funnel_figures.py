"""Plotly figures of the Funnel and Handoff pages: reports in (funnelcast.funnel.report,
funnelcast.handoff.report), figures out; none of them reads the database."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from funnelcast.charts import (
    ACCENT,
    GAIN,
    INK,
    LOSS,
    MUTED,
    NO_DATA,
    PALETTE,
    _figure,
    quarter_axis,
    rate_errors,
)
from funnelcast.core import formats
from funnelcast.core.stats import rate

STEP_COLOURS = {"mql_to_sal": ACCENT, "sal_to_sql": "#f59e0b", "sql_to_customer": GAIN}


def _rate_text(r: dict[str, Any]) -> str:
    """Return a rate with its n for hover text, flagged when n is small."""
    if r["value"] is None:
        return "no cases"
    flag = " ⚠ small sample" if r["is_small_sample"] else ""
    return (
        f"{formats.share(r['value'])} of {formats.count(r['n'])} "
        f"(95% CI {formats.interval(r['low'], r['high'])}){flag}"
    )


def funnel_periods(current: dict[str, Any], previous: dict[str, Any] | None) -> go.Figure:
    """Return the lead funnel of the period beside the previous one's, as grouped bars."""
    fig = _figure("Lead funnel: how far the period's leads got", 380)
    views = [(current, ACCENT)] + ([(previous, "#a5b4fc")] if previous else [])
    for view, colour in views:
        steps = view["steps"]
        name = view["quarter"] or "All history"
        if not view["is_mature"]:
            name += " (immature)"
        fig.add_trace(
            go.Bar(
                name=name,
                x=[s["label"] for s in steps],
                y=[s["count"] for s in steps],
                marker=dict(color=colour),
                text=[
                    formats.count(s["count"])
                    if s["from_previous"] is None
                    else f"{formats.count(s['count'])}<br>{formats.share(s['from_previous']['value'], 0)}"
                    for s in steps
                ],
                textposition="outside",
                cliponaxis=False,
                hovertext=[
                    f"{s['label']}: {formats.count(s['count'])}<br>"
                    + (
                        ""
                        if s["from_previous"] is None
                        else f"from previous step: {_rate_text(s['from_previous'])}<br>"
                    )
                    + f"from leads: {_rate_text(s['from_top'])}"
                    for s in steps
                ],
                hoverinfo="text",
            )
        )
    top = max((s["count"] for v, _ in views for s in v["steps"]), default=0)
    fig.update_layout(barmode="group", bargap=0.25)
    decades = len(str(max(top, 1)))
    fig.update_yaxes(
        type="log",
        title_text="leads (log scale)",
        range=[0, decades + 0.3],
        tickvals=[10**i for i in range(decades + 1)],
        tickformat=",",
    )
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def segment_rates(segments: list[dict[str, Any]], label: str) -> go.Figure:
    """Return lead → MQL and MQL → customer per segment with their 95% intervals."""
    fig = _figure(f"Conversion by {label.lower()}", 360)
    names = [s["segment"] for s in segments]
    for key, title, colour, index in (
        ("mql", "lead → MQL", ACCENT, 1),
        ("customer", "MQL → customer", GAIN, None),
    ):
        rates = []
        for seg in segments:
            steps = {s["stage"]: s for s in seg["steps"]}
            if index is not None:
                rates.append(steps[key]["from_previous"])
            else:
                rates.append(rate(steps["customer"]["count"], steps["mql"]["count"]).as_dict())
        values = [r["value"] for r in rates]
        fig.add_trace(
            go.Bar(
                name=title,
                x=names,
                y=values,
                marker=dict(
                    color=colour, opacity=[0.45 if r["is_small_sample"] else 1.0 for r in rates]
                ),
                error_y=rate_errors(rates, MUTED),
                hovertext=[f"{n} · {title}: {_rate_text(r)}" for n, r in zip(names, rates)],
                hoverinfo="text",
            )
        )
    fig.update_layout(barmode="group", legend=dict(y=1.0))
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="share")
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def cohort_curves(outcome: dict[str, Any], *, title: str, selected: str | None = None) -> go.Figure:
    """Return each MQL cohort's share converted by day since MQL; immature cohorts dashed, with
    their maturity-adjusted estimate as a hollow marker at the horizon."""
    fig = _figure(title, 420)
    cohorts = outcome["cohorts"]
    horizon = max(outcome["horizon_days"], 1.0)
    for i, c in enumerate(cohorts):
        curve = c["curve"]
        colour = PALETTE[i % len(PALETTE)]
        width = 3 if c["cohort"] == selected else 1.5
        fig.add_trace(
            go.Scatter(
                name=c["cohort"] + ("" if c["is_mature"] else " (immature)"),
                x=[0, *curve["day"].to_list()],
                y=[0.0, *curve["share"].to_list()],
                mode="lines",
                line=dict(
                    color=colour,
                    width=width,
                    shape="hv",
                    dash="solid" if c["is_mature"] else "dash",
                ),
                hovertemplate=f"{c['cohort']}: %{{y:.1%}} by day %{{x}}<extra></extra>",
            )
        )
        if not c["is_mature"] and c["estimate"]["value"] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[horizon],
                    y=[c["estimate"]["value"]],
                    mode="markers",
                    marker=dict(symbol="circle-open", size=11, color=colour, line=dict(width=2)),
                    showlegend=False,
                    hovertemplate=(
                        f"{c['cohort']}: estimated eventual {formats.share(c['estimate']['value'])} "
                        f"(≈{formats.interval(c['estimate']['low'], c['estimate']['high'])}); "
                        f"observed so far {formats.share(c['observed']['value'])}<extra></extra>"
                    ),
                )
            )
    fig.add_vline(
        x=horizon,
        line=dict(color=MUTED, width=1, dash="dot"),
        annotation=dict(
            text=f"{horizon:.0f} days: most conversions done", font=dict(size=11, color=MUTED)
        ),
        annotation_position="top left",
    )
    fig.update_xaxes(title_text="days since MQL", range=[0, max(horizon * 3, 90)])
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="share converted")
    fig.update_layout(legend=dict(orientation="v", x=1.02, xanchor="left", y=1, yanchor="top"))
    return fig


def stage_boxes(by_channel: list[dict[str, Any]]) -> go.Figure:
    """Return time in stage per channel as boxes: 25th-75th percentile, median, whiskers at the
    10th and 90th percentiles."""
    fig = _figure("Days in stage by channel (box 25–75%, whiskers 10–90%)", 380)
    for step, colour in STEP_COLOURS.items():
        rows = [r for r in by_channel if r["step"] == step and r["n"] > 0]
        if not rows:
            continue
        fig.add_trace(
            go.Box(
                name=rows[0]["label"],
                x=[r["channel"] for r in rows],
                q1=[r["p25_days"] for r in rows],
                median=[r["median_days"] for r in rows],
                q3=[r["p75_days"] for r in rows],
                lowerfence=[r["p10_days"] for r in rows],
                upperfence=[r["p90_days"] for r in rows],
                mean=[r["mean_days"] for r in rows],
                marker=dict(color=colour),
                hovertext=[
                    f"{r['channel']} · {r['label']}: median {r['median_days']:.1f} d, "
                    f"90% within {r['p90_days']:.1f} d (n {r['n']})"
                    + (" ⚠ small sample" if r["is_small_sample"] else "")
                    for r in rows
                ],
                hoverinfo="text",
            )
        )
    fig.update_layout(boxmode="group")
    fig.update_yaxes(title_text="days", rangemode="tozero")
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def stage_trend(trend: list[dict[str, Any]]) -> go.Figure:
    """Return the median (solid) and 90th percentile (dotted) days per step by quarter."""
    fig = _figure("Time in stage per quarter the step began: median and 90th percentile", 360)
    for step, colour in STEP_COLOURS.items():
        rows = [r for r in trend if r["step"] == step]
        if not rows:
            continue
        label = rows[0]["label"]
        quarters = [r["quarter"] for r in rows]
        fig.add_trace(
            go.Scatter(
                name=f"{label} median",
                x=quarters,
                y=[r["median_days"] for r in rows],
                mode="lines+markers",
                line=dict(color=colour, width=2),
                marker=dict(
                    symbol=["circle-open" if r["is_small_sample"] else "circle" for r in rows]
                ),
                hovertemplate=[
                    f"{label} {q}: median %{{y:.1f}} d (n {r['n']})<extra></extra>"
                    for q, r in zip(quarters, rows)
                ],
            )
        )
        fig.add_trace(
            go.Scatter(
                name=f"{label} p90",
                x=quarters,
                y=[r["p90_days"] for r in rows],
                mode="lines",
                line=dict(color=colour, width=1, dash="dot"),
                hovertemplate=f"{label} %{{x}}: 90% within %{{y:.1f}} d<extra></extra>",
            )
        )
    quarters = list(dict.fromkeys(r["quarter"] for r in trend))
    fig.update_yaxes(title_text="days", rangemode="tozero")
    quarter_axis(fig, quarters)
    fig.update_layout(legend=dict(orientation="h", y=-0.2, yanchor="top"), height=400)
    return fig


NODE_COLOURS = {
    "MQL": ACCENT,
    "Demo request, no MQL": "#8b5cf6",
    "Direct, no MQL": "#8b5cf6",
    "Accepted (SAL)": "#3b82f6",
    "Accepted on return": "#3b82f6",
    "SQL": "#60a5fa",
    "Customer": GAIN,
    "Lost": LOSS,
    "Rejected": "#f97316",
    "Rejected again": "#f97316",
    "Recycled": "#f59e0b",
    "Back as MQL": "#f59e0b",
    "Nurturing": NO_DATA,
    "Dropped at SAL": LOSS,
}


def journeys_sankey(sankey: dict[str, Any], *, title: str = "Journeys through sales") -> go.Figure:
    """Return the journey flows as a Sankey diagram; node labels carry their counts."""
    fig = _figure(title, 460)
    nodes = sankey["nodes"]
    if not nodes:
        return fig
    index = {name: i for i, name in enumerate(nodes)}
    inflow = {n: 0 for n in nodes}
    outflow = {n: 0 for n in nodes}
    for link in sankey["links"]:
        inflow[link["target"]] += link["count"]
        outflow[link["source"]] += link["count"]
    totals = {n: max(inflow[n], outflow[n]) for n in nodes}
    fig.add_trace(
        go.Sankey(
            arrangement="snap",
            node=dict(
                label=[f"{n} ({formats.count(totals[n])})" for n in nodes],
                color=[NODE_COLOURS.get(n, MUTED) for n in nodes],
                pad=14,
                thickness=14,
                line=dict(width=0),
            ),
            link=dict(
                source=[index[link["source"]] for link in sankey["links"]],
                target=[index[link["target"]] for link in sankey["links"]],
                value=[link["count"] for link in sankey["links"]],
                color="rgba(148,163,184,0.35)",
            ),
            textfont=dict(color=INK, size=12),
        )
    )
    return fig


# ===== the Handoff page =====


def reason_bars(reasons: list[dict[str, Any]], title: str = "Why sales rejected MQLs") -> go.Figure:
    """Return the rejection reasons, most frequent on top, as shares of rejections."""
    fig = _figure(title, 60 + 34 * max(len(reasons), 3))
    ordered = list(reversed(reasons))
    fig.add_trace(
        go.Bar(
            x=[r["share"]["value"] for r in ordered],
            y=[r["reason"] for r in ordered],
            orientation="h",
            marker=dict(
                color=["#f97316" if "not ready" in r["reason"] else ACCENT for r in ordered]
            ),
            text=[
                f"{formats.count(r['count'])} · {formats.share(r['share']['value'], 0)}"
                for r in ordered
            ],
            textposition="outside",
            cliponaxis=False,
            hovertext=[_rate_text(r["share"]) for r in ordered],
            hoverinfo="text",
        )
    )
    fig.update_xaxes(
        tickformat=".0%",
        rangemode="tozero",
        range=[0, max([r["share"]["value"] or 0 for r in reasons] + [0.1]) * 1.3],
    )
    fig.update_yaxes(showgrid=False, type="category")
    fig.update_layout(showlegend=False)
    return fig


def reasons_heatmap(segments: list[dict[str, Any]], label: str) -> go.Figure:
    """Return each segment's rejection reasons as shares of its rejections (rows: segments)."""
    reasons: list[str] = []
    for seg in segments:
        for r in seg["reasons"]:
            if r["reason"] not in reasons:
                reasons.append(r["reason"])
    fig = _figure(
        f"Rejection reasons by {label.lower()} (share of the segment's rejections)",
        90 + 30 * max(len(segments), 3),
    )
    if not reasons:
        return fig
    z, text = [], []
    for seg in segments:
        by_reason = {r["reason"]: r for r in seg["reasons"]}
        z.append([by_reason[r]["share"]["value"] if r in by_reason else 0 for r in reasons])
        text.append(
            [
                formats.share(by_reason[r]["share"]["value"], 0) if r in by_reason else ""
                for r in reasons
            ]
        )
    names = [
        f"{s['segment']} ({formats.count(s['rejection_rate']['successes'])})"
        + (" ⚠" if s["rejection_rate"]["successes"] < 30 else "")
        for s in segments
    ]
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=reasons,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#f8fafc"], [1, "#f97316"]],
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="%{y} · %{x}: %{z:.0%}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_xaxes(side="top", showgrid=False)
    fig.update_layout(margin=dict(t=90))
    return fig


def sla_trend(trend: list[dict[str, Any]], sla: int) -> go.Figure:
    """Return per quarter the hand-offs breaching the SLA (bars) and the breach rate (line)."""
    fig = _figure(f"SLA breaches per quarter ({sla} business days)", 380)
    quarters = [t["quarter"] for t in trend]
    fig.add_trace(
        go.Bar(
            name="hand-offs within SLA",
            x=quarters,
            y=[t["handoffs"] - t["sla_breached"] for t in trend],
            marker=dict(color="#c7d2fe"),
        )
    )
    fig.add_trace(
        go.Bar(
            name="breached",
            x=quarters,
            y=[t["sla_breached"] for t in trend],
            marker=dict(color=LOSS),
        )
    )
    fig.add_trace(
        go.Scatter(
            name="breach rate",
            x=quarters,
            y=[t["sla_breach_rate"]["value"] for t in trend],
            yaxis="y2",
            mode="lines+markers",
            line=dict(color=INK, width=2),
            hovertext=[f"{t['quarter']}: {_rate_text(t['sla_breach_rate'])}" for t in trend],
            hoverinfo="text",
        )
    )
    fig.update_layout(
        barmode="stack",
        yaxis=dict(title_text="hand-offs"),
        yaxis2=dict(
            overlaying="y",
            side="right",
            tickformat=".0%",
            rangemode="tozero",
            showgrid=False,
            title_text="breach rate",
        ),
        legend=dict(orientation="h", y=-0.2, yanchor="top"),
    )
    quarter_axis(fig, quarters)
    return fig


def wait_conversion(buckets: list[dict[str, Any]]) -> go.Figure:
    """Return the share of hand-offs reaching SQL and customer by wait to the first answer."""
    fig = _figure("Conversion after a hand-off, by the wait for sales' first answer", 360)
    waits = [b["wait"] for b in buckets]
    for key, name, colour in (("to_sql", "→ SQL", ACCENT), ("to_customer", "→ customer", GAIN)):
        rates = [b[key] for b in buckets]
        fig.add_trace(
            go.Scatter(
                name=name,
                x=waits,
                y=[r["value"] for r in rates],
                mode="lines+markers",
                line=dict(color=colour, width=2),
                marker=dict(
                    size=8,
                    symbol=["circle-open" if r["is_small_sample"] else "circle" for r in rates],
                ),
                error_y=rate_errors(rates, colour),
                hovertext=[f"{w} · {name}: {_rate_text(r)}" for w, r in zip(waits, rates)],
                hoverinfo="text",
            )
        )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero", title_text="share of hand-offs")
    fig.update_xaxes(type="category", showgrid=False, title_text="business days to first answer")
    return fig


def unanswered_ages(ages: list[dict[str, Any]]) -> go.Figure:
    """Return the hand-offs still unanswered by age; those past the SLA in red."""
    fig = _figure("MQLs still waiting for sales, by age", 300)
    fig.add_trace(
        go.Bar(
            x=[a["age"] for a in ages],
            y=[a["count"] for a in ages],
            marker=dict(color=[LOSS if a["is_past_sla"] else "#c7d2fe" for a in ages]),
            text=[formats.count(a["count"]) for a in ages],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y} MQLs<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="MQLs", rangemode="tozero")
    fig.update_xaxes(type="category", showgrid=False, title_text="business days since hand-off")
    fig.update_layout(showlegend=False)
    return fig
