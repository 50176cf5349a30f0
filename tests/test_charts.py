"""The figure builders draw exactly the numbers they are given: funnel stages and drop-off,
MQL volume stacked by channel with partial quarters marked, cost and ROI with "no spend"."""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl

from funnelcast import charts
from funnelcast.analytics.metrics import figures
from funnelcast.charts import roi_figures
from funnelcast.core.currency import USD, Currency


def result_with(mqls: int, sal: int, sql: int, customers: int) -> dict:
    """Return a metrics-shaped result whose MQL cohort reached each stage this often."""
    return figures(
        dict(
            count_mqls=mqls,
            count_mqls_reached_sal=sal,
            count_mqls_reached_sql=sql,
            count_mqls_reached_customer=customers,
        )  # fmt: skip
    )


def test_funnel_draws_the_mql_cohort_and_the_drop_off_of_each_step():
    fig = charts.funnel(result_with(200, 120, 60, 15))

    (trace,) = fig.data
    assert isinstance(trace, go.Funnel)
    assert list(trace.x) == [200, 120, 60, 15]
    assert [a.text for a in fig.layout.annotations] == [
        "▼ 80 lost (40%)",
        "▼ 60 lost (50%)",
        "▼ 45 lost (75%)",
    ]
    # each stage says its step rate and its share of the MQLs
    assert "50% of previous · 30% of MQLs" in trace.y[2]


def test_funnel_of_no_mqls_draws_zeros_without_dividing_by_zero():
    fig = charts.funnel(result_with(0, 0, 0, 0))

    assert list(fig.data[0].x) == [0, 0, 0, 0]
    assert "— of previous" in fig.data[0].y[1]


def volume_frame() -> pl.DataFrame:
    """Return funnel_by_quarter-shaped rows: two quarters, two channels, one pair missing."""
    return pl.DataFrame(
        {
            "quarter_start": [dt.date(2026, 4, 1), dt.date(2026, 4, 1), dt.date(2026, 7, 1)],
            "quarter": ["2026Q2", "2026Q2", "2026Q3"],
            "channel": ["email", "search", "search"],
            "count_mqls": [10, 30, 25],
        }
    )


def test_mql_volume_stacks_channels_per_quarter_and_hatches_partial_quarters():
    colors = charts.channel_colors(["search", "email"])

    fig = charts.mql_volume(volume_frame(), colors=colors, partial=["2026Q3"], selected="2026Q2")

    bars = {t.name: t for t in fig.data if isinstance(t, go.Bar)}
    assert fig.layout.barmode == "stack"
    assert list(bars["email"].y) == [10, 0]  # a quarter without MQLs of a channel is 0
    assert list(bars["search"].y) == [30, 25]
    assert list(bars["search"].marker.pattern.shape) == ["", "/"]
    assert bars["email"].marker.color == colors["email"]
    (totals,) = [t for t in fig.data if isinstance(t, go.Scatter)]
    assert list(totals.y) == [40, 25]
    assert totals.text[1] == "25<br><i>partial</i>"
    assert len(fig.layout.shapes) == 1  # the selected quarter is shaded


def test_mql_volume_of_nothing_is_an_empty_figure():
    empty = volume_frame().clear()

    assert charts.mql_volume(empty, colors={}).data == ()


def channel_rows(**values: float | None) -> list[dict]:
    """Return by_channel rows with the given cost per MQL and ROI (the same number for both)."""
    return [{"channel": ch, "cost_per_mql": v, "roi": v} for ch, v in values.items()]


def test_channels_without_spend_read_no_spend_rather_than_zero():
    fig = charts.cost_per_mql(channel_rows(email=120.0, referral=None), colors={}, currency=USD)

    (trace,) = fig.data
    assert list(trace.text) == ["$120", "no spend"]
    assert list(trace.y) == [120.0, 0]


