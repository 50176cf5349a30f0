"""Plotly figures of the ROI page and the quarterly review: ROI and cost per stage per channel,
the attribution models side by side, and the payback of each quarter's spend.

Each builder takes rows of funnelcast.roi.report and the database's currency, and returns a
Figure whose amounts (labels, hovers, axis ticks) carry the currency; none reads the database.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from funnelcast.analytics import attribution
from funnelcast.charts import (
    GAIN,
    INK,
    LOSS,
    MUTED,
    NO_DATA,
    PALETTE,
    _figure,
    quarter_axis,
)
from funnelcast.core import formats
from funnelcast.core.currency import Currency

STAGE_COSTS = (
    ("cost_per_lead", "per lead"),
    ("cost_per_mql", "per MQL"),
    ("cost_per_sql", "per SQL"),
    ("cost_per_customer", "per customer"),
)
STAGE_COLOURS = ("#c7d2fe", "#818cf8", "#4f46e5", "#312e81")


def _axis_cap(values: list[float]) -> float | None:
    """Return where to cut the value axis so one outlier does not flatten the others, or None."""
    ranked = sorted((v for v in values if v > 0), reverse=True)
    if len(ranked) >= 3 and ranked[0] > 3 * ranked[1]:
        return ranked[1] * 1.6
    return None


def _roi_text(value: float | None) -> str:
    """Return an ROI as a whole percentage, or "no spend"."""
    return "no spend" if value is None else formats.share(value, 0)


def roi_by_channel(
    rows: list[dict[str, Any]],
    *,
    model_label: str,
    currency: Currency,
    previous_label: str | None = None,
    year_ago_label: str | None = None,
) -> go.Figure:
    """Return ROI per channel (bars, each one's ROI under its channel), with the previous quarter's
    and the year-ago quarter's ROI as markers; channels without spend read "no spend"."""
    fig = _figure(f"ROI by channel: (revenue − spend) ÷ spend · revenue by {model_label}", 360)
    channels = [r["channel"] for r in rows]
    values = [r["roi"] for r in rows]
    earlier = [
        roi
        for r in rows
        for k in ("previous", "year_ago")
        if (roi := (r[k] or {}).get("roi")) is not None
    ]
    # One channel far above the rest would flatten them: cut its bar at the axis top.
    cap = _axis_cap([v for v in values if v is not None])
    shown = [0 if v is None else min(v, cap) if cap else v for v in values]
    fig.add_trace(
        go.Bar(
            name="this quarter",
            x=channels,
            y=shown,
            marker=dict(color=[NO_DATA if v is None else GAIN if v >= 0 else LOSS for v in values]),
            customdata=[
                [
                    formats.money(r["spend"], currency),
                    formats.money(r["revenue"], currency),
                    _roi_text(r["roi"]),
                ]
                for r in rows
            ],
            hovertemplate="%{x}: ROI %{customdata[2]}<br>spend %{customdata[0]} · revenue "
            "%{customdata[1]}<extra></extra>",
        )
    )
    for key, label, symbol, colour in (
        ("previous", previous_label, "diamond-open", INK),
        ("year_ago", year_ago_label, "circle-open", MUTED),
    ):
        if label is None:
            continue
        before = [(r[key] or {}).get("roi") for r in rows]
        fig.add_trace(
            go.Scatter(
                name=label,
                x=channels,
                y=[None if v is None else min(v, cap) if cap else v for v in before],
                customdata=[_roi_text(v) for v in before],
                mode="markers",
                marker=dict(symbol=symbol, size=11, color=colour, line=dict(width=2)),
                hovertemplate=f"%{{x}} in {label}: ROI %{{customdata}}<extra></extra>",
            )
        )
    plotted = [*shown, *(min(v, cap) if cap else v for v in earlier)]
    top, bottom = max([*plotted, 0]), min([*plotted, 0])
    pad = (top - bottom) * 0.15 or 1
    fig.update_yaxes(
        title_text="ROI", tickformat=",.0%", range=[bottom - (pad if bottom < 0 else 0), top + pad]
    )
    # Each bar's ROI is written under its channel, not above the bar, where the earlier quarters'
    # markers would sit on it.
    fig.update_xaxes(
        type="category",
        showgrid=False,
        tickvals=channels,
        ticktext=[
            f"{ch}<br><b>{_roi_text(v)}{' ▲' if cap and v is not None and v > cap else ''}</b>"
            for ch, v in zip(channels, values)
        ],
    )
    fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"))
    return fig


def cost_per_stage(rows: list[dict[str, Any]], *, currency: Currency) -> go.Figure:
    """Return the cost per lead, MQL, SQL and customer of each channel (log scale)."""
    fig = _figure("Cost per stage, by channel (log scale)", 360)
    with_spend = [r for r in rows if r["spend"] > 0]
    channels = [r["channel"] for r in with_spend]
    for (key, label), colour in zip(STAGE_COSTS, STAGE_COLOURS):
        fig.add_trace(
            go.Bar(
                name=label,
                x=channels,
                y=[r[key] for r in with_spend],
                marker=dict(color=colour),
                hovertemplate=[
                    f"{r['channel']}: {formats.money(r[key], currency)} {label}<extra></extra>"
                    if r[key] is not None
                    else f"{r['channel']}: none reached the stage<extra></extra>"
                    for r in with_spend
                ],
            )
        )
    fig.update_layout(barmode="group", bargap=0.2)
    costs = [r[key] for r in with_spend for key, _ in STAGE_COSTS if r[key]]
    ticks = _log_ticks(costs)
    fig.update_yaxes(
        type="log",
        title_text="spend ÷ count",
        tickvals=ticks,
        ticktext=[currency.around(_short(v)) for v in ticks],
    )
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def _log_ticks(values: list[float]) -> list[float]:
    """Return the 1-2-5 steps of a log axis over values (each labelled by us: plotly's own
    labels between the powers of ten drop the axis's prefix)."""
    if not values:
        return []
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    steps = [m * 10.0**k for k in range(low, high + 1) for m in (1, 2, 5)]
    return [v for v in steps if min(values) / 2 <= v <= max(values) * 2]


def _short(value: float) -> str:
    """Return a tick's value in SI form without trailing zeros: 500, 2k, 1.5M, 0.2."""
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def attribution_comparison(
    compared: list[dict[str, Any]], *, half_life_days: float, currency: Currency
) -> go.Figure:
    """Return the revenue each model credits to each channel, side by side; a channel whose rank
    changes between models is marked ⚑."""
    fig = _figure("Revenue credited to each channel, by attribution model", 400)
    labels = [f"⚑ {r['channel']}" if r["rank_changes"] else r["channel"] for r in compared]
    for model, colour in zip(attribution.MODELS, PALETTE):
        name = model.label + (
            f" (half-life {half_life_days:g} d)" if model.key == "time_decay" else ""
        )
        fig.add_trace(
            go.Bar(
                name=name,
                x=labels,
                y=[r["models"][model.key]["revenue"] for r in compared],
                marker=dict(color=colour),
                customdata=[
                    [
                        r["models"][model.key]["rank"] or "—",
                        _roi_text(r["models"][model.key]["roi"]),
                    ]
                    for r in compared
                ],
                hovertemplate=f"{model.label}<br>%{{x}}: {currency.around('%{y:,.0f}')} · rank "
                "%{customdata[0]} "
                "· ROI %{customdata[1]}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        bargap=0.18,
        legend=dict(orientation="h", x=0, y=-0.14, yanchor="top"),
    )
    fig.update_yaxes(
        title_text="revenue credited",
        tickformat="~s",
        tickprefix=currency.prefix,
        ticksuffix=currency.suffix,
    )
    fig.update_xaxes(type="category", showgrid=False)
    return fig


def payback(rows: list[dict[str, Any]], *, p90_days: float, currency: Currency) -> go.Figure:
    """Return spend and the revenue its leads have won so far, per quarter of spend, with the
    ROI so far above; immature quarters hatched and labelled."""
    fig = _figure("Payback: each quarter's spend and what its leads have won so far", 380)
    if not rows:
        return fig
    quarters = [r["quarter"] for r in rows]
    fig.add_trace(
        go.Bar(
            name="spend",
            x=quarters,
            y=[r["spend"] for r in rows],
            marker=dict(color="#cbd5e1"),
            hovertemplate=f"%{{x}}: spend {currency.around('%{y:,.0f}')}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            name="revenue of its leads so far",
            x=quarters,
            y=[r["revenue_so_far"] for r in rows],
            marker=dict(
                color=[GAIN if r["is_mature"] else "#86efac" for r in rows],
                pattern=dict(
                    shape=["" if r["is_mature"] else "/" for r in rows],
                    fillmode="overlay", fgcolor="white", size=6,
                ),
            ),
            text=[
                f"ROI {_roi_text(r['roi_so_far'])}" + ("" if r["is_mature"] else "<br><i>maturing</i>")
                for r in rows
            ],
            textposition="outside",
            textfont=dict(size=10, color=INK),
            cliponaxis=False,
            hovertemplate=f"%{{x}}: revenue so far {currency.around('%{y:,.0f}')}<extra></extra>",
        )
    )  # fmt: skip
    top = max([*(r["spend"] for r in rows), *(r["revenue_so_far"] for r in rows), 0])
    fig.update_layout(
        barmode="group",
        bargap=0.25,
        legend=dict(orientation="h", x=0, y=-0.16, yanchor="top"),
    )
    fig.update_yaxes(
        range=[0, top * 1.25 or 1],
        tickformat="~s",
        tickprefix=currency.prefix,
        ticksuffix=currency.suffix,
        title_text="amount",
    )
    quarter_axis(fig, quarters)
    fig.add_annotation(
        text=f"hatched: maturing — younger than the {p90_days:.0f} days 90% of past "
        "lead-to-customer journeys took",
        xref="paper", yref="paper", x=1, y=1.0, xanchor="right", yanchor="bottom",
        showarrow=False, font=dict(size=11, color=MUTED),
    )  # fmt: skip
    return fig
