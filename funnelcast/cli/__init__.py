"""The `funnelcast` command: build the demo database, print the headline figures, manage MQL
definitions."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from funnelcast import definitions
from funnelcast.cli import engine as cli_engine
from funnelcast.cli import funnel as cli_funnel
from funnelcast.cli import importing as cli_import
from funnelcast.cli import plan as cli_plan
from funnelcast.cli import roi as cli_roi
from funnelcast.data import db


def _threshold(text: str) -> float:
    """Return a threshold parsed from the command line; negative or non-numbers are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number, not {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"threshold must be a number >= 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    """Return a whole number >= 1 parsed from the command line."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text}")
    return value


def _positive_float(text: str) -> float:
    """Return a number > 0 parsed from the command line."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number > 0, not {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    top = _Parser(prog="funnelcast", description="Funnel analytics and marketing ROI on DuckDB.")
    commands = top.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="build a realistic demo database")
    demo.add_argument("--db", required=True, type=Path, help="database file to create")
    demo.add_argument("--leads", type=_positive_int, default=20_000, help="number of leads")
    demo.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    demo.add_argument(
        "--engagement",
        type=_positive_float,
        default=1.0,
        help="scale the events per lead (1: about 12; benchmarks use more)",
    )
    demo.add_argument(
        "--replace", action="store_true", help="replace the file if it exists (default: refuse)"
    )

    metrics = commands.add_parser("metrics", help="print the headline funnel figures")
    metrics.add_argument("--db", required=True, type=Path, help="database file")
    metrics.add_argument("--quarter", help="fiscal quarter such as 2026Q1 (default: all history)")
    metrics.add_argument("--channel", help="only leads and spend of this channel")
    metrics.add_argument(
        "--threshold",
        type=_threshold,
        help="compute MQLs with the current definition at this threshold "
        "(default: the MQLs the CRM recorded)",
    )
    metrics.add_argument("--format", choices=("json", "table"), default="table")
    _add_definition_commands(commands)
    cli_funnel.add_commands(commands)
    cli_roi.add_commands(commands)
    cli_plan.add_commands(commands)
    cli_import.add_commands(commands)
    cli_engine.add_commands(commands)
    return top


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo database (funnelcast.demo.build_file) and say what it holds."""
    from funnelcast import demo

    summary = demo.build_file(
        args.db, leads=args.leads, seed=args.seed, engagement=args.engagement, replace=args.replace
    )
    counts = ", ".join(f"{v:,} {k}" for k, v in summary["counts"].items())
    print(f"built {args.db} in {summary['seconds']:.1f} s: {counts}")
    return 0


def _table(result: dict[str, Any]) -> str:
    """Return the metrics as a plain-text table for people."""

    def show(value: Any, kind: str = "count") -> str:
        if value is None:
            return "—"
        if kind == "rate":
            return f"{value:.1%}"
        if kind == "money":
            return f"{value:,.2f}"
        return f"{value:,}"

    columns = [
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
    ]
    rows = [["channel"] + [name for name, _ in columns]]
    for item in [*result["by_channel"], {"channel": "TOTAL", **result}]:
        rows.append([item["channel"]] + [show(item[name], kind) for name, kind in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        )
        for row in rows
    ]
    scope = result["scope"]
    title = (
        f"{scope['quarter'] or 'all history'}"
        f"{' · channel ' + scope['channel'] if scope['channel'] else ''}"
        f" · MQLs {scope['mql_source']}"
        f"{' at threshold ' + format(scope['threshold'], 'g') if scope['threshold'] is not None else ''}"
    )
    note = (
        ""
        if scope["cohort_is_mature"] in (True, None)
        else ("\nnote: this cohort is still maturing; its conversion rates will rise.")
    )
    return "\n".join([title, *lines]) + note


def cmd_metrics(args: argparse.Namespace) -> int:
    """Print the headline figures as JSON or as a table."""
    from funnelcast.analytics.metrics import metrics

    con = db.connect(args.db, read_only=True)
    try:
        result = metrics(
            con.cursor(), quarter=args.quarter, channel=args.channel, threshold=args.threshold
        )
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
    else:
        print(_table(result))
    return 0


# ===== funnelcast definition: versions of the MQL definition =====


def _definition_ref(text: str) -> str:
    """Return 'current' or a definition id as given; anything else is refused."""
    if text == "current" or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"expected 'current' or a definition id, not {text!r}")