def test_cost_per_mql_carries_the_currency_on_labels_hovers_and_ticks():
    fig = charts.cost_per_mql(channel_rows(email=12_500.0), colors={}, currency=Currency("EUR"))

    (trace,) = fig.data
    assert list(trace.text) == ["€12.5k"]
    assert trace.hovertemplate[0].startswith("email: €12.5k")
    assert (fig.layout.yaxis.tickprefix, fig.layout.yaxis.ticksuffix) == ("€", "")

    fig = charts.cost_per_mql(channel_rows(email=710.0), colors={}, currency=Currency("PLN"))
    assert list(fig.data[0].text) == ["710 PLN"]
    assert (fig.layout.yaxis.tickprefix, fig.layout.yaxis.ticksuffix) == ("", " PLN")


def test_roi_is_a_percentage_coloured_by_sign():
    fig = charts.roi(channel_rows(email=1.5, display=-0.4, referral=None))

    (trace,) = fig.data
    assert list(trace.text) == ["150%", "-40%", "no spend"]
    assert list(trace.marker.color)[:2] == [charts.GAIN, charts.LOSS]
    assert fig.layout.yaxis.tickformat == ",.0%"


def test_one_outlier_is_cut_at_the_axis_top_and_keeps_its_true_label():
    fig = charts.roi(channel_rows(a=1.0, b=2.0, c=1.5, d=90.0))

    (trace,) = fig.data
    assert trace.text[3] == "9,000% ▲"
    assert trace.y[3] == max(trace.y[:3]) * 1.6
    assert fig.layout.yaxis.range[1] > trace.y[3]


def test_highlighting_a_channel_fades_the_others():
    fig = charts.cost_per_mql(channel_rows(a=1.0, b=2.0), colors={}, currency=USD, highlight="b")

    assert list(fig.data[0].marker.opacity) == [0.35, 1.0]


def test_channel_colours_do_not_depend_on_order():
    assert charts.channel_colors(["b", "a"]) == charts.channel_colors(["a", "b"])


def test_tradeoff_draws_the_curve_and_marks_the_chosen_and_current_thresholds():
    curve = pl.DataFrame(
        {
            "threshold": [0.0, 10.0, 20.0],
            "mqls": [30, 20, 5],
            "mql_to_sql": [0.1, 0.2, 0.4],
            "customer_capture": [0.9, 0.6, 0.2],
        }
    )
    fig = charts.tradeoff(curve, threshold=10.0, current_threshold=20.0)

    bars, rate, capture = fig.data
    assert list(bars.y) == [30, 20, 5] and list(rate.y) == [0.1, 0.2, 0.4]
    assert list(capture.y) == [0.9, 0.6, 0.2]
    chosen, current = fig.layout.shapes
    assert (chosen.x0, chosen.x1, chosen.line.dash) == (10.0, 10.0, None)
    assert (current.x0, current.x1, current.line.dash) == (20.0, 20.0, "dot")
    assert [a.text for a in fig.layout.annotations] == ["chosen 10", "current 20"]
    # the same threshold twice: one mark
    same = charts.tradeoff(curve, threshold=20.0, current_threshold=20.0)
    assert [a.text for a in same.layout.annotations] == ["chosen 20"]


def test_cost_per_stage_labels_every_tick_of_its_log_axis_in_the_currency():
    row = {"channel": "search", "spend": 900.0, "cost_per_lead": 31.2, "cost_per_mql": 66.0,
           "cost_per_sql": 198.0, "cost_per_customer": 20_037.0}  # fmt: skip
    fig = roi_figures.cost_per_stage([row], currency=Currency("EUR"))

    axis = fig.layout.yaxis
    assert axis.type == "log"
    assert list(axis.tickvals) == [20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000]
    assert list(axis.ticktext) == ["€20", "€50", "€100", "€200", "€500", "€1k", "€2k", "€5k",
                                   "€10k", "€20k"]  # fmt: skip
    assert fig.data[3].hovertemplate[0] == "search: €20.0k per customer<extra></extra>"
