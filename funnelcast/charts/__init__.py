"""Plotly figure builders: figures in, figures out, one template for colours and fonts.

Each builder takes what funnelcast.metrics returns (the metrics dict, its by_channel rows, or
the funnel_by_quarter frame) and returns a plotly Figure; none of them reads the database. A
figure of money is given the database's currency: its labels, hovers and axis ticks carry it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
import polars as pl

from funnelcast.core import formats
from funnelcast.core.currency import Currency

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#2563eb"
GAIN = "#15803d"
LOSS = "#b91c1c"
NO_DATA = "#9ca3af"
# Distinct, print-safe hues; a channel keeps its hue on every chart (see channel_colors).
PALETTE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#06b6d4",
    "#ec4899",
    "#84cc16",
    "#f97316",
    "#64748b",
)
FONT = "Inter, 'Source Sans Pro', 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font=dict(family=FONT, size=13, color=INK),
        title=dict(font=dict(size=16, color=INK), x=0, xanchor="left", y=0.97, yanchor="top"),
        colorway=PALETTE,
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin=dict(l=8, r=8, t=56, b=8),
        xaxis=dict(gridcolor=GRID, linecolor=GRID, zerolinecolor=GRID, automargin=True),
        yaxis=dict(gridcolor=GRID, linecolor=GRID, zerolinecolor=MUTED, automargin=True),
        legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom", title_text=""),
        hoverlabel=dict(font=dict(family=FONT)),
        separators=".,",
    )
)

FUNNEL_STAGES = (
    ("MQLs", None),
    ("Reached SAL", "mql_to_sal"),
    ("Reached SQL", "mql_to_sql"),
    ("Customers", "mql_to_customer"),
)


def channel_colors(channels: Iterable[str]) -> dict[str, str]:
    """Return a colour per channel, stable for a given set of channels (in sorted order)."""
    return {ch: PALETTE[i % len(PALETTE)] for i, ch in enumerate(sorted(channels))}


def _figure(title: str, height: int) -> go.Figure:
    """Return an empty figure with the shared template, a title and a height."""
    return go.Figure(layout=dict(template=TEMPLATE, title_text=title, height=height))


def _note(text: str) -> str:
    """Return text styled as a muted second line of a label."""
    return f"<br><span style='color:{MUTED}'>{text}</span>"


def quarter_axis(fig: go.Figure, quarters: list[str]) -> None:
    """Label a category x-axis of quarter labels as "Q3<br>2026": twelve or more quarters stay
    legible without slanting them."""
    fig.update_xaxes(
        type="category",
        showgrid=False,
        tickangle=0,
        tickvals=quarters,
        ticktext=[f"{q[4:]}<br>{q[:4]}" for q in quarters],
    )


def rate_errors(rates: list[dict[str, Any]], colour: str) -> dict[str, Any]:
    """Return a trace's error_y: each rate's interval (rates as from Rate.as_dict), none where a
    rate has no value."""
    return dict(
        type="data",
        symmetric=False,
        color=colour,
        thickness=1,
        array=[(r["high"] - r["value"]) if r["value"] is not None else 0 for r in rates],
        arrayminus=[(r["value"] - r["low"]) if r["value"] is not None else 0 for r in rates],
    )


def funnel(result: dict[str, Any], *, title: str = "MQL funnel: where the MQLs went") -> go.Figure:
    """Return the MQL cohort funnel (MQLs, reached SAL, SQL, customer) with each step's drop-off."""
    rates = result["rates"]
    counts = [rates["mql_to_sal"]["n"]] + [rates[key]["successes"] for _, key in FUNNEL_STAGES[1:]]
    top = counts[0]
    labels = [f"<b>{FUNNEL_STAGES[0][0]}</b>" + _note("100%: the cohort")]
    for (label, _), previous, current in zip(FUNNEL_STAGES[1:], counts, counts[1:]):
        step = formats.share(current / previous if previous else None, 0)
        of_top = formats.share(current / top if top else None, 0)
        labels.append(f"<b>{label}</b>" + _note(f"{step} of previous · {of_top} of MQLs"))
    fig = _figure(title, 360)
    fig.add_trace(
        go.Funnel(
            y=labels,
            x=counts,
            texttemplate="<b>%{x:,}</b>",
            textposition="auto",
            constraintext="none",
            insidetextfont=dict(color="white", size=14),
            outsidetextfont=dict(color=INK, size=14),
            marker=dict(color=[ACCENT, "#3b82f6", "#60a5fa", GAIN]),
            connector=dict(fillcolor="#e0e7ff", line=dict(width=0)),
            hovertemplate="%{x:,}<extra></extra>",
        )
    )
    # The drop-off sits on the connector between two stages: how many were lost, and the share.
    for i, (previous, current) in enumerate(zip(counts, counts[1:])):
        lost = previous - current
        share_lost = formats.share(lost / previous if previous else None, 0)
        fig.add_annotation(
            x=0,
            y=i + 0.5,
            text=f"▼ {formats.count(lost)} lost ({share_lost})",
            showarrow=False,
            font=dict(size=11, color=LOSS),
            bgcolor="rgba(255,255,255,0.9)",
            borderpad=1,
        )
    fig.update_yaxes(showgrid=False, ticks="", ticklabelstandoff=8)
    fig.update_xaxes(visible=False)
    return fig


