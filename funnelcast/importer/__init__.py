"""Import an export (CRM, marketing automation, ad platform) into one canonical table.

The file (CSV through DuckDB's own reader with explicit options, Parquet, Excel .xlsx) is read
once into a temporary staging table, typed: only the columns the mapping uses, each field
trimmed, placeholders as null, parsed, and every row flagged when it breaks any rule, all in
the reading pass (TypedStaging). Values in a common form skip the costly part: a date in ISO
form and a stage name already canonical are taken as they are. One pass over the staged rows
then counts the flagged rows and, for events and stage changes, the rows whose lead is unknown
(and, for keyed tables, duplicate keys). Only when all is well is the whole file written, in
one transaction, copying the typed rows. When anything is wrong, the file is read again as
text in file order (read_source, validate) and every problem reported with file, row and
column: the rows behind each rule are looked up only then. A failed check, a database error
or the process dying mid-load leaves the database exactly as it was.

Re-importing is idempotent. Keyed tables match rows by their key: leads by lead_id,
stage_changes by (lead_id, stage, changed_at), spend by (period_start, channel, campaign),
targets by quarter_start; a matching row whose mapped fields differ is updated (fields the file
does not map are left alone), an identical one is left as it is. Events have no key: an event is
identified by all its fields, so a file row identical to an event already stored is skipped
(identical rows inside one new file are all loaded: two email opens in the same second happen).

Matching 20M events against 20M stored ones field by field costs more than loading them, so
a file imported into a table that already has events is first fingerprinted: how many rows,
and the sum of their row hashes, as they would be stored. When that is the events table's own
fingerprint, the table holds exactly the file's rows (a re-import after a first load); when
the table still has the fingerprint recorded in meta (import_fingerprint_events) right after
an import of rows with this very fingerprint, the table holds what that import left, which
holds every row of the file. Either way nothing is new and no row is matched. Anything else
(another file since, an event deleted or edited by hand, another mapping) falls back to
matching every row, and an import that adds rows that way records the two fingerprints for
next time. The fingerprints are content, not history: a table changed and changed back still
matches, rightly. They can mislead only through a 64-bit hash collision between two different
tables (the standard content_checksum keeps too). The first import into an empty table needs
neither fingerprint nor matching.

Events carry no foreign key to leads (schema 2): DuckDB checked it row by row and kept an
index over every event, most of a large import's time. The check here keeps events of unknown
leads out instead, as the demo builder does by making events only for its own leads.

Identifiers in the SQL built here come only from the fixed TABLES allow-list and from
positional staging column names (c0, c1, ...); file names, header names and every value the
user gives travel as bound parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from funnelcast.data import db

# Values that mean "nothing here" in real exports: HubSpot's unset dropdown ("Select"), a CRM's
# "unknown", "N/A", a dash, an empty cell. Compared case-insensitively after trimming spaces.
# Change it per import with --placeholder (CLI), `placeholders = [...]` (mapping file) or the page.
PLACEHOLDERS: tuple[str, ...] = ("", "Select", "unknown", "N/A", "-")
MAX_PROBLEMS = 50  # problems listed in one report; the rest are counted
OLDEST = dt.date(1990, 1, 1)  # a date before this is a typo or an epoch/Excel zero date
FUTURE_SLACK = dt.timedelta(days=1)  # time zones: "today" somewhere may be tomorrow in UTC

STAGES = ("mql", "sal", "sql", "customer", "rejected", "recycled", "disqualified")
# Stage names as CRMs export them (lower case, spaces and dashes as underscores) -> ours.
STAGE_ALIASES = {
    **{stage: stage for stage in STAGES},
    "marketing_qualified_lead": "mql",
    "marketingqualifiedlead": "mql",  # HubSpot lifecycle stage, internal value
    "sales_accepted_lead": "sal",
    "accepted": "sal",
    "sales_qualified_lead": "sql",
    "salesqualifiedlead": "sql",  # HubSpot
    "opportunity": "sql",
    "won": "customer",
    "closed_won": "customer",
    "closedwon": "customer",  # HubSpot deal stage
    "unqualified": "disqualified",  # Salesforce lead status
    "nurture": "recycled",
    "nurturing": "recycled",
}
CONTENT_STAGES = ("top", "middle", "bottom")
CONTENT_STAGE_ALIASES = {
    **{stage: stage for stage in CONTENT_STAGES},
    "tofu": "top",
    "top_of_funnel": "top",
    "mofu": "middle",
    "middle_of_funnel": "middle",
    "bofu": "bottom",
    "bottom_of_funnel": "bottom",
}


class ImportProblems(db.FunnelcastError):
    """A file that cannot be imported, with every problem found (up to MAX_PROBLEMS listed)."""

    def __init__(self, file: str, problems: list[str], total: int | None = None):
        self.file = file
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = "\n".join(f"  {p}" for p in problems)
        more = self.total - len(problems)
        tail = f"\n  … and {more:,} more" if more > 0 else ""
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"{file}: {self.total:,} {noun}; nothing was imported\n{shown}{tail}")


@dataclass(frozen=True)
class Field:
    """One canonical field of a table and how its text is parsed."""

    name: str
    kind: str  # text, timestamp, date, integer, amount, stage, content_stage
    required: bool = False
    about: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A canonical table the importer loads: its fields, key and what it needs to exist."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] | None  # None: rows are identified by all their fields
    time_field: str
    needs_leads: bool = False  # rows refer to leads.lead_id

    def field(self, name: str) -> Field | None:
        """Return the field called name, or None."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Return the canonical field names in schema order."""
        return tuple(f.name for f in self.fields)


TABLES: dict[str, TableSpec] = {
    "leads": TableSpec(
        "leads",
        (
            Field("lead_id", "text", True, "the lead's unique id in the CRM"),
            Field("created_at", "timestamp", True, "when the lead was created (UTC)"),
            Field("channel", "text", True, "source channel: search, social, email, …"),
            Field("campaign", "text"),
            Field("company", "text"),
            Field("industry", "text"),
            Field(
                "company_size",
                "integer",
                about="employees; a band such as 51-200 counts as its lower bound",
            ),
            Field("country", "text"),
            Field("region", "text"),
            Field("job_title", "text"),
            Field("seniority", "text"),
        ),
        key=("lead_id",),
        time_field="created_at",
    ),
    "events": TableSpec(
        "events",
        (
            Field("lead_id", "text", True, "the lead who did it"),
            Field("occurred_at", "timestamp", True, "when (UTC)"),
            Field("event_type", "text", True, "email_open, content_download, demo_request, …"),
            Field("content_stage", "content_stage", about="top, middle or bottom of the funnel"),
            Field("channel", "text"),
            Field("campaign", "text"),
        ),
        key=None,
        time_field="occurred_at",
        needs_leads=True,
    ),
    "stage_changes": TableSpec(
        "stage_changes",
        (
            Field("lead_id", "text", True, "the lead whose stage changed"),
            Field("stage", "stage", True, ", ".join(STAGES)),
            Field("changed_at", "timestamp", True, "when (UTC)"),
            Field("reason", "text", about="why sales rejected or recycled it"),
            Field("amount", "amount", about="deal value, for customer"),
            Field("owner", "text"),
        ),
        key=("lead_id", "stage", "changed_at"),
        time_field="changed_at",
        needs_leads=True,
    ),
    "spend": TableSpec(
        "spend",
        (
            Field("period_start", "date", True, "first day of the period the spend covers"),
            Field("channel", "text", True),
            Field("campaign", "text", about="empty: spend on the channel as a whole"),
            Field("amount", "amount", True),
        ),
        key=("period_start", "channel", "campaign"),
        time_field="period_start",
    ),
    "targets": TableSpec(
        "targets",
        (
            Field("quarter_start", "date", True, "first day of the fiscal quarter"),
            Field("target_customers", "integer"),
            Field("target_revenue", "amount"),
        ),
        key=("quarter_start",),
        time_field="quarter_start",
    ),
}

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
}


