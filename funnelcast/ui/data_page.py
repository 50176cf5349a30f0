"""What the Data page shows and does, without Streamlit: what is loaded (rows, date range, empty
values, ids that do not match, data-health warnings), a column mapping built from a file's
headers, saved mappings, and the headline figures the loaded data gives.

The import itself is funnelcast.importer's; the page writes through dashboard.write.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import streamlit as st

from funnelcast import importer
from funnelcast.analytics import metrics, rollups_pages
from funnelcast.core import formats
from funnelcast.core.currency import Currency
from funnelcast.data import db
from funnelcast.data.context import DataContext
from funnelcast.definitions import operators

DATA_TABLES = ("leads", "events", "stage_changes", "spend", "targets")
# What a table gives when it is loaded: said where it is missing.
GIVES = {
    "leads": "volumes by channel and the denominators of every rate",
    "events": "behavioural scoring: the Threshold Lab and computed MQLs",
    "stage_changes": "recorded MQLs, SQLs, customers and revenue",
    "spend": "cost per lead, MQL and customer, and ROI",
    "targets": "the plan: how many MQLs next quarter needs",
}
# Each check's text for one item and for any other count ("1 customer", "2 customers").
UNMATCHED_TEXT = {
    "leads_without_stage_changes": (
        "lead with no stage change (never MQL, or the CRM history for it is not loaded)",
        "leads with no stage change (never MQL, or the CRM history for them is not loaded)",
    ),
    "customers_without_mql": (
        "customer with no recorded MQL (a demo request straight to sales, or MQL history missing)",
        "customers with no recorded MQL (a demo request straight to sales, or MQL history missing)",
    ),
    "spend_channels_without_leads": (
        "spend channel that no lead has: its cost has no MQLs to divide by (check the names match)",
        "spend channels that no lead has: their cost has no MQLs to divide by (check the names "
        "match)",
    ),
    "lead_channels_without_spend": (
        "lead channel with no spend: no cost or ROI for it",
        "lead channels with no spend: no cost or ROI for them",
    ),
    "spend_campaigns_without_leads": (
        "spend campaign that no lead names",
        "spend campaigns that no lead names",
    ),
}
# Unmatched ids every real funnel has (most leads never reach MQL; a demo request may go
# straight to sales): said as facts, not warnings, so a sound database raises none.
FACTS = frozenset({"leads_without_stage_changes", "customers_without_mql"})
HEALTH_TEXT = {
    "stage_before_lead_created": (
        "stage change dated before its lead was created",
        "stage changes dated before their lead was created",
    ),
    "customer_before_mql": (
        "lead won before its first recorded MQL",
        "leads won before their first recorded MQL",
    ),
    "customers_without_amount": (
        "customer stage change without a deal amount: revenue counts it as 0",
        "customer stage changes without a deal amount: revenue counts them as 0",
    ),
    "customers_with_zero_amount": (
        "customer stage change with an amount of 0: revenue and ROI understate what was won",
        "customer stage changes with an amount of 0: revenue and ROI understate what was won",
    ),
    "amount_outliers": (
        "customer amount over 100 times the median: one such deal can dominate revenue and ROI",
        "customer amounts over 100 times the median: one such deal can dominate revenue and ROI",
    ),
    "events_before_lead_created": (
        "event dated before its lead was created",
        "events dated before their lead was created",
    ),
    "leads_in_unknown_channel": (
        "lead in the channel 'unknown': its conversion cannot be credited to a real channel",
        "leads in the channel 'unknown': their conversion cannot be credited to a real channel",
    ),
    "activity_after_as_of": (
        "row dated after the data's as-of moment: it falls outside every quarter shown",
        "rows dated after the data's as-of moment: they fall outside every quarter shown",
    ),
}
NOT_MAPPED = "— not in this file —"
CURRENCY_KEY = "data_currency"  # the "Currency of amounts" box
SET_VALUE = "— one value for every row —"


@dataclass(frozen=True)
class Note:
    """One line the page shows about the data: a warning or a plain fact."""

    level: str  # "warning" or "info"
    text: str


def loaded_tables(ctx: DataContext) -> pl.DataFrame:
    """Return one row per data table: rows, first and last date, and what is missing."""
    rows = []
    for table in DATA_TABLES:
        extent = ctx.extent.get(table, {})
        count = int(extent.get("count_rows") or 0)
        first, last = extent.get("first_at"), extent.get("last_at")
        rows.append(
            {
                "table": table,
                "rows": count,
                "first": first.date() if first else None,
                "last": last.date() if last else None,
                "note": f"gives {GIVES[table]}" if count else f"not loaded: no {GIVES[table]}",
            }
        )
    schema = {
        "table": pl.String,
        "rows": pl.Int64,
        "first": pl.Date,
        "last": pl.Date,
        "note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def missing_tables(ctx: DataContext) -> list[str]:
    """Return one sentence per data table with no rows, saying what loading it would give."""
    return [
        f"No {table.replace('_', ' ')} loaded: load them for {GIVES[table]}."
        for table in DATA_TABLES
        if not int(ctx.extent.get(table, {}).get("count_rows") or 0)
    ]


def column_nulls(cur: duckdb.DuckDBPyConnection, rows: pl.DataFrame | None = None) -> pl.DataFrame:
    """Return, per loaded table and column, the rows and the share of them that are empty
    (rows: column_nulls.sql's, when already at hand)."""
    frame = (db.run(cur, "column_nulls") if rows is None else rows).filter(pl.col("count_rows") > 0)
    return frame.with_columns((pl.col("count_nulls") / pl.col("count_rows")).alias("share_empty"))


def _checks(
    frame: pl.DataFrame,
    texts: dict[str, tuple[str, str]],
    shown: dict[str, Callable[[str], str]] | None = None,
) -> list[Note]:
    """Return a note per failed check of a check frame (check_name, count_items, examples): a
    warning, or a plain fact for the checks in FACTS; texts: check -> its words for one item
    and for more; shown: check -> how its examples are shown (as they are otherwise)."""
    notes = []
    for row in frame.iter_rows(named=True):
        if not row["count_items"]:
            continue
        show = (shown or {}).get(row["check_name"], str)
        examples = ", ".join(show(str(e)) for e in row["examples"][:3])
        more = "…" if row["count_items"] > 3 else ""
        notes.append(
            Note(
                "info" if row["check_name"] in FACTS else "warning",
                f"{formats.count(row['count_items'])} "
                f"{texts[row['check_name']][row['count_items'] != 1]} (e.g. {examples}{more})",
            )
        )
    return notes


def unmatched_ids(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, rows: pl.DataFrame | None = None
) -> list[Note]:
    """Return the ids and names that do not match across tables, as notes (rows:
    unmatched_ids.sql's, when already at hand).

    Checks against spend only when spend is loaded (otherwise every channel lacks it, which the
    missing-table note says once).
    """
    frame = db.run(cur, "unmatched_ids") if rows is None else rows
    if not int(ctx.extent.get("spend", {}).get("count_rows") or 0):
        frame = frame.filter(~pl.col("check_name").str.contains("spend"))
    return _checks(frame, UNMATCHED_TEXT)


def _amount_example(currency: Currency) -> Callable[[str], str]:
    """Return how an amount check's example ("LEAD AMOUNT", as data_health gives it) is shown:
    the lead, then the amount in the database's currency."""

    def show(example: str) -> str:
        lead, _, amount = example.rpartition(" ")
        try:
            value = float(amount)
        except ValueError:
            return example
        return f"{lead}: {formats.money(value, currency, exact=True)}"

    return show


def health(
    cur: duckdb.DuckDBPyConnection, ctx: DataContext, rows: pl.DataFrame | None = None
) -> list[Note]:
    """Return data-health warnings: odd dates and amounts, placeholder channels, gaps (rows:
    data_health.sql's, run with rollups_pages.health_as_of, when already at hand)."""
    as_of = db.get_meta(cur, "as_of")
    # the moment the stored value means (a bare date: the end of that day), not its midnight
    moment = rollups_pages.health_as_of(cur, ctx.as_of)
    frame = db.run(cur, "data_health", as_of=moment) if rows is None else rows
    notes = _checks(frame, HEALTH_TEXT, {"amount_outliers": _amount_example(ctx.currency)})
    leads = int(ctx.extent.get("leads", {}).get("count_rows") or 0)
    stages = int(ctx.extent.get("stage_changes", {}).get("count_rows") or 0)
    if leads and not stages:
        notes.append(
            Note(
                "warning",
                "Leads are loaded but no stage changes: there are no MQLs, "
                "customers or revenue to show.",
            )
        )
    if ctx.as_of is not None and as_of is None:
        notes.append(
            Note(
                "info",
                f"The data's 'now' is its latest date, {ctx.as_of:%Y-%m-%d}: "
                "cohorts younger than the usual time to close are marked "
                "as still maturing.",
            )
        )
    return notes


def funnel_check(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Return, overall and per channel, MQLs, customers and MQL → customer with its n and CI.

    `result` is funnelcast.metrics.metrics for all history (what `funnelcast metrics` prints).
    """
    rows = []
    for item in [{"channel": "All channels", **result}, *result["by_channel"]]:
        r = item["rates"]["mql_to_customer"]
        rows.append(
            {
                "channel": item["channel"],
                "mqls": item["mqls"],
                "customers": item["customers"],
                "mql_to_customer_pct": None if r["value"] is None else r["value"] * 100,
                "basis": f"{'⚠ ' if r['is_small_sample'] else ''}"
                f"{formats.count(r['successes'])} of {formats.count(r['n'])} · "
                f"95% CI {formats.interval(r['low'], r['high'])}",
            }
        )
    return rows


# ===== mapping a file on the page =====


DATE_KINDS = ("timestamp", "date")


def initial_choices(table: str, columns: list[str]) -> dict[str, str]:
    """Return field -> choice for the page's selectors: the suggested column or 'not mapped'."""
    suggested = importer.suggest_mapping(table, columns)
    return {f.name: suggested.get(f.name, NOT_MAPPED) for f in importer.TABLES[table].fields}


def choices_from_mapping(mapping: importer.Mapping, columns: list[str]) -> dict[str, str]:
    """Return field -> choice for the selectors from a saved mapping (columns it names)."""
    out = initial_choices(mapping.table, columns)
    for src, dst in mapping.columns.items():
        if src in columns and dst in out:
            out[dst] = src
    for dst in mapping.constants:
        if dst in out:
            out[dst] = SET_VALUE
    return out


def mapping_from_choices(
    table: str,
    choices: dict[str, str],
    constants: dict[str, str],
    *,
    defaults: dict[str, str] | None = None,
    formats_: dict[str, str] | None = None,
    placeholders: tuple[str, ...] = importer.PLACEHOLDERS,
    decimal_comma: bool = False,
) -> importer.Mapping:
    """Return the importer mapping the page's selectors describe."""
    columns = {}
    set_values = {}
    for dst, choice in choices.items():
        if choice in (SET_VALUE, NOT_MAPPED):
            if constants.get(dst, "").strip():  # a value typed or a date picked
                set_values[dst] = constants[dst]
        else:
            columns[choice] = dst
    return importer.Mapping(
        table=table,
        columns=columns,
        constants=set_values,
        defaults={k: v for k, v in (defaults or {}).items() if v},
        formats={k: v for k, v in (formats_ or {}).items() if v},
        placeholders=placeholders,
        decimal_comma=decimal_comma,
    )


def takes_a_value(table: str, field: str, choice: str) -> bool:
    """Return whether the page offers one value for every row of a field: when asked for, and
    for a required field no column feeds (the value is what the import needs to go on)."""
    spec = importer.TABLES[table].field(field)
    return choice == SET_VALUE or (choice == NOT_MAPPED and spec is not None and spec.required)


def is_date(table: str, field: str) -> bool:
    """Return whether a field of a table holds a date (its one value is picked, not typed)."""
    spec = importer.TABLES[table].field(field)
    return spec is not None and spec.kind in DATE_KINDS


def recognised(table: str, columns: list[str], choices: dict[str, str]) -> list[tuple[str, str]]:
    """Return (column, field) for the fields whose column the headers gave and is still chosen."""
    suggested = importer.suggest_mapping(table, columns)
    return [
        (suggested[f.name], f.name)
        for f in importer.TABLES[table].fields
        if f.name in suggested and choices.get(f.name) == suggested[f.name]
    ]


def recognised_text(pairs: list[tuple[str, str]]) -> str | None:
    """Return the sentence saying which columns the headers gave which fields, or None."""
    if not pairs:
        return None
    listed = ", ".join(f"'{column}' as the {importer.field_words(f)}" for column, f in pairs)
    return f"Recognised from the headers: {listed}. Change any of them below."


def field_notes(mapping: importer.Mapping, columns: list[str]) -> dict[str, str]:
    """Return, per required field no column or value feeds, what the page says beside it."""
    return {
        p.field: importer.page_text(p)
        for p in importer.check_mapping(mapping, columns)
        if p.kind == "required_missing"
    }


def mapping_problems(
    mapping: importer.Mapping, columns: list[str], choices: dict[str, str]
) -> list[str]:
    """Return what else is wrong with the page's mapping, in the page's words: a column chosen
    for two fields, and the importer's problems other than the required fields' (said beside
    them)."""
    fields_of: dict[str, list[str]] = {}
    for field, choice in choices.items():
        if choice not in (NOT_MAPPED, SET_VALUE):
            fields_of.setdefault(choice, []).append(field)
    twice = [
        f"The column '{column}' is chosen for {' and '.join(fs)}: a column feeds one field."
        for column, fs in fields_of.items()
        if len(fs) > 1
    ]
    return twice + [
        importer.page_text(p)
        for p in importer.check_mapping(mapping, columns)
        if p.kind != "required_missing"
    ]


def parse_placeholders(text: str) -> tuple[str, ...]:
    """Return placeholders typed one per line; an empty line stands for the empty cell."""
    lines = text.split("\n")
    values = [line.strip() for line in lines]
    return tuple(dict.fromkeys(values))


def mappings_dir(database_path: Path) -> Path:
    """Return the folder beside the database where the page keeps saved mappings."""
    return Path(database_path).resolve().parent / "mappings"


def saved_mappings(database_path: Path, table: str | None = None) -> dict[str, Path]:
    """Return name -> file of the saved mappings (for one table when given), by name."""
    folder = mappings_dir(database_path)
    out = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            mapping = importer.read_mapping_file(path)
        except db.FunnelcastError:
            continue
        if table is None or mapping.table == table:
            out[path.stem] = path
    return out


def save_mapping(database_path: Path, name: str, mapping: importer.Mapping) -> Path:
    """Write a mapping as NAME.toml beside the database; return the file."""
    clean = re.sub(r"[^0-9A-Za-z_-]+", "_", name.strip()).strip("_")
    if not clean:
        raise db.FunnelcastError("give the mapping a name (letters, digits, - or _)")
    folder = mappings_dir(database_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{clean}.toml"
    path.write_text(importer.mapping_to_toml(mapping), encoding="utf-8")
    return path


def file_header(path: Path) -> importer.Source:
    """Return a file's columns, row count, encoding and delimiter (read in a scratch database)."""
    con = db.open_duckdb()
    try:
        return importer.read_source(con, Path(path))
    finally:
        con.close()


def preview(path: Path, mapping: importer.Mapping, rows: int = 20) -> pl.DataFrame:
    """Return the first rows of a file as the table would receive them (scratch database)."""
    con = db.open_duckdb()
    try:
        return importer.preview(con, Path(path), mapping, rows=rows)
    finally:
        con.close()


ATTRIBUTE_TYPES = (operators.NUMBER, operators.DATE, operators.YES_NO, operators.TEXT)


def attribute_preview(
    cur: Any, database_key: str, path: Path, mapping: importer.Mapping
) -> tuple[importer.Attribute, ...]:
    """Return the columns a leads file keeps as custom attributes, typed as the import would
    (checked against the attributes the database holds; writes nothing). Kept per file,
    mapping and data version: the page reruns on every click."""
    return _attribute_preview(cur, database_key, str(path), importer.mapping_to_toml(mapping))


@st.cache_data(show_spinner="Reading the other columns…", max_entries=8)
def _attribute_preview(
    _cur: Any, database_key: str, path: str, mapping_toml: str
) -> tuple[importer.Attribute, ...]:
    """Return importer.preview_attributes, cached on the data, the file and the mapping."""
    mapping = importer.mapping_from_toml(mapping_toml)
    return importer.preview_attributes(_cur, Path(path), mapping)


def attributes_frame(kept: tuple[importer.Attribute, ...]) -> pl.DataFrame:
    """Return the page's table of kept columns: keep, column, type, how the type was found,
    empty rows (columns empty in every row are listed unticked: nothing to keep)."""
    return pl.DataFrame(
        {
            "Keep": [a.how != "empty" for a in kept],
            "Column": [a.name for a in kept],
            "Type": [a.value_type for a in kept],
            "Found by": [
                {"inferred": "its values", "stored": "already stored", "pinned": "your choice"}.get(
                    a.how, "empty in every row"
                )
                for a in kept
            ],
            "Empty rows": [a.empty for a in kept],
        },
        schema={
            "Keep": pl.Boolean,
            "Column": pl.String,
            "Type": pl.String,
            "Found by": pl.String,
            "Empty rows": pl.Int64,
        },
    )


def attribute_choices(
    edited: Any, kept: tuple[importer.Attribute, ...]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """Return the --type pins (types changed from what was found) and the --drop columns
    (unticked) the page's table of kept columns says (edited: as st.data_editor returns it,
    a polars or pandas frame)."""
    if not isinstance(edited, pl.DataFrame):
        edited = pl.from_pandas(edited)
    found = {a.name: a for a in kept}
    types: dict[str, str] = {}
    drop: list[str] = []
    for row in edited.iter_rows(named=True):
        attribute = found.get(row["Column"])
        if attribute is None:
            continue
        if not row["Keep"]:
            if attribute.how != "empty":
                drop.append(attribute.name)
        elif row["Type"] != attribute.value_type and row["Type"] in ATTRIBUTE_TYPES:
            types[attribute.name] = row["Type"]
    return types, tuple(drop)


def summary_text(result: importer.ImportResult, path: Path, name: str) -> str:
    """Return an import's summary as the page shows it: the uploaded file's own name, one
    line a row (markdown line breaks; the attributes' lines indented by the summary)."""
    lines = result.summary(pinned_by="as you chose").replace(str(path), name).splitlines()
    return "  \n".join(
        line.replace("  ", " ", 1) if line.startswith("  ") else line for line in lines
    )


def problem_lines(exc: importer.ImportProblems) -> list[str]:
    """Return an import's problems in the page's words, the count of unlisted ones last."""
    more = exc.total - len(exc.details)
    shown = [importer.page_text(p) for p in exc.details]
    return [*shown, *([f"… and {more:,} more"] if more > 0 else [])]


# ===== cached for the page (the functions above stay plain for tests) =====


@st.cache_data(show_spinner="Checking what is loaded…", max_entries=4)
def _loaded_report(
    _cur: duckdb.DuckDBPyConnection, key: str
) -> tuple[pl.DataFrame, list[Note], list[Note]]:
    """Return column_nulls, unmatched_ids and health, cached on the file key: from the kept
    summary while it is current (funnelcast.analytics.rollups_pages), else the raw tables."""
    ctx = metrics.load_context(_cur)
    rows = rollups_pages.checks(_cur, rollups_pages.health_as_of(_cur, ctx.as_of))
    return (
        column_nulls(_cur, rows["column_nulls"]),
        unmatched_ids(_cur, ctx, rows["unmatched_ids"]),
        health(_cur, ctx, rows["data_health"]),
    )


def loaded_report(database: Any) -> tuple[pl.DataFrame, list[Note], list[Note]]:
    """Return empty values per column, unmatched ids and health warnings of a dashboard.Database."""
    return _loaded_report(database.cursor, database.key)


# ===== upload limits =====
# The largest file the page imports. .streamlit/config.toml's server.maxUploadSize says the same
# to the browser, which refuses a larger file before sending it; this check holds when the
# server runs with another setting. Larger files load with `funnelcast import`.
MAX_UPLOAD_MB = 200


def upload_problem(name: str, size: int, limit_mb: int = MAX_UPLOAD_MB) -> str | None:
    """Return why an uploaded file is refused (larger than limit_mb), or None when it is not."""
    if size <= limit_mb * 2**20:
        return None
    return (
        f"{name}: the file is {size / 2**20:,.1f} MB and the page imports up to "
        f"{limit_mb} MB; load it with `funnelcast import` instead"
    )
