"""Multi-touch attribution: credit each deal's revenue and customer to the channels and campaigns
of the touches that led to it, under seven models side by side.

queries/attribution_touches.sql lists every deal's touches (its lead's source and its events up
to the deal) with each touch's weight under each model. This module turns the weights into
money that adds up: a deal's credits are whole cents that sum to its amount exactly (largest
remainder), so channel totals under every model add up to the same revenue.

At any size the journeys are read a bounded batch of dealing leads at a time
(queries/attribution_batches.sql, BATCH_LEADS leads each: a deal's touches are all its lead's, so
a batch never splits a deal) and only their sums are kept (load_credits): the credits per
quarter, model, channel and campaign, and one short row per deal for the journey counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import duckdb
import polars as pl

from funnelcast.data import db

DEFAULT_HALF_LIFE_DAYS = 7.0
DEAL = ("lead_id", "deal_at")
# Dealing leads read per batch: at 10M leads (201.7M events) a batch's touches are about a
# million rows, a few hundred MB with their credits, whatever the database's size.
BATCH_LEADS = 20_000
CREDIT_KEYS = ("quarter_start", "model", "channel", "campaign")


@dataclass(frozen=True)
class Model:
    """An attribution model: its key (the CLI's --model), label and how it splits the credit."""

    key: str
    label: str
    rule: str


MODELS = (
    Model("first_touch", "First touch", "all credit to the first touch (the lead's source)"),
    Model("last_touch_mql", "Last touch before MQL",
          "all credit to the last touch at or before the MQL moment (no MQL: the last touch "
          "before the deal)"),
    Model("last_touch_deal", "Last touch before deal", "all credit to the last touch before the deal"),
    Model("linear", "Linear", "the same share to every touch"),
    Model("u_shaped", "U-shaped 40/20/40",
          "40% first touch, 40% last touch, 20% spread over those between (two touches: 50/50)"),
    Model("w_shaped", "W-shaped 30/30/30/10",
          "30% each to the first, MQL and last touches, 10% spread over the others (none: over "
          "all); without an MQL the last touch holds the MQL share too"),
    Model("time_decay", "Time decay",
          "a touch's share halves with every half-life it lies before the last touch"),
)  # fmt: skip
MODEL_KEYS = tuple(m.key for m in MODELS)
MODEL_LABELS = {m.key: m.label for m in MODELS}


def model_line(key: str) -> str:
    """Return, in one plain line, which model credits the revenue behind ROI and why the
    models' figures differ."""
    model = next(m for m in MODELS if m.key == key)
    return (
        f"ROI here credits each deal's revenue by **{model.label}**: {model.rule}. The models "
        "differ because a buyer usually touched several channels first, and each model hands "
        "the deal to different touches (compared below)."
    )


# What a credit can be broken down by: a fixed list, never user text.
BREAKDOWNS = ("channel", "campaign")


class AttributionInputError(db.FunnelcastError):
    """A model or half-life the attribution cannot use."""


def check_model(model: str) -> str:
    """Return the model key, or AttributionInputError naming the known ones."""
    if model not in MODEL_KEYS:
        raise AttributionInputError(
            f"unknown attribution model {model!r} (known: {', '.join(MODEL_KEYS)})"
        )
    return model


def check_half_life(days: float) -> float:
    """Return the time-decay half-life in days, or AttributionInputError when it is not > 0."""
    days = float(days)
    if not math.isfinite(days) or days <= 0:
        raise AttributionInputError(f"the time-decay half-life must be > 0 days, not {days:g}")
    return days


def touches(
    cur: duckdb.DuckDBPyConnection,
    fy_start_month: int,
    half_life_days: float,
    lead_from: str | None = None,
    lead_to: str | None = None,
) -> pl.DataFrame:
    """Return the deals' touches with their weights per model (queries/attribution_touches.sql):
    every deal's, or those of the leads with lead_from <= lead_id < lead_to (None: no bound)."""
    return db.run(
        cur,
        "attribution_touches",
        fy_start_month=fy_start_month,
        half_life_days=check_half_life(half_life_days),
        lead_from=lead_from,
        lead_to=lead_to,
    )


def batches(cur: duckdb.DuckDBPyConnection, batch_leads: int = BATCH_LEADS) -> list[tuple]:
    """Return the (lead_from, lead_to) bounds of the batches of dealing leads, in lead order
    (lead_to None: to the end); one unbounded batch when no lead has a deal."""
    frame = db.run(cur, "attribution_batches", batch_leads=int(batch_leads))
    starts = frame["lead_from"].to_list()
    if not starts:
        return [(None, None)]
    return list(zip([None, *starts[1:]], [*starts[1:], None], strict=True))


def load_credits(
    cur: duckdb.DuckDBPyConnection,
    fy_start_month: int,
    half_life_days: float,
    batch_leads: int = BATCH_LEADS,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (credit_totals, deal_summary) of every deal, read a batch of leads at a time so
    that memory stays bounded: the same figures as crediting all the touches at once."""
    check_half_life(half_life_days)
    totals, deals = [], []
    for lead_from, lead_to in batches(cur, batch_leads):
        frame = touches(cur, fy_start_month, half_life_days, lead_from, lead_to)
        totals.append(credit_totals(frame))
        deals.append(deal_summary(frame))
        del frame
    return sum_credits(pl.concat(totals)), pl.concat(deals)


def allocate_cents(
    frame: pl.DataFrame,
    weight: str,
    *,
    total: str = "amount_cents",
    group=DEAL,
    order: str = "touch_index",
) -> pl.Series:
    """Return each row's whole-cent share of its group's total, by weight, summing exactly.

    Largest remainder: every row gets the floor of its exact share, and the cents left over go
    one each to the rows with the largest fractions (ties: the earlier row by `order`).
    Weights need not be normalised; a group whose weights are all zero shares evenly.
    """
    group = list(group)
    weight_sum = pl.col(weight).sum().over(group)
    share = (
        pl.when(weight_sum > 0)
        .then(pl.col(weight) / weight_sum)
        .otherwise(1.0 / pl.len().over(group))
    )
    exact = pl.col(total).cast(pl.Float64) * share
    out = (
        frame.with_row_index("_row")
        .sort([*group, order])
        .with_columns(_floor=exact.floor().cast(pl.Int64), _exact=exact)
        .with_columns(
            _fraction=pl.col("_exact") - pl.col("_floor"),
            _left=pl.col(total) - pl.col("_floor").sum().over(group),
        )
        .with_columns(
            _rank=pl.col("_fraction").rank("ordinal", descending=True).over(group),
        )
        .with_columns(cents=pl.col("_floor") + (pl.col("_rank") <= pl.col("_left")).cast(pl.Int64))
        .sort("_row")
    )
    return out["cents"]


def credits(touch_frame: pl.DataFrame) -> pl.DataFrame:
    """Return one row per deal, touch and model: the revenue (whole cents) and the share of a
    customer credited to the touch's channel and campaign.

    A lead's later deals credit revenue but no customer: the customer was won by its first deal.
    """
    base = ("quarter_start", "lead_id", "deal_at", "touch_index", "channel", "campaign",
            "amount_cents", "is_first_deal")  # fmt: skip
    parts = []
    for model in MODEL_KEYS:
        weight = f"w_{model}"
        parts.append(
            touch_frame.select(
                *base,
                pl.lit(model).alias("model"),
                allocate_cents(touch_frame, weight).alias("revenue_cents"),
                (pl.col(weight) * pl.col("is_first_deal").cast(pl.Float64)).alias("customers"),
            )
        )
    return pl.concat(parts)


def sum_credits(frame: pl.DataFrame) -> pl.DataFrame:
    """Return credit rows summed per quarter, model, channel and campaign, in that order."""
    return (
        frame.group_by(*CREDIT_KEYS)
        .agg(pl.col("revenue_cents").sum(), pl.col("customers").sum())
        .sort(*CREDIT_KEYS)
    )


def credit_totals(touch_frame: pl.DataFrame, models: tuple[str, ...] = MODEL_KEYS) -> pl.DataFrame:
    """Return credits(touch_frame) summed per quarter, model, channel and campaign: whole cents
    of revenue and customers, all that credited() and comparison() need (of the given models
    only: the frame needs their weight columns only)."""
    parts = []
    for model in models:
        weight = f"w_{model}"
        parts.append(
            touch_frame.select(
                "quarter_start", "channel", "campaign",
                pl.lit(model).alias("model"),
                allocate_cents(touch_frame, weight).alias("revenue_cents"),
                (pl.col(weight) * pl.col("is_first_deal").cast(pl.Float64)).alias("customers"),
            )
        )  # fmt: skip
    return sum_credits(pl.concat(parts))


def deal_summary(touch_frame: pl.DataFrame) -> pl.DataFrame:
    """Return one row per deal: its quarter, touch count, and whether it had no MQL before it
    and whether its only touch is the source (what journeys() counts)."""
    return touch_frame.group_by(*DEAL).agg(
        pl.col("quarter_start").first(),
        pl.col("count_touches").first(),
        pl.col("mql_at").first().is_null().alias("is_without_mql"),
        pl.col("is_source").all().alias("is_source_only"),
    )


def credited(
    credit_frame: pl.DataFrame, *, quarter_starts=None, by: str = "channel"
) -> pl.DataFrame:
    """Return revenue (money) and customers credited per model and channel (or campaign),
    over the deals closed in the given quarters (None: all history)."""
    if by not in BREAKDOWNS:
        raise ValueError(f"attribution breakdown must be one of {BREAKDOWNS}, not {by!r}")
    keys = ["channel"] if by == "channel" else ["channel", "campaign"]
    frame = credit_frame
    if quarter_starts is not None:
        frame = frame.filter(pl.col("quarter_start").is_in(list(quarter_starts)))
    return (
        frame.group_by("model", *keys)
        .agg(
            (pl.col("revenue_cents").sum() / 100).alias("revenue"),
            pl.col("customers").sum().alias("customers"),
        )
        .sort("model", *keys)
    )


def comparison(
    credit_frame: pl.DataFrame,
    spend_by_channel: dict[str, float],
    *,
    quarter_starts=None,
) -> list[dict]:
    """Return per channel its revenue, customers, ROI and revenue rank under every model, and
    whether its rank changes from one model to another.

    Channels are ranked by credited revenue (1 = most; equal credit, equal rank), so a channel
    without spend is ranked too; one that no model credits at all is not ranked (rank None).
    ROI is None without spend.
    """
    table = credited(credit_frame, quarter_starts=quarter_starts)
    channels = sorted(set(table["channel"].to_list()) | set(spend_by_channel))
    revenue = {(r["model"], r["channel"]): r for r in table.to_dicts()}
    rows = []
    for channel in channels:
        spend = float(spend_by_channel.get(channel, 0.0))
        row: dict = {"channel": channel, "spend": round(spend, 2), "models": {}}
        for model in MODEL_KEYS:
            found = revenue.get((model, channel), {"revenue": 0.0, "customers": 0.0})
            money = round(float(found["revenue"]), 2)
            row["models"][model] = {
                "revenue": money,
                "customers": round(float(found["customers"]), 4),
                "roi": (money - spend) / spend if spend > 0 else None,
            }
        rows.append(row)
    # A channel no model credits with anything (spend without deals) is not ranked.
    ranked = [r for r in rows if any(r["models"][m]["revenue"] for m in MODEL_KEYS)]
    for model in MODEL_KEYS:
        for r in rows:
            revenue = r["models"][model]["revenue"]
            r["models"][model]["rank"] = (
                1 + sum(1 for o in ranked if o["models"][model]["revenue"] > revenue)
                if r in ranked
                else None
            )
    for r in rows:
        ranks = [r["models"][m]["rank"] for m in MODEL_KEYS]
        is_ranked = r in ranked
        r["rank_low"] = min(ranks) if is_ranked else None
        r["rank_high"] = max(ranks) if is_ranked else None
        r["rank_changes"] = is_ranked and r["rank_low"] != r["rank_high"]
    return rows


def journeys(frame: pl.DataFrame, *, quarter_starts=None) -> dict[str, float | None]:
    """Return how the deals' journeys look: how many deals, and how many fall under each rule
    for a short journey (one touch, two touches, no MQL before the deal, source only).

    The frame is a deal_summary, or a touch frame (summarised here)."""
    if quarter_starts is not None:
        frame = frame.filter(pl.col("quarter_start").is_in(list(quarter_starts)))
    deals = deal_summary(frame) if "touch_index" in frame.columns else frame
    return {
        "deals": deals.height,
        "one_touch": int((deals["count_touches"] == 1).sum()) if deals.height else 0,
        "two_touches": int((deals["count_touches"] == 2).sum()) if deals.height else 0,
        "without_mql": int(deals["is_without_mql"].sum()) if deals.height else 0,
        "source_only": int(deals["is_source_only"].sum()) if deals.height else 0,
        "median_touches": (
            float(cast(float, deals["count_touches"].median())) if deals.height else None
        ),
    }
