"""`funnelcast plan`: the MQLs, SQLs and budget a quarter's target takes, with their odds."""

from __future__ import annotations

import argparse
from typing import Any

from funnelcast.cli.options import finite_number, sample_share, whole_number
from funnelcast.cli.runner import Report
from funnelcast.cli.tables import currency_of
from funnelcast.core import formats

# planner.DEFAULT_WINDOW, said again here: the planner (numba, scipy) is imported only when the
# command runs, so that every other command starts without it (tests/test_cli.py compares)
DEFAULT_WINDOW = 4


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


def _arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--target-customers",
        type=whole_number,
        help="new customers the quarter should win (default: the stored target)",
    )
    command.add_argument(
        "--target-revenue",
        type=finite_number,  # the planner refuses zero and negatives, in its own words
        help="revenue the quarter should win (with customers: both must be reached)",
    )
    command.add_argument(
        "--quarter", help="quarter to plan, such as 2027Q1 (default: the next one)"
    )
    command.add_argument(
        "--window",
        type=whole_number,
        default=DEFAULT_WINDOW,
        help=f"mature quarters to learn rates from (default {DEFAULT_WINDOW})",
    )
    command.add_argument(
        "--mix",
        type=_mix,
        help="channel mix of new MQLs, as search=0.3,events=0.2 (default: recent)",
    )
    command.add_argument(
        "--threshold",
        type=finite_number,
        help="what-if MQL threshold for the current definition (default: its own)",
    )
    command.add_argument(
        "--sample",
        type=sample_share,
        help="replay the definition on a seeded random share of leads, such as 0.1 (volumes "
        "scaled up, rates as sampled; default: every lead, or the largest share that fits in "
        "the memory free)",
    )


def _compute(cur: Any, args: argparse.Namespace) -> dict[str, Any]:
    from funnelcast import planner

    return planner.make_plan(
        cur,
        quarter=args.quarter,
        customers=args.target_customers,
        revenue=args.target_revenue,
        window=args.window,
        mix=args.mix,
        threshold=args.threshold,
        sample=args.sample,
    )


def table(result: dict[str, Any]) -> str:
    """Return the plan as plain text for people."""
    t = result["target"]
    currency = currency_of(result)
    wants = " and ".join(
        part
        for part in (
            f"{t['customers']:,} customers" if t["customers"] is not None else "",
            f"{formats.money(t['revenue'], currency)} revenue" if t["revenue"] is not None else "",
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
            f"{formats.money(budget[level], currency):>8}"
        )
    q = result["qualified_leads"]
    if q.get("sample"):
        lines.insert(
            1,
            f"qualified leads from a {q['sample']:.3g} random sample of leads "
            f"({q['sample'] * 100:.3g}%): volumes scaled up, rates as sampled",
        )
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
            f"{formats.money(row['cost_per_mql'], currency):>9}  "
            f"{formats.count(row['mqls']['p80']):>10}"
        )
    return "\n".join(lines)


REPORT = Report(
    "plan", "the MQLs, SQLs and budget a quarter's target takes, with their odds",
    _arguments, _compute, text=table, spark=True,
)  # fmt: skip
