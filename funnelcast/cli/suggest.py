"""`funnelcast suggest`: the Threshold Lab's suggested weights from the command line: how well the
model, its draft and the current definition rank held-out leads, the draft's MQL share, the
weights, the fields left out and why, and the draft itself (--out writes it as a definition file
that `funnelcast definition save` reads).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funnelcast import definitions
from funnelcast.cli.options import refuse_existing
from funnelcast.cli.tables import align
from funnelcast.core import formats
from funnelcast.data import db

if TYPE_CHECKING:
    from funnelcast.analytics import suggest

FORMATS = ("table", "json")
# suggest.OUTCOMES, said again here: the suggestion's model (scikit-learn) is imported only when
# the command runs, so that every other command starts without it (tests/test_cli.py compares)
OUTCOMES = ("sql", "customer")


def as_json(s: suggest.Suggestion) -> dict[str, Any]:
    """Return the suggestion as JSON-ready data."""
    return {
        "outcome": s.outcome,
        "as_of": s.as_of,
        "definition_id": s.definition_id,
        "known_leads": s.known_leads,
        "train_leads": s.train_leads,
        "held_out_leads": s.held_out_leads,
        "held_out_from": s.held_out_from,
        "too_thin": s.too_thin,
        "why": s.why,
        "auc": s.auc,
        "lift": s.lift.to_dicts(),
        "mql_share": {
            **s.mql_share,
            "chosen_by": s.threshold_basis,
            "why": s.threshold_why,
        },
        "operating_points": s.operating_points.to_dicts(),
        "weights": s.weights.to_dicts(),
        "left_out": s.left_out.to_dicts(),
        "draft": definitions.to_dict(s.draft),
    }


def _share(value: float | None) -> str:
    return formats.DASH if value is None else f"{value:.1%}"


def table(s: suggest.Suggestion) -> str:
    """Return the suggestion as plain text for people."""
    outcome = "SQL" if s.outcome == "sql" else "customer"
    lines = [
        f"Suggested weights for reaching {outcome}: {s.known_leads:,} leads with a known "
        f"outcome, {s.train_leads:,} learnt from, the newest {s.held_out_leads:,} held out",
    ]
    if s.too_thin:
        lines.append(f"warning: history is too thin to trust these weights. {s.why}")
    top = {r["score"]: r["lift"] for r in s.lift.filter(s.lift["decile"] == 1).to_dicts()}
    rows = [["score", "held-out AUC", "top-decile lift", "MQL share"]]
    from funnelcast.analytics import suggest

    for name in suggest.SCORES:
        auc = s.auc.get(name)
        lift = top.get(name)
        rows.append(
            [
                name,
                formats.DASH if auc is None else f"{auc:.3f}",
                formats.DASH if lift is None else f"{lift:.1f}x",
                _share(s.mql_share.get(name)) if name != "model" else "",
            ]
        )
    lines += ["", *align(rows), "", s.threshold_why]
    lines += ["", f"Draft (threshold {s.draft.threshold:g}):"]
    rules = [["rule", "points"]]
    for rule in s.draft.fit_rules:
        rules.append([rule.label, "disqualifies" if rule.is_disqualifier else f"{rule.points:+g}"])
    for behaviour in s.draft.behaviour_rules:
        rules.append([f"each {behaviour.event_type} event", f"{behaviour.points:+g}"])
    lines += align(rules) if len(rules) > 1 else ["  (no rules: nothing was learnt)"]
    if not s.left_out.is_empty():
        lines += ["", "Left out:"]
        lines += [f"  {field}: {reason}" for field, reason in s.left_out.iter_rows()]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    """Fit the suggestion, print it, and write the draft to --out if given."""
    out: Path | None = args.out
    if out is not None:
        refuse_existing(out, args.replace)
    from funnelcast.analytics import suggest

    con = db.connect(args.db, read_only=True)
    try:
        cur = con.cursor()
        s = suggest.suggest_weights(cur, outcome=args.outcome)
        fy_start_month = definitions.fiscal_start_month(cur)
    finally:
        con.close()
    print(json.dumps(as_json(s), indent=2, default=str) if args.format == "json" else table(s))
    if out is not None:
        try:
            out.write_text(definitions.to_toml(s.draft, fy_start_month), encoding="utf-8")
        except OSError as exc:
            raise db.FunnelcastError(f"{out}: cannot write it: {exc}") from None
        if args.format != "json":
            print(
                f"\nwrote {out}: save it with\n"
                f"  funnelcast definition save --db {args.db} {out} --quarter next"
            )
    return 0


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast suggest` to the command parsers."""
    command = commands.add_parser(
        "suggest", help="suggest MQL weights from every lead field, learnt from known outcomes"
    )
    command.add_argument("--db", required=True, type=Path, help="database file")
    command.add_argument(
        "--outcome",
        choices=OUTCOMES,
        default="sql",
        help="what a lead converting means (default: sql)",
    )
    command.add_argument("--format", choices=FORMATS, default="table")
    command.add_argument(
        "--out", type=Path, help="write the draft as a definition file (TOML) to this path"
    )
    command.add_argument(
        "--replace", action="store_true", help="overwrite --out if it exists (default: refuse)"
    )
    command.set_defaults(handler=_run)
