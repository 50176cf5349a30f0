"""The import itself: read, check and write a file all or nothing, and preview one.

import_file stages the file typed and checks it in one pass (fast.py); only when that finds
anything is it read again as text, in file order, for validate to name every problem. Only
when all is well is the whole file written, in one transaction, copying the typed rows. A
failed check, a database error or the process dying mid-load leaves the database exactly as
it was.

Re-importing is idempotent. Keyed tables match rows by their key: leads by lead_id,
stage_changes by (lead_id, stage, changed_at), spend by (period_start, channel, campaign),
targets by quarter_start; a matching row whose mapped fields differ is updated (fields the file
does not map are left alone), an identical one is left as it is. Events have no key: an event is
identified by all its fields, and identical events are separate events (two email opens in the
same second happen): file rows match stored events one to one, so n copies in a file against k
stored add n - k; fingerprints (fingerprints.py) spare matching a re-imported file row by row.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

import funnelcast.importer.sql as sql
from funnelcast.data import db
from funnelcast.importer import attributes
from funnelcast.importer.attributes import Attribute, Kept
from funnelcast.importer.fast import TypedStaging, fast_check
from funnelcast.importer.fingerprints import (
    Fingerprint,
    forget_fingerprints,
    record_fingerprints,
    recorded_fingerprints,
    table_fingerprint,
)
from funnelcast.importer.mapping import Mapping, column_index, normalise_name, resolve
from funnelcast.importer.messages import Problem
from funnelcast.importer.plan import Plan, plan
from funnelcast.importer.progress import Progress, in_utc, insertion_order
from funnelcast.importer.sources import Source, drop_staging, first_line, read_source
from funnelcast.importer.tables import ImportProblems
from funnelcast.importer.validate import validate


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or, dry, would do)."""

    file: str
    table: str
    rows: int  # data rows in the file
    inserted: int
    updated: int
    unchanged: int
    dry_run: bool
    seconds: float
    warnings: tuple[str, ...] = ()
    attributes: tuple[Attribute, ...] = ()  # a leads file's columns kept as custom attributes
    not_loaded: tuple[str, ...] = ()  # another table's file: the columns no field takes
    recognised: tuple[tuple[str, str], ...] = ()  # (column, field) taken by its common header
    repeated: int = 0  # events: rows that repeat another row of the file exactly

    def summary(self, pinned_by: str = "set by --type") -> str:
        """Return what happened: one line, then the kept custom attributes (with their types,
        pinned_by saying how a type was chosen, and how many rows are empty), the columns not
        loaded and the headers recognised."""
        verb = "would import" if self.dry_run else "imported"
        lines = [
            f"{verb} {self.file} into {self.table}: {self.rows:,} rows read, "
            f"{self.inserted:,} new, {self.updated:,} updated, "
            f"{self.unchanged:,} already loaded ({self.seconds:.1f} s)"
        ]
        if self.repeated:
            lines.append(
                f"  {self.repeated:,} rows repeat another row of the file exactly: each is an "
                "event of its own (two opens in one second are two)"
            )
        for column, name in self.recognised:
            lines.append(f"  {column!r} read as {name} (a common export header for it)")
        kept = [a for a in self.attributes if a.how != "empty"]
        empty = [a.name for a in self.attributes if a.how == "empty"]
        if kept:
            verb = "would keep" if self.dry_run else "kept"
            lines.append(f"{verb} {len(kept)} other columns as custom attributes:")
            lines += [f"  {a.describe(pinned_by)}" for a in kept]
        if empty:
            lines.append(f"not kept, empty in every row: {', '.join(repr(n) for n in empty)}")
        if self.not_loaded:
            lines.append(
                f"not loaded ({len(self.not_loaded)} columns no {self.table} field takes): "
                + ", ".join(repr(n) for n in self.not_loaded)
            )
        return "\n".join(lines)