def normalise_name(text: str) -> str:
    """Return a header as a comparable name: lower case, runs of non-alphanumerics as '_'."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")


# ===== the mapping =====


@dataclass(frozen=True)
class Mapping:
    """How a file's columns become a table's fields.

    columns: source column -> field; constants: field -> one value for every row (--set);
    defaults: field -> value where the row has none (missing or a placeholder);
    formats: field -> strptime format for dates that are not ISO; decimal_comma: numbers
    written 1.234,56. Fields a file names exactly (lead_id, created_at…) map themselves.
    """

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    placeholders: tuple[str, ...] = PLACEHOLDERS
    decimal_comma: bool = False

    @property
    def spec(self) -> TableSpec:
        """Return the target table's spec."""
        return TABLES[self.table]


def check_table(name: str) -> TableSpec:
    """Return the spec of a table the importer loads, or a FunnelcastError naming the choices."""
    if name not in TABLES:
        raise db.FunnelcastError(f"cannot import into {name!r}: choose one of {', '.join(TABLES)}")
    return TABLES[name]


def parse_pairs(pairs: Iterable[str], option: str) -> dict[str, str]:
    """Return KEY=VALUE command-line pairs as a dict; a pair without '=' is a FunnelcastError."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise db.FunnelcastError(f"{option} {pair!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out


MAPPING_KEYS = {"table", "map", "set", "defaults", "formats", "placeholders", "decimal_comma"}


def mapping_from_toml(text: str, source: str = "mapping") -> Mapping:
    """Return the mapping a TOML text holds (see mapping_to_toml for the layout)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise db.FunnelcastError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(data) - MAPPING_KEYS
    if unknown:
        raise db.FunnelcastError(
            f"{source}: unknown key {sorted(unknown)[0]!r} "
            f"(a mapping file has: {', '.join(sorted(MAPPING_KEYS))})"
        )
    if "table" not in data:
        raise db.FunnelcastError(f"{source}: missing 'table = \"...\"' ({', '.join(TABLES)})")
    check_table(str(data["table"]))
    tables = {}
    for key in ("map", "set", "defaults", "formats"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise db.FunnelcastError(f'{source}: [{key}] must hold NAME = "text" pairs')
        tables[key] = {str(k): v for k, v in value.items()}
    placeholders = data.get("placeholders", list(PLACEHOLDERS))
    if not isinstance(placeholders, list) or not all(isinstance(v, str) for v in placeholders):
        raise db.FunnelcastError(f"{source}: placeholders must be a list of texts")
    return Mapping(
        table=str(data["table"]),
        columns=tables["map"],
        constants=tables["set"],
        defaults=tables["defaults"],
        formats=tables["formats"],
        placeholders=tuple(placeholders),
        decimal_comma=bool(data.get("decimal_comma", False)),
    )


def _toml_string(text: str) -> str:
    """Return text as a TOML basic string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f]", lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


def mapping_to_toml(mapping: Mapping) -> str:
    """Return a mapping as the TOML text `funnelcast import --mapping` reads."""
    lines = [
        f"# funnelcast import mapping: source columns -> {mapping.table} fields",
        f"table = {_toml_string(mapping.table)}",
        "placeholders = [" + ", ".join(_toml_string(p) for p in mapping.placeholders) + "]",
    ]
    if mapping.decimal_comma:
        lines.append("decimal_comma = true")
    for key, pairs in (
        ("map", mapping.columns),
        ("set", mapping.constants),
        ("defaults", mapping.defaults),
        ("formats", mapping.formats),
    ):
        if pairs:
            lines += [
                "",
                f"[{key}]",
                *(f"{_toml_string(k)} = {_toml_string(v)}" for k, v in pairs.items()),
            ]
    return "\n".join(lines) + "\n"


def read_mapping_file(path: Path) -> Mapping:
    """Return the mapping a TOML file holds."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise db.FunnelcastError(f"{path}: no such mapping file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise db.FunnelcastError(f"{path}: cannot read it: {exc}") from None
    return mapping_from_toml(text, str(path))


# ===== suggestions: which source column feeds which field =====

# Header names (normalised) of common exports: HubSpot contact exports, Salesforce lead and
# contact reports and Data Loader extracts, ad platforms' campaign reports.
KNOWN_HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "leads": {
        "lead_id": (
            "record_id",
            "contact_id",
            "hs_object_id",
            "vid",
            "lead_id_18",
            "id",
            "lead_id",
            "contactid",
            "leadid",
            "mql_id",
            "email",
            "email_address",
        ),
        "created_at": (
            "create_date",
            "created_date",
            "createddate",
            "createdate",
            "date_created",
            "first_contact_date",
            "became_a_lead_date",
        ),
        "channel": (
            "original_source",
            "original_source_type",
            "hs_analytics_source",
            "lead_source",
            "leadsource",
            "source",
            "origin",
            "utm_medium",
        ),
        "campaign": (
            "original_source_drill_down_1",
            "hs_analytics_source_data_1",
            "campaign_name",
            "campaign",
            "utm_campaign",
            "landing_page_id",
        ),
        "company": (
            "company_name",
            "company",
            "account_name",
            "company_account",
            "associated_company",
        ),
        "industry": ("industry",),
        "company_size": (
            "number_of_employees",
            "numberofemployees",
            "employees",
            "company_size",
            "no_of_employees",
        ),
        "country": ("country_region", "country", "country_code"),
        "region": ("state_region", "region", "state_province", "state"),
        "job_title": ("job_title", "title", "jobtitle"),
        "seniority": ("seniority", "job_seniority", "job_level", "hs_seniority"),
    },
    "stage_changes": {
        "lead_id": ("record_id", "contact_id", "lead_id", "leadid", "mql_id", "id"),
        "stage": (
            "lifecycle_stage",
            "lifecyclestage",
            "lead_status",
            "status",
            "stage",
            "deal_stage",
            "stage_name",
        ),
        "changed_at": (
            "last_modified_date",
            "lastmodifieddate",
            "date_entered_stage",
            "won_date",
            "close_date",
            "closedate",
            "converted_date",
            "became_a_customer_date",
            "became_a_marketing_qualified_lead_date",
        ),
        "reason": (
            "closed_lost_reason",
            "reason",
            "disqualification_reason",
            "loss_reason",
            "unqualified_reason",
        ),
        "amount": (
            "amount",
            "deal_amount",
            "annual_revenue",
            "opportunity_amount",
            "declared_monthly_revenue",
        ),
        "owner": ("contact_owner", "lead_owner", "owner", "deal_owner", "sr_id", "owner_name"),
    },
    "events": {
        "lead_id": ("record_id", "contact_id", "lead_id", "id"),
        "occurred_at": ("timestamp", "event_date", "date", "activity_date", "occurred_at"),
        "event_type": ("event", "event_name", "activity_type", "type", "interaction"),
        "content_stage": ("funnel_stage", "content_stage", "buyer_stage"),
        "channel": ("channel", "source", "utm_medium"),
        "campaign": ("campaign", "campaign_name", "utm_campaign"),
    },
    "spend": {
        "period_start": (
            "date",
            "day",
            "month",
            "week",
            "reporting_starts",
            "period",
            "period_start",
            "start_date",
        ),
        "channel": ("channel", "platform", "network", "publisher", "source"),
        "campaign": ("campaign", "campaign_name"),
        "amount": ("spend", "cost", "amount_spent", "amount_spent_usd", "cost_usd", "amount"),
    },
    "targets": {
        "quarter_start": ("quarter", "quarter_start", "period_start"),
        "target_customers": ("customers", "target_customers", "new_customers"),
        "target_revenue": ("revenue", "target_revenue", "bookings"),
    },
}


