"""`funnelcast metrics`: the headline funnel figures per channel and in total, as JSON or a table."""

from __future__ import annotations

import argparse
import math
from typing import Any

from funnelcast.cli.options import add_scope, number
from funnelcast.cli.runner import Report
from funnelcast.cli.tables import align, currency_of
from funnelcast.core import formats
from funnelcast.core.currency import Currency

_threshold = number(
    float,
    lambda v: v >= 0 and math.isfinite(v),
    not_a_number="threshold must be a number",
    refused="threshold must be a number >= 0",
)

# The table's columns after the channel, and how each is shown.
_COLUMNS = (
    ("leads", "count"),
    ("mqls", "count"),
    ("sqls", "count"),
    ("customers", "count"),
    ("mql_to_sql", "rate"),
    ("sql_to_customer", "rate"),
    ("revenue", "money"),
    ("spend", "money"),
    ("cost_per_mql", "money"),
    ("roi", "rate"),
)


def _arguments(command: argparse.ArgumentParser) -> None:
    add_scope(command, channel="only leads and spend of this channel")
    command.add_argument(
        "--threshold",
        type=_threshold,
        help="compute MQLs with the current definition at this threshold "
        "(default: the MQLs the CRM recorded)",
    )


def _compute(cur: Any, args: argparse.Namespace) -> dict[str, Any]:
    from funnelcast.analytics.metrics import metrics

    return metrics(cur, quarter=args.quarter, channel=args.channel, threshold=args.threshold)


def _show(value: Any, kind: str, currency: Currency) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "money":
        return formats.money(value, currency, exact=True)
    return f"{value:,}"


def table(result: dict[str, Any]) -> str:
    """Return the metrics as a plain-text table for people."""
    currency = currency_of(result)
    rows = [["channel"] + [name for name, _ in _COLUMNS]]
    for item in [*result["by_channel"], {"channel": "TOTAL", **result}]:
        rows.append(
            [item["channel"]] + [_show(item[name], kind, currency) for name, kind in _COLUMNS]
        )
    scope = result["scope"]
    title = (
        f"{scope['quarter'] or 'all history'}"
        f"{' · channel ' + scope['channel'] if scope['channel'] else ''}"
        f" · MQLs {scope['mql_source']}"
        f"{' at threshold ' + format(scope['threshold'], 'g') if scope['threshold'] is not None else ''}"
        f" · amounts in {currency.label}"
    )
    note = (
        ""
        if scope["cohort_is_mature"] in (True, None)
        else ("\nnote: this cohort is still maturing; its conversion rates will rise.")
    )
    return "\n".join([title, *align(rows)]) + note


REPORT = Report(
    "metrics", "print the headline funnel figures", _arguments, _compute, text=table, spark=True
)
