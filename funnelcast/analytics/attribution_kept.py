"""The attribution kept in the database per data version, and the one-pass read behind it.

Crediting reads the deals' touches (queries/attribution_touches.sql) and splits each deal's
cents per touch in Python (funnelcast.analytics.attribution: credit_totals, deal_summary).
attribution.load_credits reads the touches a batch of dealing leads at a time, and every batch
scans all the events again (15 scans at 10M leads). `credit` reads them once into a temporary
table and credits the same batches from it: the same figures, one scan of the events.

What is kept (queries/attribution_kept_write.sql), written with the funnel summary
(funnelcast.analytics.rollups.refresh calls `refresh`: every import's transaction, the demo
builder, `funnelcast summarize`): the credits per quarter, model, channel and campaign at the
default time-decay half-life, one row per deal, and each deal's touches (moment, channel,
campaign, amount), so that time decay at any other half-life is credited from them without
reading the events (queries/attribution_kept_decay.sql); the other six models do not depend on
the half-life; and the ROI page's payback (queries/spend_payback.sql's rows: a scan of the
deals, 2 s at 10M leads, the same at every choice). Keyed by the funnel summary's data key (rollups.data_key, which the caller
passes: this module does not import rollups) with the events' count and span
(queries/attribution_kept_version.sql), this module's FORMAT and the fiscal year.

Who reads it: funnelcast.analytics.roi.load, only on DuckDB and only when the key matches
(`read`); otherwise it credits with `credit` (DuckDB) or attribution.load_credits (Spark).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics import attribution
from funnelcast.data import db
from funnelcast.data.kept import current_state

# Bump when what attribution_kept_write.sql keeps, or how a deal is credited, changes.
FORMAT = 1
TOUCHES = "deal_touches"  # the temporary table attribution_touch_batch.sql reads
# the statement that reads the deals' touches once into it (its SELECT: attribution_touches.sql)
_INTO_TOUCHES = f"create or replace temp table {TOUCHES} as\n"
DECAY = "time_decay"
# dealing leads credited at a time from the held touches: a batch reads the table, not every
# event, so a small one costs no more time and holds a quarter of the memory (at 10M leads
# 20,000 a batch peaked at 2.4 GB, 5,000 at 1.5 GB, in the same 41 s)
HELD_BATCH_LEADS = 5_000


@contextlib.contextmanager
def _touch_table(
    cur: duckdb.DuckDBPyConnection, fy_start_month: int, half_life_days: float
) -> Iterator[None]:
    """Hold every deal's touches (attribution_touches.sql) in a temporary table meanwhile."""
    cur.execute(
        _INTO_TOUCHES + db.query_text("attribution_touches"),
        {
            "fy_start_month": fy_start_month,
            "half_life_days": attribution.check_half_life(half_life_days),
            "lead_from": None,
            "lead_to": None,
        },
    )
    try:
        yield
    finally:
        cur.execute(f"drop table if exists {TOUCHES}")


@contextlib.contextmanager
def _decay_table(cur: duckdb.DuckDBPyConnection, half_life_days: float) -> Iterator[None]:
    """Hold the kept touches with their time-decay weights at a half-life meanwhile."""
    cur.execute(
        _INTO_TOUCHES + db.query_text("attribution_kept_decay"),
        {"half_life_days": attribution.check_half_life(half_life_days)},
    )
    try:
        yield
    finally:
        cur.execute(f"drop table if exists {TOUCHES}")