def suggest_mapping(table: str, columns: Iterable[str]) -> dict[str, str]:
    """Return field -> source column guesses: the field's own name first, then export headers.

    Each column feeds at most one field; the earlier a header stands in a field's list of
    known names, the stronger the guess.
    """
    spec = check_table(table)
    by_name = {normalise_name(c): c for c in reversed(list(columns))}
    out: dict[str, str] = {}
    taken: set[str] = set()
    for f in spec.fields:
        if f.name in by_name:
            out[f.name] = by_name[f.name]
            taken.add(by_name[f.name])
    for f in spec.fields:
        if f.name in out:
            continue
        for known in KNOWN_HEADERS.get(table, {}).get(f.name, ()):
            column = by_name.get(known)
            if column is not None and column not in taken:
                out[f.name] = column
                taken.add(column)
                break
    return out


# ===== reading a file into staging =====


@dataclass(frozen=True)
class Source:
    """A file read into the staging table import_raw: columns c0, c1, … as text."""

    path: Path
    format: str
    columns: tuple[str, ...]  # header names, in file order
    rows: int
    encoding: str | None = None
    delimiter: str | None = None
    cleaned: bool = False  # staged values already trimmed, placeholders already null

    def column_index(self, name: str) -> int | None:
        """Return the position of a header name (exact first, then normalised), or None."""
        if name in self.columns:
            return self.columns.index(name)
        wanted = normalise_name(name)
        found = [i for i, c in enumerate(self.columns) if normalise_name(c) == wanted]
        return found[0] if len(found) == 1 else None


RAW = "import_raw"


def file_format(path: Path) -> str:
    """Return 'csv', 'parquet' or 'xlsx' from the file name; other suffixes are refused."""
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise db.FunnelcastError(
            f"{path}: old Excel .xls files are not read; save it as .xlsx or CSV"
        )
    if suffix not in SUFFIXES:
        raise db.FunnelcastError(
            f"{path}: unknown file type {suffix or '(no suffix)'!r}; "
            f"import CSV (.csv, .tsv, .txt), Parquet (.parquet) or Excel (.xlsx)"
        )
    return SUFFIXES[suffix]


def _bom_encoding(path: Path) -> str | None:
    """Return the encoding a byte-order mark announces, or None without one."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    return None


def _csv_dialect(cur, path: Path, encoding: str) -> dict[str, Any]:
    """Return the delimiter, quote, escape and header DuckDB's sniffer finds in the file."""
    row = cur.execute(
        "select Delimiter, Quote, Escape, Columns from sniff_csv($path, encoding = $encoding, "
        "header = true, all_varchar = true)",
        {"path": str(path), "encoding": encoding},
    ).fetchall()[0]
    plain = lambda text: "" if text == "(empty)" else text  # noqa: E731
    return {
        "delim": plain(row[0]) or ",",
        "quote": plain(row[1]),
        "escape": plain(row[2]),
        "columns": {column["name"]: "VARCHAR" for column in row[3]},
    }


def _stage_csv(
    cur, path: Path, progress: Progress, staging: Staging | TypedStaging
) -> tuple[tuple[str, ...], str, str]:
    """Read a CSV file into import_raw; return its header, encoding and delimiter.

    UTF-8 (with or without a byte-order mark) is tried first, Latin-1 when the bytes are not
    UTF-8; UTF-16 when a byte-order mark says so. Delimiter and quoting come from DuckDB's
    sniffer and are then passed explicitly; every value is read as text, parsed later.
    """
    encodings = [_bom_encoding(path) or "utf-8"]
    if encodings[0] == "utf-8":
        encodings.append("latin-1")
    last_error: Exception | None = None
    for encoding in encodings:
        try:
            dialect = _csv_dialect(cur, path, encoding)
            params = {"path": str(path), "encoding": encoding, **dialect}
            reader = (
                "read_csv($path, header = true, auto_detect = false, columns = $columns, "
                "delim = $delim, quote = $quote, escape = $escape, encoding = $encoding, "
                "null_padding = false)"
            )
            header = list(dialect["columns"])
            sql = staging.statement(tuple(header), lambda i: f"#{i + 1}", reader)
            staging.run(cur, sql, params, progress)
            return tuple(header), encoding, dialect["delim"]
        except duckdb.Error as exc:
            last_error = exc
            if "unicode" in str(exc).lower() and encoding != encodings[-1]:
                cur.execute(f"drop table if exists {staging.table}")
                continue
            raise db.FunnelcastError(f"{path}: cannot read it as CSV: {_first_line(exc)}") from None
    raise db.FunnelcastError(f"{path}: cannot read it as CSV: {_first_line(last_error)}")


