"""`funnelcast funnel` and `funnelcast handoff`: the Funnel and Handoff pages' figures as JSON or
as tables for people."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from funnelcast.data import db


def _sla(text: str) -> int:
    """Return an SLA in business days parsed from the command line (0-60)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of business days, not {text!r}"
        ) from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"the SLA must be 0 to 60 business days, not {text}")
    return value


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast funnel` and `funnelcast handoff` to the command parsers."""
    from funnelcast.analytics.funnel import DIMENSIONS

    funnel = commands.add_parser(
        "funnel", help="the lead funnel, its breakdown, cohorts, time in stage and journeys"
    )
    funnel.add_argument("--db", required=True, type=Path, help="database file")
    funnel.add_argument("--quarter", help="fiscal quarter such as 2026Q1 (default: all history)")
    funnel.add_argument("--channel", help="only leads of this channel")
    funnel.add_argument(
        "--by",
        choices=tuple(DIMENSIONS),
        default="channel",
        help="breakdown dimension (default: channel)",
    )
    funnel.add_argument(
        "--cohort-grain",
        choices=("quarter", "month"),
        default="quarter",
        help="MQL cohorts by quarter or month (default: quarter)",
    )
    funnel.add_argument("--format", choices=("json", "table"), default="table")

    handoff = commands.add_parser(
        "handoff", help="acceptance, rejection reasons, SLA breaches and waits of MQL hand-offs"
    )
    handoff.add_argument("--db", required=True, type=Path, help="database file")
    handoff.add_argument("--quarter", help="fiscal quarter such as 2026Q1 (default: all history)")
    handoff.add_argument("--channel", help="only leads of this channel")
    handoff.add_argument(
        "--sla-days",
        type=_sla,
        default=None,
        help="SLA in business days (default: the database's setting, else 2)",
    )
    handoff.add_argument(
        "--by",
        choices=tuple(DIMENSIONS),
        default="channel",
        help="breakdown of rejection reasons (default: channel)",
    )
    handoff.add_argument("--format", choices=("json", "table"), default="table")


def _share(r: dict[str, Any] | None) -> str:
    """Return a rate as '32.8% (n 125, 25.1–41.2%)', flagged when n is small."""
    if r is None or r["value"] is None:
        return "—"
    flag = " ⚠" if r["is_small_sample"] else ""
    return f"{r['value']:.1%} (n {r['n']:,}, {r['low']:.1%}–{r['high']:.1%}){flag}"


def _lines(rows: list[list[str]]) -> list[str]:
    """Return rows as aligned text: the first column left, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in rows
    ]


def funnel_table(result: dict[str, Any]) -> str:
    """Return the funnel report as text for people."""
    scope = result["scope"]
    out = [
        f"{scope['quarter'] or 'all history'} · {scope['channel'] or 'all channels'}"
        f" · leads by creation cohort, as of {scope['as_of']}"
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
        out += _lines(rows)
        if view["mql_skipped"]:
            out.append(f"({view['mql_skipped']:,} counted at MQL skipped it: no MQL recorded)")
    b = result["breakdown"]
    out.append(f"\nby {b['label'].lower()}")
    rows = [["segment", "leads", "MQL", "SAL", "SQL", "customers", "lead → customer"]]
    for seg in b["segments"]:
        counts = [f"{s['count']:,}" for s in seg["steps"]]
        rows.append([seg["segment"], *counts, _share(seg["steps"][-1]["from_top"])])
    out += _lines(rows)
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
    out += _lines(rows)
    out.append("\ntime in stage (days)")
    rows = [["step", "n", "median", "p90"]]
    for s in result["time_in_stage"]["overall"]:
        rows.append([s["label"], f"{s['n']:,}", f"{s['median_days']:.1f}", f"{s['p90_days']:.1f}"])
    out += _lines(rows)
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
        f" · SLA {scope['sla_business_days']} business days · as of {scope['as_of']}"
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
    out += _lines(rows)
    out.append("\nrejection reasons")
    rows = [["reason", "count", "share of rejections"]]
    rows += [
        [r["reason"], f"{r['count']:,}", _share(r["share"])] for r in result["rejection_reasons"]
    ]
    out += _lines(rows) if len(rows) > 1 else ["(no rejections)"]
    out.append("\nunanswered hand-offs by age (business days)")
    out += _lines(
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
    out += _lines(rows)
    n = result["not_ready_later_won"]
    out.append(
        f"\nrejected as not ready: {n['rejected_not_ready']:,}; bought later: "
        f"{_share(n['won_later'])}, revenue {n['revenue']:,.2f}"
    )
    return "\n".join(out)


def cmd_funnel(args: argparse.Namespace) -> int:
    """Print the funnel report as JSON or as tables."""
    from funnelcast.analytics import funnel

    con = db.connect(args.db, read_only=True)
    try:
        result = funnel.report(
            con.cursor(),
            quarter=args.quarter,
            channel=args.channel,
            by=args.by,
            grain=args.cohort_grain,
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(funnel.for_json(result), indent=2, default=str))
    else:
        print(funnel_table(result))
    return 0


def cmd_handoff(args: argparse.Namespace) -> int:
    """Print the hand-off report as JSON or as tables."""
    from funnelcast.analytics import handoff

    con = db.connect(args.db, read_only=True)
    try:
        result = handoff.report(
            con.cursor(), quarter=args.quarter, channel=args.channel, sla=args.sla_days, by=args.by
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print(handoff_table(result))
    return 0


HANDLERS = {"funnel": cmd_funnel, "handoff": cmd_handoff}
