"""`funnelcast funnel` and `funnelcast handoff`: the Funnel and Handoff pages' figures as JSON or
as tables for people."""

from __future__ import annotations

import argparse
from typing import Any

from funnelcast.cli.options import add_scope, number
from funnelcast.cli.runner import Report
from funnelcast.cli.tables import align, currency_of
from funnelcast.core import formats

_sla = number(
    int,
    lambda v: 0 <= v <= 60,
    not_a_number="expected a whole number of business days",
    refused="the SLA must be 0 to 60 business days",
)


def _by(command: argparse.ArgumentParser, help: str) -> None:
    """Add --by (a breakdown dimension, channel by default) to a command."""
    from funnelcast.analytics.funnel import DIMENSIONS

    command.add_argument("--by", choices=tuple(DIMENSIONS), default="channel", help=help)


def _funnel_arguments(command: argparse.ArgumentParser) -> None:
    add_scope(command)
    _by(command, "breakdown dimension (default: channel)")
    command.add_argument(
        "--cohort-grain",
        choices=("quarter", "month"),
        default="quarter",
        help="MQL cohorts by quarter or month (default: quarter)",
    )


def _handoff_arguments(command: argparse.ArgumentParser) -> None:
    add_scope(command)
    command.add_argument(
        "--sla-days",
        type=_sla,
        default=None,
        help="SLA in business days (default: the database's setting, else 2)",
    )
    _by(command, "breakdown of rejection reasons (default: channel)")


def _share(r: dict[str, Any] | None) -> str:
    """Return a rate as '32.8% (n 125, 25.1–41.2%)', flagged when n is small."""
    if r is None or r["value"] is None:
        return "—"
    flag = " ⚠" if r["is_small_sample"] else ""
    return f"{r['value']:.1%} (n {r['n']:,}, {r['low']:.1%}–{r['high']:.1%}){flag}"


def _as_of(scope: dict[str, Any]) -> str:
    """Return 'as of MOMENT', or 'no data yet' for a database with nothing in it."""
    return "no data yet" if scope["as_of"] is None else f"as of {scope['as_of']}"


def funnel_table(result: dict[str, Any]) -> str:
    """Return the funnel report as text for people."""
    scope = result["scope"]
    out = [
        f"{scope['quarter'] or 'all history'} · {scope['channel'] or 'all channels'}"
        f" · leads by creation cohort, {_as_of(scope)}"
    ]
    for name, view in (("this period", result["funnel"]), ("previous", result["previous"])):
        if view is None:
            continue
        out.append(
            f"\n{name}: {view['quarter'] or 'all history'}"
            + ("" if view["is_mature"] else " (immature: later steps will still fill)")
        )
        rows = [["stage", "count", "lost", "from previous", "from top"]]
        for s in view["steps"]:
            rows.append(
                [
                    s["label"],
                    f"{s['count']:,}",
                    "" if s["lost"] is None else f"{s['lost']:,}",
                    _share(s["from_previous"]),
                    _share(s["from_top"]),
                ]
            )
        out += align(rows)
        if view["mql_skipped"]:
            out.append(f"({view['mql_skipped']:,} counted at MQL skipped it: no MQL recorded)")
    b = result["breakdown"]
    out.append(f"\nby {b['label'].lower()}")
    rows = [["segment", "leads", "MQL", "SAL", "SQL", "customers", "lead → customer"]]
    for seg in b["segments"]:
        counts = [f"{s['count']:,}" for s in seg["steps"]]
        rows.append([seg["segment"], *counts, _share(seg["steps"][-1]["from_top"])])
    out += align(rows)
    out.append("\nMQL cohorts → SQL (observed so far; estimate of the eventual rate)")
    rows = [["cohort", "MQLs", "observed", "estimate", "mature"]]
    for c in result["cohorts"]["outcomes"]["sql"]["cohorts"]:
        est = c["estimate"]["value"]
        rows.append(
            [
                c["cohort"],
                f"{c['mqls']:,}",
                _share(c["observed"]),
                "—" if est is None else f"~{est:.1%}",
                "yes" if c["is_mature"] else "no",
            ]
        )
    out += align(rows)
    out.append("\ntime in stage (days)")
    rows = [["step", "n", "median", "p90"]]
    for s in result["time_in_stage"]["overall"]:
        rows.append([s["label"], f"{s['n']:,}", f"{s['median_days']:.1f}", f"{s['p90_days']:.1f}"])
    out += align(rows)
    j = result["journeys"]
    out.append(
        f"\njourneys: {j['sqls']:,} SQLs, of them {sum(j['sqls_without_mql'].values()):,} without an "
        f"MQL ({j['sqls_without_mql']['demo_request']:,} by demo request, "
        f"{j['sqls_without_mql']['direct']:,} direct); {j['sal_skipped']:,} skipped SAL; "
        f"{j['recycled']['leads']:,} recycled, reached SQL later {_share(j['recycled']['reached_sql_later'])}, "
        f"won later {_share(j['recycled']['won_later'])}"
    )
    return "\n".join(out)