def _first_line(exc: Exception | None) -> str:
    """Return the first informative line of a DuckDB error."""
    text = str(exc or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else text


def _text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Return a frame with every column as text: whole floats without '.0', times in ISO."""
    out = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype.is_float():
            column = (
                pl.when(column.is_finite() & (column == column.round(0)) & (column.abs() < 1e15))
                .then(column.cast(pl.Int64).cast(pl.String))
                .otherwise(column.cast(pl.String))
            )
        elif dtype == pl.Datetime or dtype == pl.Date:
            column = (
                column.dt.to_string("iso")
                if dtype == pl.Date
                else column.dt.strftime("%Y-%m-%d %H:%M:%S%.f")
            )
        else:
            column = column.cast(pl.String)
        out.append(column.alias(name))
    return frame.select(out)


def _stage_frame(
    cur, frame: pl.DataFrame, progress: Progress, staging: Staging | TypedStaging
) -> tuple[str, ...]:
    """Copy a frame into import_raw as text columns c0, c1, …; return its header."""
    header = tuple(frame.columns)
    staged = _text_frame(frame).rename({name: f"c{i}" for i, name in enumerate(header)})
    cur.register("import_frame", staged)
    try:
        sql = staging.statement(header, lambda i: f"c{i}", "import_frame")
        staging.run(cur, sql, {}, progress)
    finally:
        cur.unregister("import_frame")
    return header


def in_list(values: str, value: str) -> str:
    """Return SQL: is value one of the (null-free) list values?

    Not list_contains: DuckDB 2.0 turns list_contains of a constant list into a join, which
    computes its operand for every row, even where a CASE around it needed it for none.
    """
    return f"list_position({values}, {value}) is not null"


def clean_sql(value: str) -> str:
    """Return SQL of a staged text trimmed of spaces, or null when it is a placeholder.

    Most values are longer than any placeholder and have no spaces to trim: they pass as they
    are, sparing them trim(), lower() and the list look-up. lower() keeps the number of
    characters and UTF-8 spends at most 4 bytes on one, so a value of more than
    $placeholder_bytes bytes is longer than every placeholder: its byte length (strlen, free)
    settles most values before their character length (length, a scan) is needed.
    """
    return (
        f"case when (strlen({value}) > $placeholder_bytes "
        f"or length({value}) > $placeholder_length) "
        f"and not starts_with({value}, ' ') and not ends_with({value}, ' ') "
        f"then {value} "
        f"when {in_list('$placeholders', f'lower(trim({value}))')} then null "
        f"else trim({value}) end"
    )


def placeholder_params(placeholders: Iterable[str]) -> dict[str, Any]:
    """Return the bound parameters clean_sql uses for a list of placeholders."""
    listed = sorted({p.strip().lower() for p in placeholders})
    longest = max((len(p) for p in listed), default=0)
    return {"placeholders": listed, "placeholder_length": longest, "placeholder_bytes": 4 * longest}


@dataclass(frozen=True)
class Staging:
    """Which of a file's columns are staged, and whether cleaned on the way in.

    Without a mapping every column is staged as it is (a preview of the header, the Data
    page). With one, only the columns it maps are staged, trimmed and with placeholders as
    null, in the same pass that reads the file: every later pass reads clean text.
    """

    mapping: Mapping | None = None
    table = RAW  # the staging table it creates

    def columns(self, header: tuple[str, ...]) -> list[int]:
        """Return the positions of the header's columns to stage."""
        if self.mapping is None:
            return list(range(len(header)))
        probe = Source(Path(), "csv", header, 0)
        used = sorted(set(_mapping_problems(self.mapping, probe)[1].values()))
        return used or [0]  # a file whose every field is --set still has rows to count

    def select(self, header: tuple[str, ...], value: Callable[[int], str]) -> str:
        """Return the select list staging the header's chosen columns as c0, c1, …"""
        if self.mapping is None:
            return ", ".join(f"{value(i)} as c{i}" for i in self.columns(header))
        return ", ".join(f"{clean_sql(value(i))} as c{i}" for i in self.columns(header))

    def params(self, sql: str) -> dict[str, Any]:
        """Return the parameters a staging statement uses."""
        if self.mapping is None:
            return {}
        return _bind(sql, placeholder_params(self.mapping.placeholders))

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the statement staging the chosen columns (value(i): column i of source)."""
        return f"create temp table {RAW} as select {self.select(header, value)} from {source}"

    def run(self, cur, sql: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run a staging statement; params: the reader's."""
        progress.run(cur, sql, {**params, **self.params(sql)}, "reading")


def read_source(
    cur,
    path: Path,
    progress: Progress | None = None,
    sheet: str | None = None,
    mapping: Mapping | None = None,
    staging: Staging | TypedStaging | None = None,
) -> Source:
    """Read a CSV, Parquet or .xlsx file into the temporary table import_raw; return its shape.

    With a mapping, only the columns it maps are staged, already cleaned (see Staging). With
    a TypedStaging, the mapped fields are staged typed into import_typed instead.
    """
    progress = progress or Progress()
    staging = staging or Staging(mapping)
    path = Path(path)
    kind = file_format(path)
    if not path.exists():
        raise db.FunnelcastError(f"{path}: no such file")
    if path.is_dir():
        raise db.FunnelcastError(f"{path}: is a directory, not a file")
    if path.stat().st_size == 0:
        raise ImportProblems(str(path), ["the file is empty (0 bytes)"])
    cur.execute(f"drop table if exists {staging.table}")
    encoding = delimiter = None
    if kind == "csv":
        header, encoding, delimiter = _stage_csv(cur, path, progress, staging)
    elif kind == "parquet":
        try:
            names = [
                r[0]
                for r in cur.execute(
                    "describe select * from read_parquet($path)", {"path": str(path)}
                ).fetchall()
            ]
            sql = staging.statement(
                tuple(names), lambda i: f"cast(#{i + 1} as varchar)", "read_parquet($path)"
            )
            staging.run(cur, sql, {"path": str(path)}, progress)
        except duckdb.Error as exc:
            raise db.FunnelcastError(
                f"{path}: cannot read it as Parquet: {_first_line(exc)}"
            ) from None
        header = tuple(names)
    else:
        try:
            frame = (
                pl.read_excel(path, sheet_name=sheet, engine="calamine")
                if sheet
                else pl.read_excel(path, engine="calamine")
            )
        except Exception as exc:  # fastexcel raises its own types for broken files and sheets
            raise db.FunnelcastError(
                f"{path}: cannot read it as Excel: {_first_line(exc)}"
            ) from None
        header = _stage_frame(cur, frame, progress, staging)
    rows = cur.execute(f"select count(*) from {staging.table}").fetchall()[0][0]
    cleaned = isinstance(staging, Staging) and staging.mapping is not None
    return Source(path, kind, header, rows, encoding, delimiter, cleaned=cleaned)


def drop_staging(cur) -> None:
    """Drop the importer's temporary tables."""
    for name in (RAW, "import_typed", "import_new"):
        cur.execute(f"drop table if exists {name}")


# ===== progress =====


class Progress:
    """Reports how far an import is: stage name and a fraction (None: not known).

    With a callback, long queries run on a worker thread while this one polls DuckDB's own
    query progress; without one they simply run.
    """

    def __init__(
        self, callback: Callable[[str, float | None], None] | None = None, interval: float = 0.2
    ):
        self.callback = callback
        self.interval = interval

    def stage(self, name: str, fraction: float | None = None) -> None:
        """Tell the callback that the import is at this stage."""
        if self.callback is not None:
            self.callback(name, fraction)

    def run(self, cur, sql: str, params: AbcMapping[str, Any], stage: str) -> list[tuple]:
        """Run one statement, reporting its progress under a stage name; return its rows."""
        self.stage(stage, 0.0)
        if self.callback is None:
            return cur.execute(sql, params).fetchall()
        cur.execute("set enable_progress_bar = true")
        cur.execute("set enable_progress_bar_print = false")
        cur.execute("set progress_bar_time = 0")
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["rows"] = cur.execute(sql, params).fetchall()
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(self.interval)
            done = cur.query_progress()
            if worker.is_alive() and done >= 0:
                self.stage(stage, min(done / 100, 1.0))
        if "error" in outcome:  # before any other statement: a failed one aborts the transaction
            raise outcome["error"]
        cur.execute("set enable_progress_bar = false")
        self.stage(stage, 1.0)
        return outcome["rows"]


# ===== parsing: text -> typed values =====


@dataclass
class Plan:
    """The SQL that turns staged text into a table's typed fields, and its parameters."""

    spec: TableSpec
    sources: dict[str, str]  # field -> label used in messages (column name or --set)
    columns: dict[str, int]  # field -> staged column index
    text: dict[str, str]  # field -> SQL expression of its cleaned text
    typed: dict[str, str]  # field -> SQL expression of its typed value
    params: dict[str, Any]


def _number_text(text: str, decimal_comma: bool) -> str:
    """Return SQL that strips currency signs, spaces and thousands separators from a number."""
    bare = f"regexp_replace({text}, '[\\s$€£¥]|^(USD|EUR|GBP|BRL)|(USD|EUR|GBP|BRL)$', '', 'g')"
    if decimal_comma:
        return f"replace(replace({bare}, '.', ''), ',', '.')"
    return (
        f"case when regexp_full_match({bare}, '-?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?') "
        f"then replace({bare}, ',', '') else {bare} end"
    )


def _typed_expr(f: Field, text: str, fmt: str | None) -> str:
    """Return SQL turning a field's cleaned text into its typed value (null: unparseable)."""
    if f.kind == "text":
        return text
    if f.kind == "timestamp":
        if fmt:
            return f"try_strptime({text}, $format_{f.name})"
        # A text with an offset (Z, +02:00, -0300) goes through timestamptz, which moves it to
        # UTC (the session's zone while importing); one without, the common case, through the
        # cheaper plain timestamp cast.
        has_offset = (
            f"(ends_with({text}, 'Z') or contains(substr({text}, 11), '+') "
            f"or contains(substr({text}, 17), '-'))"
        )
        return (
            f"case when {has_offset} then cast(try_cast({text} as timestamptz) as timestamp) "
            f"else try_cast({text} as timestamp) end"
        )
    if f.kind == "date":
        if fmt:
            return f"cast(try_strptime({text}, $format_{f.name}) as date)"
        return (
            f"coalesce(try_cast({text} as date), "
            f"cast(cast(try_cast({text} as timestamptz) as timestamp) as date))"
        )
    if f.kind in ("integer", "amount"):
        number = _number_text(text, False)  # replaced below when the mapping says decimal comma
        if f.kind == "amount":
            return f"try_cast(try_cast({number} as double) as decimal(18, 2))"
        # a band such as 51-200 or 5000+ counts as its lower bound (it falls in the same band)
        band = (
            f"coalesce(nullif(regexp_extract({text}, '^\\s*(\\d+)\\s*[-–]\\s*\\d+\\s*$', 1), ''), "
            f"nullif(regexp_extract({text}, '^\\s*(\\d+)\\s*\\+\\s*$', 1), ''))"
        )
        value = f"coalesce(try_cast({number} as double), try_cast({band} as double))"
        return (
            f"case when {value} = floor({value}) and abs({value}) < 2e9 "
            f"then cast({value} as integer) end"
        )
    if f.kind in ("stage", "content_stage"):
        # names already canonical skip the normalising regexp
        return (
            f"case when {in_list(f'$canonical_{f.name}', text)} then {text} "
            f"else $values_{f.name}[list_position($aliases_{f.name}, {_alias_key(text)})] end"
        )
    raise ValueError(f"unknown field kind {f.kind}")


def _alias_key(text: str) -> str:
    """Return SQL normalising a stage name the way STAGE_ALIASES' keys are written."""
    return f"trim(regexp_replace(lower({text}), '[^0-9a-z]+', '_', 'g'), '_')"


def _mapping_problems(mapping: Mapping, source: Source) -> tuple[list[str], dict[str, int]]:
    """Return what is wrong with the mapping itself, and field -> staged column index."""
    spec = mapping.spec
    problems: list[str] = []
    columns: dict[str, int] = {}
    listed = ", ".join(repr(c) for c in source.columns)
    for src, dst in mapping.columns.items():
        if spec.field(dst) is None:
            problems.append(
                f"--map {src}={dst}: {spec.name} has no field {dst!r} "
                f"(its fields: {', '.join(spec.names)})"
            )
            continue
        index = source.column_index(src)
        if index is None:
            problems.append(
                f"--map {src}={dst}: the file has no column {src!r} (its columns: {listed})"
            )
            continue
        if dst in columns:
            problems.append(
                f"--map …={dst}: two columns are mapped to {dst} "
                f"({source.columns[columns[dst]]!r} and {src!r})"
            )
            continue
        columns[dst] = index
    for option, pairs in (
        ("--set", mapping.constants),
        ("--default", mapping.defaults),
        ("--date-format", mapping.formats),
    ):
        for dst in pairs:
            if spec.field(dst) is None:
                problems.append(
                    f"{option} {dst}=…: {spec.name} has no field {dst!r} "
                    f"(its fields: {', '.join(spec.names)})"
                )
    for dst in mapping.constants:
        if dst in columns:
            problems.append(
                f"--set {dst}=…: {dst} is also mapped from column "
                f"{source.columns[columns[dst]]!r}; choose one"
            )
    for dst, fmt in mapping.formats.items():
        f = spec.field(dst)
        if f is not None and f.kind not in ("timestamp", "date"):
            problems.append(f"--date-format {dst}={fmt}: {dst} is not a date")
    # a file header that names a field maps it, unless that column is mapped elsewhere
    mapped_sources = {source.column_index(src) for src in mapping.columns}
    for f in spec.fields:
        if f.name in columns or f.name in mapping.constants:
            continue
        index = source.column_index(f.name)
        if index is not None and index not in mapped_sources:
            columns[f.name] = index
    for f in spec.fields:
        if (
            f.required
            and f.name not in columns
            and f.name not in mapping.constants
            and f.name not in mapping.defaults
        ):
            problems.append(
                f"required field {f.name} ({f.about or f.kind}) is missing: the file has no "
                f"column {f.name!r}; map one with --map COLUMN={f.name} or give every row a "
                f"value with --set {f.name}=VALUE (its columns: {listed})"
            )
    if spec.name == "targets" and not any(
        n in columns or n in mapping.constants for n in ("target_customers", "target_revenue")
    ):
        problems.append("targets need target_customers or target_revenue: map at least one")
    return problems, columns


def plan(mapping: Mapping, source: Source) -> Plan:
    """Return the parse plan of a file under a mapping; ImportProblems when the mapping is wrong."""
    problems, columns = _mapping_problems(mapping, source)
    if problems:
        raise ImportProblems(str(source.path), problems)
    spec = mapping.spec
    params: dict[str, Any] = placeholder_params(mapping.placeholders)
    text: dict[str, str] = {}
    typed: dict[str, str] = {}
    sources: dict[str, str] = {}
    for f in spec.fields:
        if f.name in mapping.constants:
            params[f"set_{f.name}"] = mapping.constants[f.name].strip()
            expr = f"cast($set_{f.name} as varchar)"
            sources[f.name] = f"--set {f.name}"
        elif f.name in columns:
            column = f"c{columns[f.name]}"
            expr = column if source.cleaned else clean_sql(column)
            name = source.columns[columns[f.name]]
            sources[f.name] = f"column {name!r}" + (f" ({f.name})" if name != f.name else "")
        else:
            expr = "cast(null as varchar)"
            sources[f.name] = f.name
        if f.name in mapping.defaults:
            params[f"default_{f.name}"] = mapping.defaults[f.name]
            expr = f"coalesce({expr}, cast($default_{f.name} as varchar))"
        fmt = mapping.formats.get(f.name)
        if fmt:
            params[f"format_{f.name}"] = fmt
        text[f.name] = expr
        typed_sql = _typed_expr(f, f"t_{f.name}", fmt)
        if mapping.decimal_comma and f.kind in ("integer", "amount"):
            typed_sql = typed_sql.replace(
                _number_text(f"t_{f.name}", False), _number_text(f"t_{f.name}", True)
            )
        typed[f.name] = typed_sql
        if f.kind in ("stage", "content_stage"):
            aliases = STAGE_ALIASES if f.kind == "stage" else CONTENT_STAGE_ALIASES
            params[f"aliases_{f.name}"] = list(aliases)
            params[f"values_{f.name}"] = list(aliases.values())
            params[f"canonical_{f.name}"] = list(STAGES if f.kind == "stage" else CONTENT_STAGES)
    if spec.name == "spend":  # campaign '' is spend on the channel as a whole
        typed["campaign"] = "coalesce(t_campaign, '')"
    return Plan(spec, sources, columns, text, typed, params)


def _bind(sql: str, params: AbcMapping[str, Any]) -> dict[str, Any]:
    """Return the parameters a statement uses (DuckDB refuses unused named parameters)."""
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in used}


