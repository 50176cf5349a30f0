"""`funnelcast roi` (ROI per channel, the attribution models side by side, payback) and
`funnelcast report` (the quarterly review as one self-contained HTML file)."""

from __future__ import annotations

import argparse
import math
from typing import Any

from funnelcast.analytics import attribution
from funnelcast.cli.options import add_out, add_quarter, number
from funnelcast.cli.runner import Report
from funnelcast.cli.tables import align, currency_of
from funnelcast.core import formats

_half_life = number(
    float,
    lambda v: math.isfinite(v) and v > 0,
    not_a_number="half-life must be a number of days",
    refused="half-life must be > 0 days",
)


def _model_options(command: argparse.ArgumentParser) -> None:
    """Add --model and --half-life to a command."""
    command.add_argument(
        "--model",
        choices=attribution.MODEL_KEYS,
        default="first_touch",
        help="attribution model that credits revenue to channels (default: first_touch, the "
        "lead's source)",
    )
    command.add_argument(
        "--half-life",
        dest="half_life",
        type=_half_life,
        default=attribution.DEFAULT_HALF_LIFE_DAYS,
        help=f"time-decay half-life in days (default {attribution.DEFAULT_HALF_LIFE_DAYS:g})",
    )


def _model_of(args: argparse.Namespace) -> dict[str, Any]:
    """Return the attribution model and half-life the options of _model_options chose."""
    return {"model": args.model, "half_life_days": args.half_life}


def _roi_text(value: float | None) -> str:
    return "no spend" if value is None else f"{value:.0%}"


def table(result: dict[str, Any]) -> str:
    """Return the ROI result as plain-text tables for people."""
    scope = result["scope"]
    lines = [
        f"{scope['quarter'] or 'all history'} · revenue by {scope['model_label']}"
        f" · attribution from {scope['attribution_basis']}"
        f" · amounts in {currency_of(result).label}",
        result["scorecard"]["sentence"],
        "",
    ]
    currency = currency_of(result)
    money = lambda v: formats.money(v, currency, exact=True)  # noqa: E731
    rows = [
        [
            "channel",
            "spend",
            "leads",
            "mqls",
            "sqls",
            "customers",
            "revenue",
            "cost/lead",
            "cost/mql",
            "cost/sql",
            "cost/customer",
            "roi",
            "roi vs prev",
            "roi vs year ago",
        ]
    ]
    for item in [*result["by_channel"], {"channel": "TOTAL", **result["totals"]}]:
        changes = []
        for key in ("vs_previous", "vs_year_ago"):
            delta = (item["change"][key] or {}).get("roi") if item["change"][key] else None
            changes.append("—" if delta is None else f"{delta * 100:+,.0f} pts")
        rows.append([
            item["channel"], money(item["spend"]), f"{item['leads']:,}", f"{item['mqls']:,}",
            f"{item['sqls']:,}", f"{item['customers']:,}", money(item["revenue"]),
            money(item["cost_per_lead"]), money(item["cost_per_mql"]),
            money(item["cost_per_sql"]), money(item["cost_per_customer"]),
            _roi_text(item["roi"]), *changes,
        ])  # fmt: skip
    lines += align(rows)
    lines += ["", f"revenue credited per model (rank) · time-decay half-life "
                  f"{scope['half_life_days']:g} days"]  # fmt: skip
    rows = [["channel", *attribution.MODEL_KEYS, "rank changes"]]
    for item in result["attribution"]["by_channel"]:
        rows.append([
            item["channel"],
            *(formats.money(item["models"][m]["revenue"], currency)
              + (f" (#{item['models'][m]['rank']})" if item["models"][m]["rank"] else "")
              for m in attribution.MODEL_KEYS),
            f"yes ({item['rank_low']}-{item['rank_high']})" if item["rank_changes"] else "no",
        ])  # fmt: skip
    lines += align(rows)
    lines += ["", f"payback: revenue of each quarter's new leads so far (mature after "
                  f"{result['payback']['lead_to_customer_p90_days']:g} days)"]  # fmt: skip
    rows = [["quarter", "spend", "leads", "customers", "revenue so far", "roi so far", ""]]
    for item in result["payback"]["by_quarter"]:
        rows.append([
            item["quarter"], money(item["spend"]), f"{item['leads']:,}",
            f"{item['customers_so_far']:,}", money(item["revenue_so_far"]),
            _roi_text(item["roi_so_far"]), "" if item["is_mature"] else "maturing",
        ])  # fmt: skip
    lines += align(rows)
    return "\n".join(lines)


def _roi_arguments(command: argparse.ArgumentParser) -> None:
    add_quarter(command)
    _model_options(command)


def _roi(cur: Any, args: argparse.Namespace) -> dict[str, Any]:
    from funnelcast.analytics.roi import roi

    return roi(cur, quarter=args.quarter, **_model_of(args))


def _review_arguments(command: argparse.ArgumentParser) -> None:
    add_quarter(command, "the latest complete one")
    add_out(command, "HTML file to write")
    _model_options(command)


def _review(cur: Any, args: argparse.Namespace) -> tuple[str, str]:
    """Return the quarter's label and the review's HTML."""
    from funnelcast import report

    return report.build(cur, quarter=args.quarter, source=args.db.name, **_model_of(args))


def _write_review(built: tuple[str, str], args: argparse.Namespace) -> str:
    """Write the review to --out; return the line saying so."""
    from funnelcast import report

    label, text = built
    report.write(args.out, text, replace=args.replace)
    return f"wrote {args.out}: the quarterly review of {label} ({len(text) / 1e6:.1f} MB, opens offline)"


ROI = Report(
    "roi", "ROI and cost per stage per channel, attribution models side by side, payback",
    _roi_arguments, _roi, text=table, spark=True,
)  # fmt: skip
REVIEW = Report(
    "report", "write the quarterly review as one self-contained HTML file",
    _review_arguments, _review, write=_write_review,
)  # fmt: skip
