"""`funnelcast currency`: show or set the currency of a database's amounts (its meta setting),
which every page, table, chart and the quarterly review write amounts in."""

from __future__ import annotations

import argparse
from pathlib import Path

from funnelcast.cli.options import currency_code
from funnelcast.data import context, db


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast currency` to the command parsers."""
    command = commands.add_parser(
        "currency",
        help="show or set the currency of the database's amounts",
        description=(
            "Without CODE, print the currency the database's amounts (spend, deal values, "
            "targets) are in. With CODE, an ISO 4217 code such as EUR, store it: every page, "
            "table, chart and the quarterly review then write amounts in it. It converts "
            "nothing. Unset, amounts are in USD."
        ),
    )
    command.add_argument("--db", required=True, type=Path, help="database file")
    command.add_argument(
        "code",
        nargs="?",
        type=currency_code,
        metavar="CODE",
        help="ISO 4217 code to set, such as EUR or GBP",
    )
    command.set_defaults(handler=cmd_currency)


def cmd_currency(args: argparse.Namespace) -> int:
    """Print the database's currency, or set it and say what it was."""
    con = db.connect(args.db, read_only=args.code is None)
    try:
        cur = con.cursor()
        stored = db.get_meta(cur, context.CURRENCY_META_KEY)
        before = context.currency_of(cur) if stored is not None else None
        if args.code is None:
            shown = before.label if before else f"{context.currency_of(cur).label} (not set)"
            print(shown)
            return 0
        chosen = context.set_currency(cur, args.code.code)
    finally:
        con.close()
    was = before.code if before else "not set: USD"
    print(f"amounts in {args.db} are in {chosen.label} (was {was})")
    return 0