def _texts_sql(p: Plan, table: str = RAW, row: str = "rowid + 2") -> str:
    """Return SQL selecting each staged row's number and its fields' cleaned texts."""
    texts = ", ".join(f"{expr} as t_{name}" for name, expr in p.text.items())
    return f"select {row} as _row, {texts} from {table}"


# Row rules: (name, which kinds or fields, SQL condition on t_X / v_X, message with {value}).
# Every rule names one problem a user can fix; each runs as one query listing its rows.
def _row_rules(p: Plan) -> list[tuple[str, str, str]]:
    """Return (field, SQL condition, message template) for every per-row check of a plan."""
    rules = []
    for f in p.spec.fields:
        t, v = f"t_{f.name}", f"v_{f.name}"
        if f.required:
            rules.append((f.name, f"{t} is null", "is empty (a value is required)"))
        if f.kind in ("timestamp", "date"):
            fmt = p.params.get(f"format_{f.name}")
            hint = (
                f"does not match the format {fmt}"
                if fmt
                else "is not a date (write it as 2024-01-31 or 2024-01-31 14:05:00, or give "
                f"its format: --date-format {f.name}=%d/%m/%Y)"
            )
            rules.append((f.name, f"{t} is not null and {v} is null", hint))
            if p.spec.name != "targets":  # a plan is for quarters to come
                rules.append((f.name, f"{v} > $latest", "is in the future (after {latest})"))
            rules.append((f.name, f"{v} < $oldest", "is implausibly old (before {oldest})"))
        elif f.kind in ("integer", "amount"):
            what = "a whole number" if f.kind == "integer" else "a number"
            rules.append(
                (
                    f.name,
                    f"{t} is not null and {v} is null",
                    f"is not {what} (for 1.234,56 use --decimal-comma)",
                )
            )
            positive = p.spec.name == "targets"
            rules.append(
                (
                    f.name,
                    f"{v} {'<=' if positive else '<'} 0",
                    "must be greater than 0" if positive else "is negative",
                )
            )
        elif f.kind == "stage":
            rules.append(
                (
                    f.name,
                    f"{t} is not null and {v} is null",
                    f"is not a stage (stages: {', '.join(STAGES)})",
                )
            )
        elif f.kind == "content_stage":
            rules.append(
                (
                    f.name,
                    f"{t} is not null and {v} is null",
                    "is not a content stage (top, middle, bottom)",
                )
            )
    if p.spec.name == "targets":
        rules.append(
            (
                "target_customers",
                "v_target_customers is null and v_target_revenue is null",
                "is empty, and so is target_revenue (a target needs one of them)",
            )
        )
    return rules