def _credit_held(
    cur: duckdb.DuckDBPyConnection, models: tuple[str, ...], with_deals: bool
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Return the credit totals (and deal rows) of the touches held in the temporary table,
    credited a batch of dealing leads at a time, as attribution.load_credits does."""
    totals, deals = [], []
    for lead_from, lead_to in attribution.batches(cur, HELD_BATCH_LEADS):
        frame = db.run(cur, "attribution_touch_batch", lead_from=lead_from, lead_to=lead_to)
        totals.append(attribution.credit_totals(frame, models))
        if with_deals:
            deals.append(attribution.deal_summary(frame))
        del frame
    summed = attribution.sum_credits(pl.concat(totals))
    return summed, pl.concat(deals) if with_deals else None


def credit(
    cur: duckdb.DuckDBPyConnection, fy_start_month: int, half_life_days: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (credit_totals, deal_summary) of every deal: attribution.load_credits' figures,
    from one scan of the events."""
    with _touch_table(cur, fy_start_month, half_life_days):
        totals, deals = _credit_held(cur, attribution.MODEL_KEYS, with_deals=True)
    assert deals is not None
    return totals, deals


def refresh(cur: duckdb.DuckDBPyConnection, data_key: str, fy_start_month: int) -> None:
    """Credit every deal at the default half-life and keep it with the deals' touches, in the
    caller's transaction (funnelcast.analytics.rollups.refresh)."""
    half_life = attribution.DEFAULT_HALF_LIFE_DAYS
    with _touch_table(cur, fy_start_month, half_life):
        totals, deals = _credit_held(cur, attribution.MODEL_KEYS, with_deals=True)
        frames = {
            "attribution_kept_credit_frame": totals,
            "attribution_kept_deal_frame": deals,
            "attribution_kept_payback_frame": db.run(
                cur, "spend_payback", fy_start_month=fy_start_month
            ),
            "attribution_kept_state_frame": pl.DataFrame(
                {
                    "format": [FORMAT],
                    "data_key": [_key(cur, data_key)],
                    "fy_start_month": [fy_start_month],
                    "half_life_days": [float(half_life)],
                }
            ),
        }
        for name, frame in frames.items():
            cur.register(name, frame)
        try:
            cur.execute(db.query_text("attribution_kept_write"))
        finally:
            for name in frames:
                cur.unregister(name)


def _key(cur: duckdb.DuckDBPyConnection, data_key: str) -> str:
    """Return the kept attribution's key: the funnel summary's and the events' figures."""
    events = db.run(cur, "attribution_kept_version").rows()
    text = json.dumps([FORMAT, data_key, events], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_payback(cur: Any, data_key: str, fy_start_month: int) -> pl.DataFrame | None:
    """Return the kept spend_payback.sql rows, or None when none is current (as read)."""
    if _current(cur, data_key, fy_start_month) is None:
        return None
    return db.run(cur, "attribution_kept_payback")


# The kept attribution's tables (queries/attribution_kept_write.sql writes them).
TABLES = (
    "attribution_kept_state",
    "attribution_kept_credits",
    "attribution_kept_deals",
    "attribution_kept_touches",
    "attribution_kept_payback",
)


def _current(cur: Any, data_key: str, fy_start_month: int) -> dict[str, Any] | None:
    """Return the kept state row when it is current for the data and fiscal year, else None."""
    return current_state(
        cur,
        TABLES,
        "attribution_kept_state",
        {
            "format": FORMAT,
            "fy_start_month": fy_start_month,
            "data_key": lambda: _key(cur, data_key),
        },
    )


def read(
    cur: Any, data_key: str, fy_start_month: int, half_life_days: float
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """Return (credit_totals, deal_summary) from the kept attribution, or None when none is
    current (no kept tables, another format, data key or fiscal year, not a DuckDB cursor).
    At another half-life than the kept one, time decay is credited again from the kept touches."""
    half_life = attribution.check_half_life(half_life_days)
    kept = _current(cur, data_key, fy_start_month)
    if kept is None:
        return None
    if half_life == float(kept["half_life_days"]):
        totals = db.run(cur, "attribution_kept_credits", models=list(attribution.MODEL_KEYS))
    else:
        others = [m for m in attribution.MODEL_KEYS if m != DECAY]
        with _decay_table(cur, half_life):
            decay, _ = _credit_held(cur, (DECAY,), with_deals=False)
        totals = pl.concat(
            [db.run(cur, "attribution_kept_credits", models=others), decay], how="vertical"
        ).sort(*attribution.CREDIT_KEYS)
    return totals, db.run(cur, "attribution_kept_deals")
