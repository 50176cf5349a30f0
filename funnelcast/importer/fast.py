"""The fast path: a file staged typed, every row flagged, and checked in one pass.

The file is read once into import_typed: only the columns the mapping uses, each field
trimmed, placeholders as null, parsed, and every row flagged when it breaks any rule, all in
the reading pass (TypedStaging). Values in a common form skip the costly part: a date in ISO
form and a stage name already canonical are taken as they are. One pass over the staged rows
then counts the flagged rows and, for events and stage changes, the rows whose lead is unknown
(and, for keyed tables, duplicate keys): fast_check. When it finds anything, the file takes
the full path (validate), which names every problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import funnelcast.importer.sql as sql
from funnelcast.importer.fingerprints import Fingerprint
from funnelcast.importer.mapping import Mapping
from funnelcast.importer.plan import Plan, plan
from funnelcast.importer.progress import Progress, insertion_order
from funnelcast.importer.sources import Source
from funnelcast.importer.validate import limits, row_rules

# Dates as most exports write them. A text try_strptime parses with one of these formats (it
# must consume the whole text, spaces around it aside) has no time-zone offset, is no
# placeholder (none has a digit; when one does, the field takes the full path) and parses to
# the value the full path gives it (trim, placeholder test, offset-aware cast): such a value
# skips all of that. Any other text takes the full path.
FAST_FORMATS = {
    "timestamp": ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
    "date": ["%Y-%m-%d"],
}


def _fast_values(p: Plan, mapping: Mapping) -> dict[str, str]:
    """Return field -> SQL of its typed value when the raw text settles it cheaply, else null.

    Dates in a common format (FAST_FORMATS); stage names already canonical (a stage in the
    vocabulary, exactly as written, is no placeholder and has no spaces to trim).
    """
    placeholders = sql.placeholder_params(mapping.placeholders)["placeholders"]
    digits = any(ch.isdigit() for text in placeholders for ch in text)
    out: dict[str, str] = {}
    for f in p.spec.fields:
        if f.name not in p.columns:
            continue
        if f.kind in FAST_FORMATS and f.name not in mapping.formats and not digits:
            out[f.name] = sql.settled_date(f.kind, p.columns[f.name])
        elif f.kind in ("stage", "content_stage"):
            canonical = p.params[f"canonical_{f.name}"]
            if not set(canonical) & set(placeholders):
                out[f.name] = sql.settled_stage(f.name, p.columns[f.name])
    return out


def _raw_leads(p: Plan, mapping: Mapping) -> bool:
    """Return whether the lead ids of a table that refers to leads are staged as read.

    Every one must then be a stored lead id, and a clean one (no spaces around it, no
    placeholder), or the file takes the full path: so an id found needs no trimming and is no
    placeholder, and the check's probe of the leads settles it (trimming and testing 20M ids
    would cost more). An id that is padded, a placeholder or unknown is sorted out by validate.
    """
    return p.spec.needs_leads and "lead_id" in p.columns and "lead_id" not in mapping.defaults


@dataclass
class TypedStaging:
    """Stages a file's mapped fields typed, with a flag for rows breaking a rule (import_typed).

    The plan comes from the header, before any row is read: a wrong mapping is reported
    without reading the file. Events keep no order (no row numbers are needed: a file with
    problems is read again, in order, to report them); keyed rows keep the file's.
    """

    mapping: Mapping
    path: Path
    now: dt.datetime | None  # "now" for the future-date rule (None: the wall clock)
    plan: Plan | None = None
    table = sql.TYPED

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the statement staging the mapped fields typed (value(i): column i of source)."""
        self.plan = p = plan(self.mapping, Source(self.path, "csv", header, 0))
        used = sorted(set(p.columns.values())) or [0]
        raw = sql.staging_select(used, value, source, cleaned=False)
        typed = sql.typed_rows(
            raw,
            p.text,
            p.typed,
            p.columns,
            _fast_values(p, self.mapping),
            [cond for _, cond, _ in row_rules(p)],
            leads_as_read=_raw_leads(p, self.mapping),  # fast_check matches them to clean ids
            hashed=p.spec.key is None,  # events: fingerprint and repeats read it
        )
        return sql.create_temp(sql.TYPED, typed)

    def run(self, cur, statement: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run a staging statement; params: the reader's."""
        assert self.plan is not None  # statement() made it
        bound = {
            **self.plan.params,
            **{f"fast_{kind}": formats for kind, formats in FAST_FORMATS.items()},
            **limits(self.now),
        }
        with insertion_order(cur, self.plan.spec.key is not None):
            progress.run(cur, statement, {**params, **sql.bind(statement, bound)}, "reading")


def fast_check(
    cur, p: Plan, mapping: Mapping, source: Source, progress: Progress, *, fingerprint: bool
) -> tuple[bool, Fingerprint | None]:
    """Check the typed rows in one pass: return whether all is well, and their fingerprint.

    Counts the rows breaking a rule (flagged while staging), the rows whose lead is unknown
    and, for keyed tables, the rows sharing a key. Not all well: the caller reports the
    problems through validate, which reads the file again, in order, to name every row.
    """
    if source.rows == 0:
        return False, None
    conditions = [sql.ident("_bad")]
    if p.spec.needs_leads:
        # ids as read: only a clean stored id settles one
        conditions.append(sql.unknown_lead("lead_id", clean_only=_raw_leads(p, mapping)))
    hashed = list(p.typed) if fingerprint else None
    query = sql.counts(sql.ident(sql.TYPED), conditions, hashed, stored=p.spec.key is None)
    found = list(progress.run(cur, query, sql.bind(query, p.params), "checking")[0])
    file_print = Fingerprint(*found[-2:]) if fingerprint else None
    problems = sum(found[: len(conditions)])
    if p.spec.key and not problems:
        problems = cur.execute(sql.count_repeated_keys(p.spec.key)).fetchall()[0][0]
    return not problems, file_print