def _rows_sql(p: Plan, table: str = RAW, row: str = "rowid + 2") -> str:
    """Return SQL of every staged row with its texts and typed values."""
    typed = ", ".join(f"{expr} as v_{name}" for name, expr in p.typed.items())
    return f"select *, {typed} from ({_texts_sql(p, table, row)})"


# ===== the fast path: typed staging =====

TYPED = "import_typed"
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
    placeholders = placeholder_params(mapping.placeholders)["placeholders"]
    digits = any(ch.isdigit() for text in placeholders for ch in text)
    out: dict[str, str] = {}
    for f in p.spec.fields:
        if f.name not in p.columns:
            continue
        raw = f"c{p.columns[f.name]}"
        if f.kind in FAST_FORMATS and f.name not in mapping.formats and not digits:
            value = f"try_strptime({raw}, $fast_{f.kind})"
            out[f.name] = value if f.kind == "timestamp" else f"cast({value} as date)"
        elif f.kind in ("stage", "content_stage"):
            canonical = p.params[f"canonical_{f.name}"]
            if not set(canonical) & set(placeholders):
                member = in_list(f"$canonical_{f.name}", raw)
                out[f.name] = f"case when {member} then {raw} end"
    return out


def _raw_leads(p: Plan, mapping: Mapping) -> bool:
    """Return whether the lead ids of a table that refers to leads are staged as read.

    Every one must then be a stored lead id, and a clean one (no spaces around it, no
    placeholder), or the file takes the full path: so an id found needs no trimming and is no
    placeholder, and the check's probe of the leads settles it (trimming and testing 20M ids
    would cost more). An id that is padded, a placeholder or unknown is sorted out by validate.
    """
    return p.spec.needs_leads and "lead_id" in p.columns and "lead_id" not in mapping.defaults


def _typed_sql(p: Plan, mapping: Mapping, raw: str) -> str:
    """Return SQL of every row's typed fields and whether it breaks any rule (_bad).

    raw selects the file's columns as read (c0, c1, …: text, not yet trimmed). A field's text
    and typed value are the full path's (Plan.text on the raw column, then Plan.typed), except
    where _fast_values settles the value first; the rules are validate's, on those values.
    """
    fast = _fast_values(p, mapping)
    sure = ", ".join(f"{expr} as s_{name}" for name, expr in fast.items())
    texts = []
    values = []
    for name, text in p.text.items():
        if name in fast:
            text = f"case when s_{name} is not null then c{p.columns[name]} else {text} end"
        elif name == "lead_id" and _raw_leads(p, mapping):
            text = f"c{p.columns[name]}"  # as read: _fast_check matches it to clean lead ids
        texts.append(f"{text} as t_{name}")
    for name, typed in p.typed.items():
        if name in fast:
            typed = f"case when s_{name} is not null then s_{name} else {typed} end"
        values.append(f"{typed} as v_{name}")
    bad = " or ".join(f"coalesce({cond}, false)" for _, cond, _ in _row_rules(p)) or "false"
    fields = ", ".join(f"v_{name} as {name}" for name in p.typed)
    sql = f"select *{', ' + sure if sure else ''} from ({raw})"
    sql = f"select *, {', '.join(texts)} from ({sql})"
    sql = f"select *, {', '.join(values)} from ({sql})"
    return f"select {fields}, {bad} as _bad from ({sql})"


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
    table = TYPED

    def statement(self, header: tuple[str, ...], value: Callable[[int], str], source: str) -> str:
        """Return the statement staging the mapped fields typed (value(i): column i of source)."""
        self.plan = p = plan(self.mapping, Source(self.path, "csv", header, 0))
        used = sorted(set(p.columns.values())) or [0]
        raw = f"select {', '.join(f'{value(i)} as c{i}' for i in used)} from {source}"
        return f"create temp table {TYPED} as {_typed_sql(p, self.mapping, raw)}"

    def run(self, cur, sql: str, params: AbcMapping[str, Any], progress: Progress) -> None:
        """Run a staging statement; params: the reader's."""
        assert self.plan is not None  # statement() made it
        bound = {
            **self.plan.params,
            **{f"fast_{kind}": formats for kind, formats in FAST_FORMATS.items()},
            **_limits(self.now),
        }
        with _insertion_order(cur, self.plan.spec.key is not None):
            progress.run(cur, sql, {**params, **_bind(sql, bound)}, "reading")


def _limits(now: dt.datetime | None) -> dict[str, dt.datetime]:
    """Return the bounds a date must fall between: $latest (now and slack) and $oldest."""
    return {
        "latest": (now or _now()) + FUTURE_SLACK,
        "oldest": dt.datetime.combine(OLDEST, dt.time()),
    }


class _insertion_order:
    """Within it, statements keep (True) or need not keep (False) the order of their input."""

    def __init__(self, cur, keep: bool):
        self.cur = cur
        self.keep = keep
        self.previous: bool | None = None

    def __enter__(self) -> None:
        self.previous = bool(
            self.cur.execute("select current_setting('preserve_insertion_order')").fetchall()[0][0]
        )
        self.cur.execute(f"set preserve_insertion_order = {self.keep}")

    def __exit__(self, *exc: object) -> None:
        try:
            self.cur.execute(f"set preserve_insertion_order = {self.previous}")
        except duckdb.TransactionException:
            pass  # the statement failed and aborted the transaction: its error follows


def _fast_check(
    cur, p: Plan, mapping: Mapping, source: Source, progress: Progress, *, fingerprint: bool
) -> tuple[bool, Fingerprint | None]:
    """Check the typed rows in one pass: return whether all is well, and their fingerprint.

    Counts the rows breaking a rule (flagged while staging), the rows whose lead is unknown
    and, for keyed tables, the rows sharing a key. Not all well: the caller reports the
    problems through validate, which reads the file again, in order, to name every row.
    """
    if source.rows == 0:
        return False, None
    counts = ["count(*) filter (where _bad)"]
    if p.spec.needs_leads:
        # a mark join: one probe of the leads' key per row, no payload
        known = "select lead_id from leads"
        if _raw_leads(p, mapping):  # ids as read: only a clean stored id settles one
            known += (
                " where not starts_with(lead_id, ' ') and not ends_with(lead_id, ' ') and "
                f"not {in_list('$placeholders', 'lower(lead_id)')}"
            )
        counts.append(f"count(*) filter (where lead_id is not null and lead_id not in ({known}))")
    if fingerprint:
        counts += ["count(*)", f"coalesce(sum({_row_hash(p)}), 0)"]
    sql = f"select {', '.join(counts)} from {TYPED}"
    found = list(progress.run(cur, sql, _bind(sql, p.params), "checking")[0])
    file_print = Fingerprint(*found[-2:]) if fingerprint else None
    problems = sum(found[: 2 if p.spec.needs_leads else 1])
    if p.spec.key and not problems:
        keys = ", ".join(p.spec.key)
        complete = " and ".join(f"{k} is not null" for k in p.spec.key)
        problems = cur.execute(
            f"select count(*) from (select 1 from {TYPED} where {complete} "
            f"group by {keys} having count(*) > 1)"
        ).fetchall()[0][0]
    return not problems, file_print


