"""`funnelcast definition list|show|new|diff|save`: the kept versions of the MQL definition, read
as reports (list, show, new), compared (diff) and saved from a TOML file (save).

A file is read against the database's fields when there is one (save always; diff with --db):
then a rule on a field the database lacks, an operator its type does not allow or a value that
does not parse is refused with the file and line of the rule, and nothing is saved.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import polars as pl

from funnelcast import definitions
from funnelcast.cli.options import Parser, add_out, positive_int
from funnelcast.cli.runner import Report, add_report
from funnelcast.cli.tables import align
from funnelcast.data import db


def _definition_ref(text: str) -> str:
    """Return 'current' or a definition id as given; anything else is refused."""
    if text == "current" or text.isdigit():
        return text
    raise argparse.ArgumentTypeError(f"expected 'current' or a definition id, not {text!r}")


def _file_text(path: Path) -> str:
    """Return a definition file's text; a missing or unreadable file is one line."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise db.FunnelcastError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise db.FunnelcastError(f"{path}: cannot read it: {exc}") from None


def _read_definition_file(
    path: Path, fields: Mapping[str, str] | None = None
) -> definitions.Definition:
    """Return the definition a TOML file holds (checked against fields, when given: the
    database's fields and their types)."""
    return definitions.from_toml(_file_text(path), source=str(path), fields=fields)


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


# ===== list: every version =====


def _list(cur: Any, args: argparse.Namespace) -> pl.DataFrame:
    return definitions.list_versions(cur)


def _list_table(versions: pl.DataFrame) -> str:
    """Return the versions as a table, or say there are none yet."""
    if versions.is_empty():
        return "no MQL definitions yet (write one with: funnelcast definition save)"
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
    return "\n".join(align(rows, figures=False))


LIST = Report(
    "list", "every kept version and the quarters it is in force", lambda command: None, _list,
    text=_list_table, as_json=lambda versions: versions.to_dicts(),
)  # fmt: skip


# ===== show: one version as TOML or JSON =====


class _Shown(NamedTuple):
    definition: definitions.Definition
    fy_start_month: int
    fields: dict[str, str]


def _show_arguments(command: argparse.ArgumentParser) -> None:
    which = command.add_mutually_exclusive_group()
    which.add_argument("--id", type=positive_int, help="definition id")
    which.add_argument("--quarter", help="the version in force in this quarter, such as 2026Q1")


def _show(cur: Any, args: argparse.Namespace) -> _Shown:
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
    return _Shown(found, definitions.fiscal_start_month(cur), definitions.lead_fields(cur))


SHOW = Report(
    "show", "one version with its rules (default: the current one)", _show_arguments, _show,
    # to_toml ends its text with the one newline print adds
    text=lambda shown: definitions.to_toml(*shown).removesuffix("\n"),
    as_json=lambda shown: definitions.to_dict(shown.definition), formats=("toml", "json"),
)  # fmt: skip


# ===== new: an editable TOML copy of a version =====


class _Copy(NamedTuple):
    source: definitions.Definition
    fy_start_month: int
    next_quarter: str
    fields: dict[str, str]


def _new_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--from",
        dest="source",
        required=True,
        type=_definition_ref,
        help="'current' or a definition id",
    )
    add_out(command, "TOML file to write")


def _new(cur: Any, args: argparse.Namespace) -> _Copy:
    source = _stored_definition(cur, args.source)
    return _Copy(
        source,
        definitions.fiscal_start_month(cur),
        definitions.next_quarter(cur).label,
        definitions.lead_fields(cur),
    )


def _write_copy(copy: _Copy, args: argparse.Namespace) -> str:
    """Write the copy to --out; return how to save it once edited."""
    out: Path = args.out
    try:
        out.write_text(
            definitions.to_toml(
                definitions.new_version_from(copy.source), copy.fy_start_month, copy.fields
            ),
            encoding="utf-8",
        )
    except OSError as exc:
        raise db.FunnelcastError(f"{out}: cannot write it: {exc}") from None
    return (
        f"wrote {out}: a copy of {_describe(copy.source)} to edit; then save it with:\n"
        f"  funnelcast definition save --db {args.db} {out} --quarter {copy.next_quarter}"
    )


NEW = Report(
    "new", "write an editable TOML copy of a version", _new_arguments, _new, write=_write_copy
)


# ===== diff and save =====


def _side(
    cur: duckdb.DuckDBPyConnection | None, ref: str, fields: Mapping[str, str] | None
) -> tuple[definitions.Definition, str, dict[str, Any]]:
    """Return one side of a diff: the definition, how output names it, and its JSON header."""
    if ref == "current" or ref.isdigit():
        assert cur is not None  # opened whenever a side is stored
        found = _stored_definition(cur, ref)
        return found, _describe(found), {"definition_id": found.definition_id, "name": found.name}
    found = _read_definition_file(Path(ref), fields)
    return found, _describe(found, ref), {"file": ref, "name": found.name}


def _diff(args: argparse.Namespace) -> int:
    """Print the changes from A to B, each a stored version or a TOML file (checked against the
    database's fields with --db)."""
    stored = [ref for ref in (args.a, args.b) if ref == "current" or ref.isdigit()]
    if stored and args.db is None:
        raise db.FunnelcastError(f"--db is needed to compare stored definitions ({stored[0]})")
    con = db.connect(args.db, read_only=True) if args.db is not None else None
    try:
        cur = con.cursor() if con is not None else None
        fields = definitions.lead_fields(cur) if cur is not None else None
        (a, a_name, a_json), (b, b_name, b_json) = (_side(cur, r, fields) for r in (args.a, args.b))
    finally:
        if con is not None:
            con.close()
    changes = definitions.diff(a, b)
    if args.format == "json":
        print(json.dumps({"from": a_json, "to": b_json, "changes": changes}, indent=2))
        return 0
    print(
        f"{a_name} → {b_name}: "
        + (f"{len(changes)} change{'s' * (len(changes) != 1)}" if changes else "no differences")
    )
    for change in changes:
        print(f"  {change}")
    return 0


def _save(args: argparse.Namespace) -> int:
    """Save a TOML file as a new version in force from a quarter; print what happened."""
    text = _file_text(args.file)
    con = db.connect(args.db)
    try:
        cur = con.cursor()
        # the file's rules are read for the database's fields: a refusal names file and line
        draft = definitions.from_toml(
            text, source=str(args.file), fields=definitions.lead_fields(cur)
        )
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


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add `funnelcast definition list|show|new|diff|save` to the command parsers."""
    definition = commands.add_parser(
        "definition", help="list, show, copy, compare and save versions of the MQL definition"
    )
    actions = definition.add_subparsers(dest="action", required=True, parser_class=Parser)
    for report in (LIST, SHOW, NEW):
        add_report(actions, report)

    compare = actions.add_parser("diff", help="the changes from version A to version B")
    compare.add_argument(
        "--db",
        type=Path,
        help="database file (needed for ids and 'current'; checks files against its fields)",
    )
    compare.add_argument("--format", choices=("table", "json"), default="table")
    compare.add_argument("a", help="a definition id, 'current', or a TOML file")
    compare.add_argument("b", help="a definition id, 'current', or a TOML file")
    compare.set_defaults(handler=_diff)

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
    save.set_defaults(handler=_save)