def mql_volume(
    frame: pl.DataFrame,
    *,
    colors: dict[str, str],
    partial: Sequence[str] = (),
    selected: str | None = None,
    title: str = "MQLs per quarter, by channel",
) -> go.Figure:
    """Return MQLs per quarter stacked by channel; partial quarters hatched, selection shaded."""
    fig = _figure(title, 380)
    if frame.is_empty():
        return fig
    per_channel = (
        frame.group_by("quarter_start", "quarter", "channel")
        .agg(pl.col("count_mqls").sum())
        .sort("quarter_start", "channel")
    )
    quarters = per_channel.unique("quarter_start").sort("quarter_start")["quarter"].to_list()
    for channel in sorted(per_channel["channel"].unique().to_list()):
        part = per_channel.filter(pl.col("channel") == channel)
        counts = dict(zip(part["quarter"], part["count_mqls"]))
        fig.add_trace(
            go.Bar(
                name=channel,
                x=quarters,
                y=[counts.get(q, 0) for q in quarters],
                marker=dict(
                    color=colors.get(channel, NO_DATA),
                    pattern=dict(
                        shape=["/" if q in partial else "" for q in quarters],
                        fillmode="overlay",
                        fgcolor="white",
                        size=6,
                    ),
                ),
                hovertemplate=f"{channel}<br>%{{x}}: %{{y:,}} MQLs<extra></extra>",
            )
        )
    totals = per_channel.group_by("quarter").agg(pl.col("count_mqls").sum())
    total_of = dict(zip(totals["quarter"], totals["count_mqls"]))
    fig.add_trace(
        go.Scatter(
            x=quarters,
            y=[total_of[q] for q in quarters],
            mode="text",
            text=[
                f"{formats.count(total_of[q])}{'<br><i>partial</i>' if q in partial else ''}"
                for q in quarters
            ],
            textposition="top center",
            textfont=dict(size=10, color=MUTED),
            showlegend=False,
            hoverinfo="skip",
        )
    )
    if selected in quarters:
        index = quarters.index(selected)
        fig.add_vrect(
            x0=index - 0.5,
            x1=index + 0.5,
            fillcolor=ACCENT,
            opacity=0.08,
            line_width=0,
            layer="below",
        )
    fig.update_layout(
        barmode="stack",
        bargap=0.25,
        legend=dict(orientation="h", x=0, y=-0.16, yanchor="top", traceorder="normal"),
    )
    # Headroom above the tallest bar for its total and the "partial" mark.
    fig.update_yaxes(title_text="MQLs", range=[0, max(total_of.values()) * 1.18 or 1])
    quarter_axis(fig, quarters)
    return fig


def _axis_cap(values: list[float]) -> float | None:
    """Return where to cut the value axis so one outlier does not flatten the others, or None."""
    ranked = sorted((v for v in values if v > 0), reverse=True)
    if len(ranked) >= 3 and ranked[0] > 3 * ranked[1]:
        return ranked[1] * 1.6
    return None


def _per_channel_bars(
    rows: list[dict[str, Any]],
    key: str,
    *,
    title: str,
    label: str,
    fmt: Callable[[float], str],
    tickformat: str,
    colors: dict[str, str],
    highlight: str | None,
    signed_colours: bool = False,
    currency: Currency | None = None,
) -> go.Figure:
    """Return a bar per channel of rows[key]; channels where it is None read "no spend".

    A bar far above all others is cut at the axis top and keeps its true value as its label.
    With a currency the value axis is money: its ticks carry the currency's sign.
    """
    fig = _figure(title, 320)
    channels = [row["channel"] for row in rows]
    values = [row[key] for row in rows]
    cap = _axis_cap([v for v in values if v is not None])
    shown = [0 if v is None else min(v, cap) if cap else v for v in values]
    if signed_colours:
        bar_colours = [GAIN if (v or 0) >= 0 else LOSS for v in values]
    else:
        bar_colours = [colors.get(ch, ACCENT) for ch in channels]
    opacity = [1.0 if highlight in (None, ch) else 0.35 for ch in channels]
    is_cut = [v is not None and cap is not None and v > cap for v in values]
    text = [
        "no spend" if v is None else fmt(v) + (" ▲" if cut else "")
        for v, cut in zip(values, is_cut)
    ]
    fig.add_trace(
        go.Bar(
            x=channels,
            y=shown,
            text=text,
            textposition="outside",
            constraintext="none",
            textfont=dict(color=[INK if v is not None else MUTED for v in values]),
            cliponaxis=False,
            marker=dict(color=bar_colours, opacity=opacity),
            hovertemplate=[
                f"{ch}: {'no spend loaded' if v is None else fmt(v)}"
                f"{' (bar cut at the axis top)' if cut else ''}<extra></extra>"
                for ch, v, cut in zip(channels, values, is_cut)
            ],
        )
    )
    top = max([*shown, 0])
    bottom = min([*shown, 0])
    pad = (top - bottom) * 0.18 or 1
    fig.update_yaxes(
        title_text=label,
        range=[bottom - (pad if bottom < 0 else 0), top + pad],
        tickformat=tickformat,
        tickprefix=currency.prefix if currency else "",
        ticksuffix=currency.suffix if currency else "",
        zeroline=True,
    )
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_layout(showlegend=False)
    return fig