# ===== the import =====


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

    def summary(self) -> str:
        """Return one line saying what happened."""
        verb = "would import" if self.dry_run else "imported"
        return (
            f"{verb} {self.file} into {self.table}: {self.rows:,} rows read, "
            f"{self.inserted:,} new, {self.updated:,} updated, "
            f"{self.unchanged:,} already loaded ({self.seconds:.1f} s)"
        )


def _now() -> dt.datetime:
    """Return the wall-clock time in UTC: the limit for 'in the future' (not for ages)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def validate(
    cur,
    p: Plan,
    source: Source,
    progress: Progress,
    *,
    now: dt.datetime | None = None,
    limit: int = MAX_PROBLEMS,
    fingerprint: bool = False,
) -> Fingerprint | None:
    """Check every row; ImportProblems lists what is wrong. Return the rows' fingerprint.

    One pass over the staged rows counts, for every rule at once, the rows that break it
    (FILTER counts), the rows whose lead is unknown and, when asked, the fingerprint of the
    rows as they would be stored. Only when a count is not zero are the rows behind it looked
    up, in file order. A keyed table's typed rows are then materialised in import_typed (its
    duplicate keys are checked there, and the write matches on them).
    """
    file = str(source.path)
    if source.rows == 0:
        raise ImportProblems(file, ["the file has a header but no data rows"])
    params = {**p.params, **_limits(now)}
    rules = _row_rules(p)
    rows_sql = _rows_sql(p)
    counts = [f"count(*) filter (where {cond})" for _, cond, _ in rules]
    scanned = f"({rows_sql}) r"
    if p.spec.needs_leads:
        # a mark join: one probe of the leads' key per row, no payload
        counts.append(
            "count(*) filter (where v_lead_id is not null and "
            "v_lead_id not in (select lead_id from leads))"
        )
    if fingerprint:
        counts += ["count(*)", f"coalesce(sum({_row_hash(p, 'v_')}), 0)"]
    sql = f"select {', '.join(counts)} from {scanned}"
    found_counts = list(progress.run(cur, sql, _bind(sql, params), "checking")[0])
    file_print = Fingerprint(*found_counts[-2:]) if fingerprint else None
    found: list[tuple[int, str]] = []
    total = 0
    for (name, cond, message), count in zip(rules, found_counts):
        if not count:
            continue
        total += count
        text = message.format(latest=params["latest"].date(), oldest=OLDEST)
        sql = f"select _row, t_{name} from ({rows_sql}) where {cond} order by _row limit {limit}"
        for row, value in cur.execute(sql, _bind(sql, params)).fetchall():
            shown = f"{value!r} " if value is not None else ""
            found.append((row, f"row {row}, {p.sources[name]}: {shown}{text}"))
    if p.spec.needs_leads and found_counts[len(rules)]:
        total += found_counts[len(rules)]
        sql = (
            f"select _row, v_lead_id from ({rows_sql}) r where v_lead_id is not null and "
            "not exists (select 1 from leads where leads.lead_id = r.v_lead_id) "
            f"order by _row limit {limit}"
        )
        for row, lead in cur.execute(sql, _bind(sql, params)).fetchall():
            found.append(
                (
                    row,
                    f"row {row}, {p.sources['lead_id']}: no lead {lead!r} in "
                    "the database (import the leads first)",
                )
            )
    if p.spec.key:
        values = ", ".join(f"v_{name} as {name}" for name in p.typed)
        cur.execute("drop table if exists import_typed")
        sql = f"create temp table import_typed as select _row, {values} from ({rows_sql})"
        cur.execute(sql, _bind(sql, params))
        keys = ", ".join(p.spec.key)
        complete = " and ".join(f"{k} is not null" for k in p.spec.key)
        sql = (
            f"select list(_row order by _row) as rows, {keys} from import_typed "
            f"where {complete} group by {keys} having count(*) > 1"
        )
        count = cur.execute(f"select coalesce(sum(len(rows)), 0) from ({sql})").fetchall()[0][0]
        if count:
            total += count
            for rows, *key in cur.execute(f"{sql} order by rows[1] limit {limit}").fetchall():
                shown = ", ".join(f"{k} {v!s}" for k, v in zip(p.spec.key, key))
                label = ", ".join(str(r) for r in rows[:5]) + (" …" if len(rows) > 5 else "")
                found.append((rows[0], f"rows {label}: duplicate key ({shown})"))
    if found:
        found.sort(key=lambda item: item[0])
        raise ImportProblems(file, [text for _, text in found[:limit]], total)
    return file_print


@dataclass(frozen=True)
class Fingerprint:
    """A multiset of rows in brief: how many, and the sum of their row hashes.

    Sums add up, so the fingerprint of a table after an insert is the table's before plus the
    inserted rows'. Two different multisets share one only by a 64-bit hash collision.
    """

    rows: int
    hash_sum: int

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(self.rows + other.rows, self.hash_sum + other.hash_sum)


# meta key: the events fingerprint of the last file that added events, and of the events
# table right after it did
EVENTS_FINGERPRINT = "import_fingerprint_events"


def _row_hash(p: Plan, prefix: str = "") -> str:
    """Return SQL hashing one row's canonical fields, typed as the table stores them."""
    return f"hash({', '.join(prefix + name for name in p.typed)})"


def _table_fingerprint(cur, p: Plan) -> Fingerprint:
    """Return the fingerprint of the rows the table holds now."""
    rows, total = cur.execute(
        f"select count(*), coalesce(sum({_row_hash(p)}), 0) from {p.spec.name}"
    ).fetchall()[0]
    return Fingerprint(rows, total)


def _recorded_fingerprints(cur) -> tuple[Fingerprint, Fingerprint] | None:
    """Return the (file, table) fingerprints recorded by the last import that added events."""
    text = db.get_meta(cur, EVENTS_FINGERPRINT)
    try:
        data = json.loads(text) if text else None
        if data is None:
            return None
        return Fingerprint(*data["file"]), Fingerprint(*data["table"])
    except (ValueError, TypeError, KeyError):
        return None


def _write_events(
    cur, p: Plan, progress: Progress, file_print: Fingerprint | None, *, dry_run: bool
) -> tuple[int, int, int]:
    """Insert the file's events not already stored; return the three counts.

    Into a table without events every row goes, straight from the staged text (the same
    expressions validate checked), in one INSERT … SELECT; file_print is None then (not
    needed: nothing can match). Otherwise the file's rows are all stored already, and nothing
    is matched row by row, when their fingerprint is the table's (the table is this file), or
    when the table still has the fingerprint recorded right after an import of rows with this
    very fingerprint. In every other case each row is matched against the stored events on all
    its fields, and an import that adds rows records the two fingerprints for next time.
    """
    fields = list(p.typed)
    columns = ", ".join(fields)
    rows = cur.execute(f"select count(*) from {TYPED}").fetchall()[0][0]
    if file_print is None:
        before = new_print = None
        inserted = rows
        source_sql = f"select {columns} from {TYPED}"
    else:
        progress.stage("checking", None)
        before = _table_fingerprint(cur, p)
        if file_print == before or _recorded_fingerprints(cur) == (file_print, before):
            return 0, 0, rows
        same = " and ".join(f"e.{c} is not distinct from t.{c}" for c in fields)
        sql = (
            f"create or replace temp table import_new as select {columns} "
            f"from {TYPED} t where not exists (select 1 from events e where {same})"
        )
        progress.run(cur, sql, {}, "checking")
        new_print = Fingerprint(
            *cur.execute(
                f"select count(*), coalesce(sum({_row_hash(p)}), 0) from import_new"
            ).fetchall()[0]
        )
        inserted = new_print.rows
        source_sql = "select * from import_new"
    if not dry_run and inserted:
        sql = f"insert into events ({columns}) {source_sql}"
        # Events carry no order a query relies on: letting DuckDB's threads append them as
        # they finish, rather than in file order, halves a large insert.
        with _insertion_order(cur, False):
            progress.run(cur, sql, {}, "writing")
        if before is None:  # a first load: the table is this file, which settles a re-import
            cur.execute("delete from meta where key = $k", {"k": EVENTS_FINGERPRINT})
        else:
            # both counted whenever there was a table to compare with
            assert new_print is not None and file_print is not None
            after = before + new_print
            db.set_meta(
                cur,
                EVENTS_FINGERPRINT,
                json.dumps(
                    {
                        "file": [file_print.rows, file_print.hash_sum],
                        "table": [after.rows, after.hash_sum],
                    }
                ),
            )
    return inserted, 0, rows - inserted