def _write_events(
    cur,
    p: Plan,
    progress: Progress,
    file_print: Fingerprint | None,
    repeated: list[int],
    *,
    dry_run: bool,
) -> tuple[int, int, int]:
    """Insert the file's events not already stored; return the three counts.

    Into a table without events every row goes, straight from the typed rows, in one
    INSERT … SELECT; file_print is None then (not needed: nothing can match). Otherwise the
    file's rows are all stored already, and nothing is matched row by row, when their
    fingerprint is the table's (the table is this file), or when the table still has the
    fingerprint recorded right after an import of rows with this very fingerprint. In every
    other case each row is matched against the stored events on all its fields, and an
    import that adds rows records the two fingerprints for next time. repeated[0] is set to
    how many rows repeat another row of the file exactly (each is an event of its own).
    """
    fields = list(p.typed)
    rows = cur.execute(sql.count_rows(sql.TYPED)).fetchall()[0][0]
    repeated[0] = cur.execute(sql.count_repeats()).fetchall()[0][0]
    if file_print is None:
        before = new_print = None
        inserted = rows
        source = sql.TYPED
    else:
        progress.stage("checking", None)
        before = table_fingerprint(cur, p.spec.name, fields)
        if file_print == before or recorded_fingerprints(cur) == (file_print, before):
            return 0, 0, rows
        progress.run(cur, sql.new_events(fields, repeats=repeated[0] > 0), {}, "checking")
        new_print = table_fingerprint(cur, sql.NEW, fields)
        inserted = new_print.rows
        source = sql.NEW
    if not dry_run and inserted:
        # Events carry no order a query relies on: letting DuckDB's threads append them as
        # they finish, rather than in file order, halves a large insert.
        with insertion_order(cur, False):
            progress.run(cur, sql.insert_all("events", fields, source), {}, "writing")
        if before is None:  # a first load: the table is this file, which settles a re-import
            forget_fingerprints(cur)
        else:
            # both counted whenever there was a table to compare with
            assert new_print is not None and file_print is not None
            record_fingerprints(cur, file_print, before + new_print)
    return inserted, 0, rows - inserted


def _write_keyed(
    cur, p: Plan, mapping: Mapping, progress: Progress, *, dry_run: bool
) -> tuple[int, int, int]:
    """Insert new rows and update changed ones from import_typed; return the three counts."""
    spec = p.spec
    table = spec.name
    fields = list(p.typed)
    assert spec.key is not None  # keyed tables only: events go through their own path
    key = list(spec.key)
    # Fields a file does not map are left as they are on existing rows (never set to null).
    changing = [
        f
        for f in fields
        if f not in key
        and (
            f in p.columns
            or f in mapping.constants
            or f in mapping.defaults
            or (table == "spend" and f == "campaign")
        )
    ]
    inserted, updated = cur.execute(sql.keyed_counts(table, key, changing)).fetchall()[0]
    total = cur.execute(sql.count_rows(sql.TYPED)).fetchall()[0][0]
    if not dry_run:
        order = "lead_id" if spec.needs_leads else None
        if inserted:
            progress.run(cur, sql.insert_new(table, fields, key, order), {}, "writing")
        if updated:
            progress.run(cur, sql.update_changed(table, key, changing), {}, "writing")
    return inserted, updated, total - inserted - updated


def _load(
    cur,
    p: Plan,
    source: Source,
    mapping: Mapping,
    progress: Progress,
    *,
    now: dt.datetime | None,
    dry_run: bool,
    fast: bool,
    kept: Kept | None = None,
    sheet: str | None = None,
    repeated: list[int] | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
) -> tuple[tuple[int, int, int], tuple[Attribute, ...]] | None:
    """Check the staged rows and write them, in one transaction; return the three counts.

    fast: the rows are staged typed (TypedStaging); None when the fast check finds anything,
    after rolling back: the caller then stages the file again as text, in order, and calls
    this again (fast=False), where validate names every problem with its row and column.
    """
    repeated = repeated if repeated is not None else [0]
    if not dry_run:
        cur.execute(sql.BEGIN)
    try:
        # events already stored: the file's fingerprint may spare matching them row by row
        stored = p.spec.key is None and cur.execute(sql.has_rows("events")).fetchall()[0][0]
        if fast:
            fine, file_print = fast_check(cur, p, mapping, source, progress, fingerprint=stored)
            if not fine:
                if not dry_run:
                    cur.execute(sql.ROLLBACK)
                return None
        else:
            file_print = validate(cur, p, source, progress, now=now, fingerprint=stored)
            # validate found nothing the fast check did: write from its own typed rows
            query = sql.typed_table(
                p.rows_sql(), p.typed, with_row=False, hashed=p.spec.key is None
            )
            cur.execute(query, sql.bind(query, p.params))
        if p.spec.key is None:
            counts = _write_events(cur, p, progress, file_print, repeated, dry_run=dry_run)
        else:
            counts = _write_keyed(cur, p, mapping, progress, dry_run=dry_run)
        kept_attributes: tuple[Attribute, ...] = ()
        if kept is not None:
            kept_attributes = attributes.load(
                cur, source.path, kept, mapping, progress, dry_run=dry_run, sheet=sheet
            )
        if before_commit is not None and not dry_run:
            progress.stage("summarising", None)
            before_commit(cur)
        progress.stage("committing", None)
        if not dry_run:
            cur.execute(sql.COMMIT)
        return counts, kept_attributes
    except BaseException:
        if not dry_run:
            cur.execute(sql.ROLLBACK)
        raise


