"""The fields a fit rule may name and their types: the built-in lead columns, and the custom
attributes a database holds (lead_attribute_types, filled by the importer).

Field names are exact (a custom attribute keeps its export's header); `field_key` is how two
names are compared for a collision: case, spaces and underscores aside.
"""

from __future__ import annotations

import duckdb

from funnelcast.definitions.operators import DATE, NUMBER, TEXT

# The leads columns rules can test (queries/shared.sql's lead_field_values), with their types.
BUILTIN_FIELDS: dict[str, str] = {
    "channel": TEXT,
    "campaign": TEXT,
    "company": TEXT,
    "industry": TEXT,
    "company_size": NUMBER,
    "company_size_band": TEXT,
    "country": TEXT,
    "region": TEXT,
    "job_title": TEXT,
    "seniority": TEXT,
    "created_at": DATE,
}


def field_key(name: str) -> str:
    """Return the form two field names are compared in: lowercased, spaces and _ removed."""
    return "".join(ch for ch in name.casefold() if not ch.isspace() and ch not in "_-")


def custom_fields(cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Return the database's custom attributes and their types, by name."""
    rows = cur.execute(
        "select attribute, value_type from lead_attribute_types order by attribute"
    ).fetchall()
    return dict(rows)


def lead_fields(cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, str]:
    """Return every field a rule may name, built-in ones first, with its type."""
    return {**BUILTIN_FIELDS, **(custom_fields(cur) if cur is not None else {})}
