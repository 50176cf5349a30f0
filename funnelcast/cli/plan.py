"""`funnelcast plan`: the MQLs, SQLs and budget a quarter's target takes, with their odds."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from funnelcast import planner
from funnelcast.core import formats
from funnelcast.data import db


def _positive_number(text: str) -> float:
    """Return a number parsed from the command line (the planner refuses zero and negatives)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text}")
    return value


def _whole_number(text: str) -> int:
    """Return a whole number parsed from the command line."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None


def _mix(text: str) -> dict[str, float]:
    """Return a channel mix given as channel=share,channel=share."""
    mix = {}
    for part in text.split(","):
        name, sep, share = part.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"channel mix: expected channel=share, not {part!r}")
        try:
            mix[name.strip()] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"channel mix: share of {name.strip()} must be a number, not {share!r}"
            ) from None
    return mix


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast plan` to the command parsers."""
    plan = commands.add_parser(
        "plan", help="the MQLs, SQLs and budget a quarter's target takes, with their odds"
    )
    plan.add_argument("--db", required=True, type=Path, help="database file")
    plan.add_argument(
        "--target-customers",
        type=_whole_number,
        help="new customers the quarter should win (default: the stored target)",
    )
    plan.add_argument(
        "--target-revenue",
        type=_positive_number,
        help="revenue the quarter should win (with customers: both must be reached)",
    )
    plan.add_argument("--quarter", help="quarter to plan, such as 2027Q1 (default: the next one)")
    plan.add_argument(
        "--window",
        type=_whole_number,
        default=planner.DEFAULT_WINDOW,
        help=f"mature quarters to learn rates from (default {planner.DEFAULT_WINDOW})",
    )
    plan.add_argument(
        "--mix",
        type=_mix,
        help="channel mix of new MQLs, as search=0.3,events=0.2 (default: recent)",
    )
    plan.add_argument(
        "--threshold",
        type=_positive_number,
        help="what-if MQL threshold for the current definition (default: its own)",
    )
    plan.add_argument("--format", choices=("json", "table"), default="table")


def _table(result: dict[str, Any]) -> str:
    """Return the plan as plain text for people."""
    t = result["target"]
    wants = " and ".join(
        part
        for part in (
            f"{t['customers']:,} customers" if t["customers"] is not None else "",
            f"{formats.money(t['revenue'])} revenue" if t["revenue"] is not None else "",
        )
        if part
    )
    req, budget = result["required_mqls"], result["budget"]
    lines = [
        f"plan for {t['quarter']}: {wants} (data as of {result['as_of'][:10]}; rates from "
        f"{result['history']['rates_from'][0]}–{result['history']['rates_from'][-1]})",
        "",
        "chance   new MQLs   SQLs    budget",
    ]
    for level in ("p50", "p80", "p90"):
        lines.append(
            f"{level[1:]:>5}%  {formats.count(req[level]):>9}  "
            f"{formats.count(result['required_sqls_by_level'][level]):>5}  "
            f"{formats.money(budget[level]):>8}"
        )
    q = result["qualified_leads"]
    pipeline = result["open_pipeline"]
    w, steady = result["waterfall"], result["required_mqls_steady_state"]
    lines += [
        "",
        f"customers needed {w['customers_needed']:.1f}: {w['customers_without_mql']:.1f} without "
        f"an MQL, {w['customers_from_known_mqls']:.1f} from MQLs already in, "
        f"{w['customers_from_new_mqls']:.1f} from new MQLs in {', '.join(result['future_quarters'])}",
        f"steady state (every quarter alike): {formats.count(steady['p50'])} / "
        f"{formats.count(steady['p80'])} / {formats.count(steady['p90'])} MQLs a quarter for a "
        f"50 / 80 / 90% chance",
        f"expected MQLs from the current definition: {formats.count(q['expected_mqls'])} "
        f"({q['source']}); chance of the target with them: "
        f"{formats.share(result['probability_of_target'])}",
        f"open pipeline: {pipeline['open_sqls']:,} open SQLs, expected to bring "
        f"{pipeline['expected_customers']:.1f} customers in {t['quarter']}",
        "",
        "channel   share   MQL→SQL   SQL→cust.   cost/MQL   MQLs (80%)",
    ]
    for row in result["per_channel"]:
        lines.append(
            f"{row['channel']:<9} {formats.share(row['mix_share'], 0):>5}  "
            f"{formats.share(row['mql_to_sql']['value']):>8}  "
            f"{formats.share(row['sql_to_customer']['value']):>10}  "
            f"{formats.money(row['cost_per_mql']):>9}  {formats.count(row['mqls']['p80']):>10}"
        )
    return "\n".join(lines)


def cmd_plan(args: argparse.Namespace) -> int:
    """Print the plan as JSON or a table."""
    con = db.connect(args.db, read_only=True)
    try:
        result = planner.make_plan(
            con.cursor(),
            quarter=args.quarter,
            customers=args.target_customers,
            revenue=args.target_revenue,
            window=args.window,
            mix=args.mix,
            threshold=args.threshold,
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print(_table(result))
    return 0


HANDLERS = {"plan": cmd_plan}
