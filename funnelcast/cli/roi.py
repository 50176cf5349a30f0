"""`funnelcast roi` (ROI per channel, the attribution models side by side, payback) and
`funnelcast report` (the quarterly review as one self-contained HTML file)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from funnelcast.analytics import attribution
from funnelcast.core import formats
from funnelcast.data import db


def _half_life(text: str) -> float:
    """Return a half-life in days parsed from the command line; it must be > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"half-life must be a number of days, not {text!r}"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"half-life must be > 0 days, not {text}")
    return value


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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast roi` and `funnelcast report` to the command parsers."""
    roi = commands.add_parser(
        "roi", help="ROI and cost per stage per channel, attribution models side by side, payback"
    )
    roi.add_argument("--db", required=True, type=Path, help="database file")
    roi.add_argument("--quarter", help="fiscal quarter such as 2026Q1 (default: all history)")
    _model_options(roi)
    roi.add_argument("--format", choices=("json", "table"), default="table")

    report = commands.add_parser(
        "report", help="write the quarterly review as one self-contained HTML file"
    )
    report.add_argument("--db", required=True, type=Path, help="database file")
    report.add_argument(
        "--quarter", help="fiscal quarter such as 2026Q1 (default: the latest complete one)"
    )
    report.add_argument("--out", required=True, type=Path, help="HTML file to write")
    report.add_argument(
        "--replace", action="store_true", help="overwrite the file if it exists (default: refuse)"
    )
    _model_options(report)


def _roi_text(value: float | None) -> str:
    return "no spend" if value is None else f"{value:.0%}"


def _align(rows: list[list[str]]) -> list[str]:
    """Return rows as lines of a plain-text table: first column left, others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]


def table(result: dict[str, Any]) -> str:
    """Return the ROI result as plain-text tables for people."""
    scope = result["scope"]
    lines = [
        f"{scope['quarter'] or 'all history'} · revenue by {scope['model_label']}"
        f" · attribution from {scope['attribution_basis']}",
        result["scorecard"]["sentence"],
        "",
    ]
    money = lambda v: "—" if v is None else f"{v:,.2f}"  # noqa: E731
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
    lines += _align(rows)
    lines += ["", f"revenue credited per model (rank) · time-decay half-life "
                  f"{scope['half_life_days']:g} days"]  # fmt: skip
    rows = [["channel", *attribution.MODEL_KEYS, "rank changes"]]
    for item in result["attribution"]["by_channel"]:
        rows.append([
            item["channel"],
            *(formats.money(item["models"][m]["revenue"])
              + (f" (#{item['models'][m]['rank']})" if item["models"][m]["rank"] else "")
              for m in attribution.MODEL_KEYS),
            f"yes ({item['rank_low']}-{item['rank_high']})" if item["rank_changes"] else "no",
        ])  # fmt: skip
    lines += _align(rows)
    lines += ["", f"payback: revenue of each quarter's new leads so far (mature after "
                  f"{result['payback']['lead_to_customer_p90_days']:g} days)"]  # fmt: skip
    rows = [["quarter", "spend", "leads", "customers", "revenue so far", "roi so far", ""]]
    for item in result["payback"]["by_quarter"]:
        rows.append([
            item["quarter"], money(item["spend"]), f"{item['leads']:,}",
            f"{item['customers_so_far']:,}", money(item["revenue_so_far"]),
            _roi_text(item["roi_so_far"]), "" if item["is_mature"] else "maturing",
        ])  # fmt: skip
    lines += _align(rows)
    return "\n".join(lines)


def cmd_roi(args: argparse.Namespace) -> int:
    """Print the ROI figures as JSON or as tables."""
    from funnelcast.analytics.roi import roi

    con = db.connect(args.db, read_only=True)
    try:
        result = roi(
            con.cursor(), quarter=args.quarter, model=args.model, half_life_days=args.half_life
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print(table(result))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the quarterly review of a quarter to an HTML file."""
    from funnelcast import report

    out: Path = args.out
    if out.exists() and not args.replace:
        raise db.FunnelcastError(
            f"{out} already exists; choose another file or pass --replace to overwrite it"
        )
    con = db.connect(args.db, read_only=True)
    try:
        label, text = report.build(
            con.cursor(),
            quarter=args.quarter,
            model=args.model,
            half_life_days=args.half_life,
            source=Path(args.db).name,
        )
    finally:
        con.close()
    report.write(out, text, replace=args.replace)
    print(f"wrote {out}: the quarterly review of {label} ({len(text) / 1e6:.1f} MB, opens offline)")
    return 0


HANDLERS = {"roi": cmd_roi, "report": cmd_report}