def handoff_table(result: dict[str, Any]) -> str:
    """Return the hand-off report as text for people."""
    scope = result["scope"]
    out = [
        f"{scope['quarter'] or 'all history'} · {scope['channel'] or 'all channels'}"
        f" · SLA {scope['sla_business_days']} business days · {_as_of(scope)}"
    ]
    rows = [["", "hand-offs", "accepted", "rejected", "awaiting", "acceptance", "SLA breached"]]
    for name, r in (("this period", result), ("previous", result["previous"])):
        if r is not None:
            rows.append(
                [
                    name,
                    f"{r['handoffs']:,}",
                    f"{r['accepted']:,}",
                    f"{r['rejected']:,}",
                    f"{r['awaiting']:,}",
                    _share(r["acceptance"]),
                    _share(r["sla_breach_rate"]),
                ]
            )
    out += align(rows)
    out.append("\nrejection reasons")
    rows = [["reason", "count", "share of rejections"]]
    rows += [
        [r["reason"], f"{r['count']:,}", _share(r["share"])] for r in result["rejection_reasons"]
    ]
    out += align(rows) if len(rows) > 1 else ["(no rejections)"]
    out.append("\nunanswered hand-offs by age (business days)")
    out += align(
        [["age", "count"]] + [[a["age"], f"{a['count']:,}"] for a in result["unanswered_by_age"]]
    )
    w = result["wait_vs_conversion"]
    out.append(
        f"\nwait to the first answer vs conversion ({w['handoffs']:,} mature hand-offs "
        f"before {w['handed_before'][:10]})"
    )
    rows = [["wait", "hand-offs", "→ SQL", "→ customer"]]
    rows += [
        [b["wait"], f"{b['handoffs']:,}", _share(b["to_sql"]), _share(b["to_customer"])]
        for b in w["buckets"]
    ]
    out += align(rows)
    n = result["not_ready_later_won"]
    out.append(
        f"\nrejected as not ready: {n['rejected_not_ready']:,}; bought later: "
        f"{_share(n['won_later'])}, revenue {formats.money(n['revenue'], currency_of(result), exact=True)}"
    )
    return "\n".join(out)


def _funnel(cur: Any, args: argparse.Namespace) -> dict[str, Any]:
    from funnelcast.analytics import funnel

    return funnel.report(
        cur, quarter=args.quarter, channel=args.channel, by=args.by, grain=args.cohort_grain
    )


def _funnel_json(result: dict[str, Any]) -> Any:
    from funnelcast.analytics import funnel

    return funnel.for_json(result)


def _handoff(cur: Any, args: argparse.Namespace) -> dict[str, Any]:
    from funnelcast.analytics import handoff

    return handoff.report(
        cur, quarter=args.quarter, channel=args.channel, sla=args.sla_days, by=args.by
    )


FUNNEL = Report(
    "funnel", "the lead funnel, its breakdown, cohorts, time in stage and journeys",
    _funnel_arguments, _funnel, text=funnel_table, as_json=_funnel_json, spark=True,
)  # fmt: skip
HANDOFF = Report(
    "handoff", "acceptance, rejection reasons, SLA breaches and waits of MQL hand-offs",
    _handoff_arguments, _handoff, text=handoff_table,
)  # fmt: skip