def _add_definition_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast definition list|show|new|diff|save` to the command parsers."""
    definition = commands.add_parser(
        "definition", help="list, show, copy, compare and save versions of the MQL definition"
    )
    actions = definition.add_subparsers(dest="action", required=True, parser_class=_Parser)

    listing = actions.add_parser("list", help="every kept version and the quarters it is in force")
    listing.add_argument("--db", required=True, type=Path, help="database file")
    listing.add_argument("--format", choices=("json", "table"), default="table")

    show = actions.add_parser("show", help="one version with its rules (default: the current one)")
    show.add_argument("--db", required=True, type=Path, help="database file")
    which = show.add_mutually_exclusive_group()
    which.add_argument("--id", type=_positive_int, help="definition id")
    which.add_argument("--quarter", help="the version in force in this quarter, such as 2026Q1")
    show.add_argument("--format", choices=("toml", "json"), default="toml")

    new = actions.add_parser("new", help="write an editable TOML copy of a version")
    new.add_argument("--db", required=True, type=Path, help="database file")
    new.add_argument(
        "--from",
        dest="source",
        required=True,
        type=_definition_ref,
        help="'current' or a definition id",
    )
    new.add_argument("--out", required=True, type=Path, help="TOML file to write")
    new.add_argument(
        "--replace", action="store_true", help="overwrite the file if it exists (default: refuse)"
    )

    compare = actions.add_parser("diff", help="the changes from version A to version B")
    compare.add_argument("--db", type=Path, help="database file (needed for ids and 'current')")
    compare.add_argument("a", help="a definition id, 'current', or a TOML file")
    compare.add_argument("b", help="a definition id, 'current', or a TOML file")

    save = actions.add_parser("save", help="save a TOML file as a new version from a quarter on")
    save.add_argument("--db", required=True, type=Path, help="database file")
    save.add_argument("file", type=Path, help="TOML file (as `definition new` writes it)")
    save.add_argument(
        "--quarter", required=True, help="quarter it takes effect, such as 2027Q1, or 'next'"
    )
    save.add_argument(
        "--replace",
        action="store_true",
        help="if a version already takes effect in that quarter, put this one in its place "
        "(the old one stays in history)",
    )


def _read_definition_file(path: Path) -> definitions.Definition:
    """Return the definition a TOML file holds."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise db.FunnelcastError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise db.FunnelcastError(f"{path}: cannot read it: {exc}") from None
    return definitions.from_toml(text, source=str(path))


def _stored_definition(cur: duckdb.DuckDBPyConnection, ref: str) -> definitions.Definition:
    """Return the stored version 'current' or an id names."""
    if ref == "current":
        found = definitions.current(cur)
        if found is None:
            raise db.FunnelcastError(f"no MQL definition is in force on {definitions.today(cur)}")
        return found
    return definitions.load(cur, int(ref))


def _describe(definition: definitions.Definition, source: str | None = None) -> str:
    """Return how command output names a definition: 'definition 3 'Name'' or 'FILE 'Name''."""
    where = source or f"definition {definition.definition_id}"
    return f"{where} {definition.name!r}"


def _definition_list(args: argparse.Namespace) -> int:
    """Print every version, as JSON or a table."""
    con = db.connect(args.db, read_only=True)
    try:
        versions = definitions.list_versions(con.cursor())
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(versions.to_dicts(), indent=2, default=str))
        return 0
    if versions.is_empty():
        print("no MQL definitions yet (write one with: funnelcast definition save)")
        return 0
    rows = [
        [
            "id",
            "name",
            "in force",
            "status",
            "threshold",
            "half-life",
            "fit",
            "behaviour",
            "created",
        ]
    ]
    for v in versions.iter_rows(named=True):
        rows.append(
            [
                str(v["definition_id"]),
                v["name"],
                v["in_force"],
                v["status"],
                f"{v['threshold']:g}",
                f"{v['half_life_days']:g} d",
                f"{v['fit_rules']} ({v['disqualifiers']} dq)",
                str(v["behaviour_rules"]),
                f"{v['created_at']:%Y-%m-%d %H:%M}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _definition_show(args: argparse.Namespace) -> int:
    """Print one version as TOML or JSON."""
    con = db.connect(args.db, read_only=True)
    try:
        cur = con.cursor()
        found: definitions.Definition | None
        if args.id is not None:
            found = definitions.load(cur, args.id)
        elif args.quarter is not None:
            quarter = definitions.parse_quarter(cur, args.quarter)
            found = definitions.in_force_for_quarter(cur, quarter)
            if found is None:
                raise db.FunnelcastError(f"no MQL definition is in force in {quarter.label}")
        else:
            found = _stored_definition(cur, "current")
        fy = definitions.fiscal_start_month(cur)
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(definitions.to_dict(found), indent=2))
    else:
        print(definitions.to_toml(found, fy), end="")
    return 0


def _definition_new(args: argparse.Namespace) -> int:
    """Write an editable copy of a stored version to a TOML file."""
    out: Path = args.out
    if out.exists() and not args.replace:
        raise db.FunnelcastError(
            f"{out} already exists; choose another file or pass --replace to overwrite it"
        )
    con = db.connect(args.db, read_only=True)
    try:
        cur = con.cursor()
        source = _stored_definition(cur, args.source)
        fy = definitions.fiscal_start_month(cur)
        next_label = definitions.next_quarter(cur).label
    finally:
        con.close()
    try:
        out.write_text(
            definitions.to_toml(definitions.new_version_from(source), fy), encoding="utf-8"
        )
    except OSError as exc:
        raise db.FunnelcastError(f"{out}: cannot write it: {exc}") from None
    print(
        f"wrote {out}: a copy of {_describe(source)} to edit; then save it with:\n"
        f"  funnelcast definition save --db {args.db} {out} --quarter {next_label}"
    )
    return 0


def _definition_diff(args: argparse.Namespace) -> int:
    """Print the changes from A to B, each a stored version or a TOML file."""
    stored = [ref for ref in (args.a, args.b) if ref == "current" or ref.isdigit()]
    if stored and args.db is None:
        raise db.FunnelcastError(f"--db is needed to compare stored definitions ({stored[0]})")
    con = db.connect(args.db, read_only=True) if stored else None
    try:
        sides = []
        for ref in (args.a, args.b):
            if ref == "current" or ref.isdigit():
                assert con is not None  # opened above whenever a side is stored
                found = _stored_definition(con.cursor(), ref)
                sides.append((found, _describe(found)))
            else:
                found = _read_definition_file(Path(ref))
                sides.append((found, _describe(found, ref)))
    finally:
        if con is not None:
            con.close()
    (a, a_name), (b, b_name) = sides
    changes = definitions.diff(a, b)
    print(
        f"{a_name} → {b_name}: "
        + (f"{len(changes)} change{'s' * (len(changes) != 1)}" if changes else "no differences")
    )
    for change in changes:
        print(f"  {change}")
    return 0


def _definition_save(args: argparse.Namespace) -> int:
    """Save a TOML file as a new version in force from a quarter; print what happened."""
    draft = _read_definition_file(args.file)
    try:
        definitions.validate(draft)
    except definitions.DefinitionError as exc:
        raise definitions.DefinitionError(f"{args.file}: {exc}", exc.problems) from None
    con = db.connect(args.db)
    try:
        cur = con.cursor()
        quarter = definitions.parse_quarter(cur, args.quarter)
        # Ask about an occupied quarter before any warnings: the answer may make them moot.
        replaced = definitions.version_taking_effect(cur, quarter)
        if replaced is not None and not args.replace:
            raise definitions.QuarterTakenError(quarter, replaced)
        for warning in definitions.save_warnings(cur, draft, quarter):
            print(f"warning: {warning}", file=sys.stderr)
        saved = definitions.save(cur, draft, quarter, replace=args.replace)
    finally:
        con.close()
    print(f"saved {_describe(saved)}, in force from {quarter.label}")
    if replaced is not None:
        print(
            f"it takes the place of {_describe(replaced)} for {quarter.label}; "
            f"definition {replaced.definition_id} stays in history"
        )
    return 0


def cmd_definition(args: argparse.Namespace) -> int:
    """Run one `funnelcast definition` action."""
    actions = {
        "list": _definition_list,
        "show": _definition_show,
        "new": _definition_new,
        "diff": _definition_diff,
        "save": _definition_save,
    }
    return actions[args.action](args)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "demo": cmd_demo,
        "metrics": cmd_metrics,
        "definition": cmd_definition,
        **cli_funnel.HANDLERS,
        **cli_roi.HANDLERS,
        **cli_plan.HANDLERS,
        **cli_import.HANDLERS,
        **cli_engine.HANDLERS,
    }
    try:
        return cli_engine.route(args, handlers)(args)
    except db.FunnelcastError as exc:
        print(f"funnelcast: {exc}", file=sys.stderr)
        return 2
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        if getattr(args, "db", None) and any(
            sign in message for sign in ("Could not read", "Corrupt", "checksum")
        ):  # a damaged file opens, then fails when read
            message = (
                f"cannot read {args.db} ({message}): the file is damaged; restore it from a copy"
            )
        print(f"funnelcast: database error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
