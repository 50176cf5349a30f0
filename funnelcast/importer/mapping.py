"""The mapping: how a file's columns become a table's fields, and how it is written down.

A Mapping names, for one canonical table, which source column feeds which field and what the
--set, --default and --date-format options add; it is read from and written to TOML (the
`funnelcast import --mapping` file, the Data page's saved mappings). Header recognition lives
here too: suggest_mapping guesses a mapping from a header (the export headers of HubSpot,
Salesforce and ad platforms), and resolve checks a mapping against a header, returning what
is wrong with it and which column feeds each field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from funnelcast.data import db
from funnelcast.importer.messages import Problem
from funnelcast.importer.tables import PLACEHOLDERS, TABLES, TableSpec


def normalise_name(text: str) -> str:
    """Return a header as a comparable name: lower case, runs of non-alphanumerics as '_'."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().lower()).strip("_")


@dataclass(frozen=True)
class Mapping:
    """How a file's columns become a table's fields.

    columns: source column -> field; constants: field -> one value for every row (--set);
    defaults: field -> value where the row has none (missing or a placeholder);
    formats: field -> strptime format for dates that are not ISO; decimal_comma: numbers
    written 1.234,56. Fields a file names exactly (lead_id, created_at…) map themselves.
    A leads file's other columns are kept as custom attributes (importer.attributes): types
    pins a column's type (column -> number, date, yes/no or text; else inferred), drop leaves
    columns out.
    """

    table: str
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    placeholders: tuple[str, ...] = PLACEHOLDERS
    decimal_comma: bool = False
    types: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

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


MAPPING_KEYS = {
    "table",
    "map",
    "set",
    "defaults",
    "formats",
    "types",
    "drop",
    "placeholders",
    "decimal_comma",
}


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
    for key in ("map", "set", "defaults", "formats", "types"):
        value = data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise db.FunnelcastError(f'{source}: [{key}] must hold NAME = "text" pairs')
        tables[key] = {str(k): v for k, v in value.items()}
    placeholders = data.get("placeholders", list(PLACEHOLDERS))
    if not isinstance(placeholders, list) or not all(isinstance(v, str) for v in placeholders):
        raise db.FunnelcastError(f"{source}: placeholders must be a list of texts")
    drop = data.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(v, str) for v in drop):
        raise db.FunnelcastError(f"{source}: drop must be a list of column names")
    return Mapping(
        table=str(data["table"]),
        columns=tables["map"],
        constants=tables["set"],
        defaults=tables["defaults"],
        formats=tables["formats"],
        placeholders=tuple(placeholders),
        decimal_comma=bool(data.get("decimal_comma", False)),
        types=tables["types"],
        drop=tuple(drop),
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
    if mapping.drop:
        lines.append("drop = [" + ", ".join(_toml_string(c) for c in mapping.drop) + "]")
    for key, pairs in (
        ("map", mapping.columns),
        ("set", mapping.constants),
        ("defaults", mapping.defaults),
        ("formats", mapping.formats),
        ("types", mapping.types),
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


# ===== header recognition: which source column feeds which field =====

# The id headers of common exports (HubSpot's Record ID, Salesforce's Lead ID and Contact ID,
# Pardot's and X Education's Prospect ID, a bare Id), strongest first; an email address is an
# id only when the file has none of them.
LEAD_ID_HEADERS = (
    "record_id",
    "prospect_id",
    "lead_id",
    "contact_id",
    "recordid",
    "prospectid",
    "leadid",
    "contactid",
    "hs_object_id",
    "vid",
    "lead_id_18",
    "contact_id_18",
    "mql_id",
    "person_id",
    "id",
    "email",
    "email_address",
    "e_mail",
    "work_email",
    "business_email",
)

# Header names (normalised) of common exports: HubSpot contact exports, Salesforce lead and
# contact reports and Data Loader extracts, ad platforms' campaign reports.
KNOWN_HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "leads": {
        "lead_id": LEAD_ID_HEADERS,
        "created_at": (
            "create_date",
            "created_on",
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
        "lead_id": LEAD_ID_HEADERS,
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
        "lead_id": LEAD_ID_HEADERS,
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


def column_index(header: Sequence[str], name: str) -> int | None:
    """Return the position of a header name (exact first, then normalised), or None."""
    if name in header:
        return list(header).index(name)
    wanted = normalise_name(name)
    found = [i for i, c in enumerate(header) if normalise_name(c) == wanted]
    return found[0] if len(found) == 1 else None


def resolve(mapping: Mapping, header: Sequence[str]) -> tuple[list[Problem], dict[str, int]]:
    """Return what is wrong with the mapping itself, and field -> column position in header."""
    spec = mapping.spec
    problems: list[Problem] = []
    columns: dict[str, int] = {}
    file_columns = tuple(str(c) for c in header)
    for src, dst in mapping.columns.items():
        if spec.field(dst) is None:
            problems.append(
                Problem("no_such_field", dst, src, option="map", table=spec.name, fields=spec.names)
            )
            continue
        index = column_index(header, src)
        if index is None:
            problems.append(Problem("no_such_column", dst, src, columns=file_columns))
            continue
        if dst in columns:
            problems.append(Problem("mapped_twice", dst, src, other=header[columns[dst]]))
            continue
        columns[dst] = index
    for option, pairs in (
        ("set", mapping.constants),
        ("default", mapping.defaults),
        ("format", mapping.formats),
    ):
        for dst in pairs:
            if spec.field(dst) is None:
                problems.append(
                    Problem("no_such_field", dst, option=option, table=spec.name, fields=spec.names)
                )
    for dst in mapping.constants:
        if dst in columns:
            problems.append(Problem("set_and_mapped", dst, header[columns[dst]]))
    for dst, fmt in mapping.formats.items():
        f = spec.field(dst)
        if f is not None and f.kind not in ("timestamp", "date"):
            problems.append(Problem("format_not_date", dst, value=fmt))
    # a file header that names a field maps it, unless that column is mapped elsewhere
    mapped_sources = {column_index(header, src) for src in mapping.columns}
    for f in spec.fields:
        if f.name in columns or f.name in mapping.constants:
            continue
        index = column_index(header, f.name)
        if index is not None and index not in mapped_sources:
            columns[f.name] = index
    # a required field no column names takes a common export header for it (Prospect ID,
    # Record ID, Create Date…): without one the file could not be imported at all
    used = set(columns.values()) | mapped_sources
    by_name = {normalise_name(c): i for i, c in reversed(list(enumerate(header)))}
    for f in spec.fields:
        if not f.required or f.name in columns or f.name in mapping.constants:
            continue
        if f.name in mapping.columns.values():  # mapped by hand, to a column it lacks
            continue
        for known in KNOWN_HEADERS.get(spec.name, {}).get(f.name, ()):
            index = by_name.get(known)
            if index is not None and index not in used:
                columns[f.name] = index
                used.add(index)
                break
    for f in spec.fields:
        if (
            f.required
            and f.name not in columns
            and f.name not in mapping.constants
            and f.name not in mapping.defaults
        ):
            problems.append(
                Problem(
                    "required_missing",
                    f.name,
                    value=f.kind,
                    other=f.about or f.kind,
                    table=spec.name,
                    columns=file_columns,
                )
            )
    if spec.name == "targets" and not any(
        n in columns or n in mapping.constants for n in ("target_customers", "target_revenue")
    ):
        problems.append(Problem("targets_need_one", table=spec.name))
    return problems, columns