def cost_per_mql(
    by_channel: list[dict[str, Any]],
    *,
    colors: dict[str, str],
    currency: Currency,
    highlight: str | None = None,
) -> go.Figure:
    """Return cost per MQL per channel in a currency; channels without spend read "no spend"."""
    return _per_channel_bars(
        by_channel,
        "cost_per_mql",
        title="Cost per MQL, by channel",
        label="spend ÷ MQLs",
        fmt=lambda v: formats.money(v, currency),
        tickformat="~s",
        colors=colors,
        highlight=highlight,
        currency=currency,
    )


def roi(by_channel: list[dict[str, Any]], *, highlight: str | None = None) -> go.Figure:
    """Return ROI per channel as a percentage; channels without spend read "no spend"."""
    return _per_channel_bars(
        by_channel,
        "roi",
        title="ROI by channel: (revenue − spend) ÷ spend",
        label="ROI",
        fmt=lambda v: formats.share(v, 0),
        tickformat=",.0%",
        colors={},
        highlight=highlight,
        signed_colours=True,
    )


def tradeoff(
    curve: pl.DataFrame,
    *,
    threshold: float,
    current_threshold: float | None = None,
    title: str = "The trade-off over thresholds",
) -> go.Figure:
    """Return MQL volume (bars, left) and MQL → SQL rate and customer capture (lines, right)
    per threshold, the chosen threshold marked and the current one dotted."""
    fig = _figure(title, 380)
    if curve.is_empty():
        return fig
    x = curve["threshold"].to_list()
    fig.add_trace(
        go.Bar(
            name="MQLs",
            x=x,
            y=curve["mqls"].to_list(),
            marker=dict(color="#c7d2fe", line=dict(width=0)),
            hovertemplate="threshold %{x:g}: %{y:,} MQLs<extra></extra>",
        )
    )
    for column, name, colour in (
        ("mql_to_sql", "MQL → SQL rate", ACCENT),
        ("customer_capture", "customers caught as MQL first", GAIN),
    ):
        fig.add_trace(
            go.Scatter(
                name=name,
                x=x,
                y=curve[column].to_list(),
                yaxis="y2",
                mode="lines",
                line=dict(color=colour, width=2),
                hovertemplate=f"threshold %{{x:g}}: %{{y:.1%}} {name}<extra></extra>",
            )
        )
    # the markers as plain layout shapes: add_vline costs more than the rest of the figure
    marks = [(threshold, f"chosen {threshold:g}", dict(color=INK, width=2), 0)]
    if current_threshold is not None and current_threshold != threshold:
        # one line below the chosen threshold's label, so the two never overlap
        marks.append(
            (
                current_threshold,
                f"current {current_threshold:g}",
                dict(color=MUTED, width=1, dash="dot"),
                -16,
            )
        )
    fig.update_layout(
        shapes=[
            dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=line)
            for x, _, line, _ in marks
        ],
        annotations=[
            dict(
                x=x,
                xref="x",
                y=1,
                yref="paper",
                text=text,
                showarrow=False,
                xanchor="left",
                yanchor="top",
                yshift=shift,
                font=dict(size=11, color=line["color"]),
                bgcolor="white",
            )
            for x, text, line, shift in marks
        ],
    )
    fig.update_layout(
        bargap=0,
        yaxis=dict(title_text="MQLs", rangemode="tozero"),
        yaxis2=dict(
            overlaying="y",
            side="right",
            range=[0, 1.05],
            dtick=0.25,
            tickformat=".0%",
            showgrid=False,
            title_text="share",
        ),
        xaxis=dict(title_text="threshold (points)", showgrid=False),
        legend=dict(orientation="h", x=0, y=-0.22, yanchor="top"),
    )
    return fig
