"""Journeys that were not straight lines: SQLs and customers that never were MQLs, skips and
recycling, as the paths of queries/journeys.sql and the flows of the Funnel page's diagram.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from funnelcast.analytics.scope import in_period, summed_over_channels, with_quarter_labels
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import DataContext

ENTRY_NODES = {"mql": "MQL", "demo_request": "Demo request, no MQL", "direct": "Direct, no MQL"}
FIRST_RESPONSE_NODES = {
    "accepted": "Accepted (SAL)",
    "rejected": "Rejected",
    "disqualified": "Disqualified",
    "awaiting": "Awaiting sales",
}
SECOND_RESPONSE_NODES = {
    "accepted": "Accepted on return",
    "rejected": "Rejected again",
    "disqualified": "Disqualified on return",
    "awaiting": "Awaiting sales on return",
}
OUTCOME_TAILS = {
    "customer": ("SQL", "Customer"),
    "lost": ("SQL", "Lost"),
    "open_sql": ("SQL", "Open opportunity"),
    "dropped_at_sal": ("Dropped at SAL",),
    "open_sal": ("Open at SAL",),
}


# What a journey pattern is (queries/journeys.sql's pattern columns), in its order.
PATTERN = (
    "entry",
    "first_response",
    "is_recycled",
    "is_back",
    "second_response",
    "outcome",
    "is_sal_skipped",
    "recycled_outcome",
)


def over_channels(frame: pl.DataFrame) -> pl.DataFrame:
    """Return journeys.sql's rows (per quarter, channel and pattern) summed over their
    channels, in journeys.sql's order: the patterns of the leads in scope."""
    return summed_over_channels(frame, ["quarter_start", *PATTERN])


def journeys_frame(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, *, channel: str | None = None
) -> pl.DataFrame:
    """Return the journey patterns per lead creation quarter, with quarter labels."""
    ctx.check_channel(channel)
    frame = db.run(cur, "journeys", fy_start_month=ctx.fy_start_month, channel=channel)
    return with_quarter_labels(over_channels(frame), ctx, "quarter_start")


def journey_path(pattern: dict[str, Any]) -> list[str]:
    """Return the nodes a journey pattern passes through, from how it reached sales on.

    Second hand-offs get nodes of their own, so the diagram never loops; leads that never
    reached sales have no path.
    """
    entry = pattern["entry"]
    if entry not in ENTRY_NODES:
        return []
    tail = list(OUTCOME_TAILS.get(pattern["outcome"], ()))
    if entry != "mql":
        # Straight to SQL skips SAL; a lead accepted without MQL passes through SAL.
        if tail and tail[0] != "SQL":
            tail = ["Accepted (SAL)", *tail]
        return [ENTRY_NODES[entry], *tail]
    path = ["MQL", FIRST_RESPONSE_NODES[pattern["first_response"]]]
    if pattern["is_recycled"] or pattern["is_back"]:
        if pattern["is_recycled"]:
            path.append("Recycled")
        if not pattern["is_back"]:
            return [*path, "Nurturing"]
        second = pattern["second_response"]
        path += ["Back as MQL", SECOND_RESPONSE_NODES[second]]
        return path + tail if second == "accepted" else path
    return path + tail if pattern["first_response"] == "accepted" else path


def sankey(patterns: pl.DataFrame) -> dict[str, Any]:
    """Return the journey diagram: nodes, and links (source, target, count) between them."""
    flows: dict[tuple[str, str], int] = {}
    for pattern in patterns.to_dicts():
        path = journey_path(pattern)
        for source, target in zip(path, path[1:]):
            flows[(source, target)] = flows.get((source, target), 0) + int(pattern["count_leads"])
    nodes: list[str] = []
    for source, target in flows:
        for node in (source, target):
            if node not in nodes:
                nodes.append(node)
    links = [{"source": s, "target": t, "count": c} for (s, t), c in flows.items()]
    return {"nodes": nodes, "links": links}


def journeys(frame: pl.DataFrame, quarter: str | None) -> dict[str, Any]:
    """Return a period's non-linear journeys: skips, recycling and how often it pays, the flows."""
    part = in_period(frame, quarter)

    def count(condition: pl.Expr) -> int:
        return int(part.filter(condition)["count_leads"].sum())

    skipped_mql = pl.col("entry").is_in(["demo_request", "direct"])
    reached_sql = pl.col("outcome").is_in(["customer", "lost", "open_sql"])
    recycled = pl.col("is_recycled")
    n_recycled = count(recycled)
    return {
        "leads": count(pl.lit(True)),
        "never_reached_sales": count(pl.col("entry") == "none"),
        "entered_sales": {
            entry: count(pl.col("entry") == entry) for entry in ("mql", "demo_request", "direct")
        },
        "sqls_without_mql": {
            "demo_request": count(skipped_mql & reached_sql & (pl.col("entry") == "demo_request")),
            "direct": count(skipped_mql & reached_sql & (pl.col("entry") == "direct")),
        },
        "customers_without_mql": count(skipped_mql & (pl.col("outcome") == "customer")),
        "sqls": count(reached_sql),
        "customers": count(pl.col("outcome") == "customer"),
        "sal_skipped": count(pl.col("is_sal_skipped")),
        "recycled": {
            "leads": n_recycled,
            "back_as_mql": count(recycled & pl.col("is_back")),
            "reached_sql_later": rate(
                count(recycled & pl.col("recycled_outcome").is_in(["sql", "customer"])), n_recycled
            ).as_dict(),
            "won_later": rate(
                count(recycled & (pl.col("recycled_outcome") == "customer")), n_recycled
            ).as_dict(),
        },
        "sankey": sankey(part),
    }