def _kept_columns(cur, p: Plan, source: Source, mapping: Mapping) -> tuple[Kept | None, list[str]]:
    """Return the columns a leads file keeps as custom attributes (ImportProblems when their
    names or the --drop / --type options are wrong), and another table's columns not loaded."""
    if mapping.table != "leads":
        return None, attributes.not_loaded(source.columns, p.columns)
    kept, problems = attributes.plan_kept(
        mapping, source.columns, p.columns, attributes.stored_types(cur)
    )
    if problems:
        raise ImportProblems(str(source.path), problems)
    return kept, []


def _recognised(p: Plan, source: Source, mapping: Mapping) -> tuple[tuple[str, str], ...]:
    """Return the (column, field) pairs a required field took by its common export header."""
    named = {column_index(source.columns, src) for src in mapping.columns}
    return tuple(
        (source.columns[i], f)
        for f, i in p.columns.items()
        if i not in named and normalise_name(source.columns[i]) != f
    )


def import_file(
    cur: duckdb.DuckDBPyConnection,
    path: str | Path,
    mapping: Mapping,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    sheet: str | None = None,
    before_commit: Callable[[duckdb.DuckDBPyConnection], object] | None = None,
) -> ImportResult:
    """Validate a whole file, then load it into its table in one transaction (or report).

    before_commit(cur), when given, runs in that transaction once the rows are written, before
    the commit (the callers keep the funnel summary there: funnelcast.analytics.rollups.refresh).

    ImportProblems when anything is wrong; then, as after any error, nothing was written.
    The file is read once, typed, and checked in one pass; only when that check finds a
    problem is it read again as text, in order, to report every problem by row and column.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    with in_utc(cur):
        try:
            staging = TypedStaging(mapping, Path(path), now)
            source = read_source(cur, Path(path), progress, sheet=sheet, staging=staging)
            assert staging.plan is not None  # staging made it from the header
            kept, extra = _kept_columns(cur, staging.plan, source, mapping)
            repeated = [0]
            load = functools.partial(
                _load,
                cur,
                mapping=mapping,
                progress=progress,
                now=now,
                dry_run=dry_run,
                kept=kept,
                sheet=sheet,
                repeated=repeated,
                before_commit=before_commit,
            )
            loaded = load(staging.plan, source, fast=True)
            if loaded is None:
                drop_staging(cur)
                source = read_source(cur, Path(path), progress, sheet=sheet, mapping=mapping)
                loaded = load(plan(mapping, source), source, fast=False)
                assert loaded is not None  # the full path never defers
            (inserted, updated, unchanged), kept_attributes = loaded
            progress.stage("done", 1.0)
            return ImportResult(
                str(path),
                mapping.table,
                source.rows,
                inserted,
                updated,
                unchanged,
                dry_run,
                time.perf_counter() - started,
                attributes=kept_attributes,
                not_loaded=tuple(extra),
                recognised=_recognised(staging.plan, source, mapping),
                repeated=repeated[0],
            )
        except duckdb.Error as exc:
            raise db.FunnelcastError(
                f"{path}: import failed, nothing was written: {first_line(exc)}"
            ) from None
        finally:
            drop_staging(cur)


def check_mapping(mapping: Mapping, columns: Sequence[str]) -> list[Problem]:
    """Return what is wrong with a mapping for a file with these columns (required fields no
    column or value feeds, columns it names that the file lacks…), as problems; reads nothing."""
    return resolve(mapping, columns)[0]


def preview_attributes(
    cur, path: str | Path, mapping: Mapping, sheet: str | None = None
) -> tuple[Attribute, ...]:
    """Return the columns a leads file would keep as custom attributes, typed as an import
    would type them (ImportProblems when the mapping or the kept names are wrong); writes
    nothing. Other tables keep none."""
    if mapping.table != "leads":
        return ()
    with in_utc(cur):
        try:
            source = read_source(cur, Path(path), sheet=sheet, mapping=mapping)
            p = plan(mapping, source)
            kept, _ = _kept_columns(cur, p, source, mapping)
            assert kept is not None  # problems raised above
            return attributes.load(
                cur, Path(path), kept, mapping, Progress(), dry_run=True, sheet=sheet
            )
        finally:
            drop_staging(cur)


def preview(
    cur, path: str | Path, mapping: Mapping, rows: int = 20, sheet: str | None = None
) -> pl.DataFrame:
    """Return the first rows of a file as the table would receive them (unparseable: null)."""
    with in_utc(cur):
        try:
            source = read_source(cur, Path(path), sheet=sheet, mapping=mapping)
            p = plan(mapping, source)
            query = sql.preview_rows(p.rows_sql(), p.typed)
            params = {**p.params, "limit": int(rows)}
            return cur.sql(query, params=sql.bind(query, params)).pl()
        finally:
            drop_staging(cur)