def _write(
    cur, p: Plan, mapping: Mapping, progress: Progress, *, dry_run: bool
) -> tuple[int, int, int]:
    """Insert new rows and update changed ones from import_typed; return the three counts."""
    spec = p.spec
    table = spec.name
    fields = list(p.typed)
    # Fields a file does not map are left as they are on existing rows (never set to null).
    given = [
        f
        for f in fields
        if f in p.columns
        or f in mapping.constants
        or f in mapping.defaults
        or (table == "spend" and f == "campaign")
    ]
    assert spec.key is not None  # keyed tables only: events go through their own path
    key = list(spec.key)
    match = " and ".join(f"e.{k} = t.{k}" for k in key)
    changed = " or ".join(f"e.{c} is distinct from t.{c}" for c in given if c not in key) or "false"
    counts = cur.execute(
        f"select count(*) filter (where not e_hit), count(*) filter (where e_hit and is_changed) "
        f"from (select e.{key[0]} is not null as e_hit, "
        f"coalesce(e.{key[0]} is not null and ({changed}), false) as is_changed "
        f"from import_typed t left join {table} e on {match})"
    ).fetchall()[0]
    inserted, updated = counts
    total = cur.execute("select count(*) from import_typed").fetchall()[0][0]
    if not dry_run:
        columns = ", ".join(fields)
        order = " order by lead_id" if spec.needs_leads else ""
        if inserted:
            progress.run(
                cur,
                f"insert into {table} ({columns}) select {columns} from import_typed t "
                f"where not exists (select 1 from {table} e where {match}){order}",
                {},
                "writing",
            )
        if updated:
            sets = ", ".join(f"{c} = t.{c}" for c in given if c not in key)
            where = " and ".join(f"{table}.{k} = t.{k}" for k in key)
            distinct = " or ".join(
                f"{table}.{c} is distinct from t.{c}" for c in given if c not in key
            )
            progress.run(
                cur,
                f"update {table} set {sets} from import_typed t where {where} and ({distinct})",
                {},
                "writing",
            )
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
) -> tuple[int, int, int] | None:
    """Check the staged rows and write them, in one transaction; return the three counts.

    fast: the rows are staged typed (TypedStaging); None when the fast check finds anything,
    after rolling back: the caller then stages the file again as text, in order, and calls
    this again (fast=False), where validate names every problem with its row and column.
    """
    if not dry_run:
        cur.execute("begin transaction")
    try:
        # events already stored: the file's fingerprint may spare matching them row by row
        stored = (
            p.spec.key is None
            and cur.execute("select exists (select 1 from events)").fetchall()[0][0]
        )
        if fast:
            fine, file_print = _fast_check(cur, p, mapping, source, progress, fingerprint=stored)
            if not fine:
                if not dry_run:
                    cur.execute("rollback")
                return None
        else:
            file_print = validate(cur, p, source, progress, now=now, fingerprint=stored)
            # validate found nothing the fast check did: write from its own typed rows
            values = ", ".join(f"v_{name} as {name}" for name in p.typed)
            sql = f"create or replace temp table {TYPED} as select {values} from ({_rows_sql(p)})"
            cur.execute(sql, _bind(sql, p.params))
        if p.spec.key is None:
            counts = _write_events(cur, p, progress, file_print, dry_run=dry_run)
        else:
            counts = _write(cur, p, mapping, progress, dry_run=dry_run)
        progress.stage("committing", None)
        if not dry_run:
            cur.execute("commit")
        return counts
    except BaseException:
        if not dry_run:
            cur.execute("rollback")
        raise


def import_file(
    cur: duckdb.DuckDBPyConnection,
    path: str | Path,
    mapping: Mapping,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    sheet: str | None = None,
) -> ImportResult:
    """Validate a whole file, then load it into its table in one transaction (or report).

    ImportProblems when anything is wrong; then, as after any error, nothing was written.
    The file is read once, typed, and checked in one pass; only when that check finds a
    problem is it read again as text, in order, to report every problem by row and column.
    """
    progress = progress or Progress()
    started = time.perf_counter()
    previous_zone = cur.execute("select current_setting('TimeZone')").fetchall()[0][0]
    cur.execute("set TimeZone = 'UTC'")
    try:
        staging = TypedStaging(mapping, Path(path), now)
        source = read_source(cur, Path(path), progress, sheet=sheet, staging=staging)
        assert staging.plan is not None  # staging made it from the header
        counts = _load(
            cur, staging.plan, source, mapping, progress, now=now, dry_run=dry_run, fast=True
        )
        if counts is None:
            drop_staging(cur)
            source = read_source(cur, Path(path), progress, sheet=sheet, mapping=mapping)
            p = plan(mapping, source)
            counts = _load(cur, p, source, mapping, progress, now=now, dry_run=dry_run, fast=False)
            assert counts is not None  # the full path never defers
        inserted, updated, unchanged = counts
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
        )
    except duckdb.Error as exc:
        raise db.FunnelcastError(
            f"{path}: import failed, nothing was written: {_first_line(exc)}"
        ) from None
    finally:
        try:
            drop_staging(cur)
        finally:
            cur.execute("set TimeZone = $zone", {"zone": previous_zone})


def preview(
    cur, path: str | Path, mapping: Mapping, rows: int = 20, sheet: str | None = None
) -> pl.DataFrame:
    """Return the first rows of a file as the table would receive them (unparseable: null)."""
    previous_zone = cur.execute("select current_setting('TimeZone')").fetchall()[0][0]
    cur.execute("set TimeZone = 'UTC'")
    try:
        source = read_source(cur, Path(path), sheet=sheet, mapping=mapping)
        p = plan(mapping, source)
        values = ", ".join(f"v_{name} as {name}" for name in p.typed)
        sql = f"select _row as row, {values} from ({_rows_sql(p)}) order by _row limit {int(rows)}"
        return cur.sql(sql, params=_bind(sql, p.params)).pl()
    finally:
        drop_staging(cur)
        cur.execute("set TimeZone = $zone", {"zone": previous_zone})


# ===== a fingerprint of what is stored =====


def content_checksum(cur: duckdb.DuckDBPyConnection) -> str:
    """Return a hash of every canonical table's rows (order-free): equal when content is equal."""
    digest = hashlib.sha256()
    for table in db.CANONICAL_TABLES:
        rows = cur.execute(
            f"select count(*), coalesce(sum(hash(*columns(*))), 0) from {table}"
        ).fetchall()
        digest.update(f"{table}:{rows[0][0]}:{rows[0][1]};".encode())
    return digest.hexdigest()
