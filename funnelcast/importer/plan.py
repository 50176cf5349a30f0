"""The parse plan: how a staged file's text becomes a table's typed fields.

plan() checks a mapping against a file's header (mapping.resolve) and returns, for every
field of the table, where its text comes from (a column, a --set value, a --default, or
nothing), the SQL expressions of its cleaned text and typed value (built by sql), where
messages say its text came from, and the parameters those expressions bind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import funnelcast.importer.sql as sql
from funnelcast.importer.mapping import Mapping, resolve
from funnelcast.importer.sources import Source
from funnelcast.importer.tables import (
    CONTENT_STAGE_ALIASES,
    CONTENT_STAGES,
    STAGE_ALIASES,
    STAGES,
    ImportProblems,
    TableSpec,
)


@dataclass
class Plan:
    """The SQL that turns staged text into a table's typed fields, and its parameters."""

    spec: TableSpec
    # field -> where its text comes from, as messages name it: ("set", "") for one value for
    # every row, ("", column) for the file column feeding it, ("", "") for neither
    sources: dict[str, tuple[str, str]]
    columns: dict[str, int]  # field -> staged column index
    text: dict[str, str]  # field -> SQL expression of its cleaned text
    typed: dict[str, str]  # field -> SQL expression of its typed value
    params: dict[str, Any]

    def rows_sql(self) -> str:
        """Return SQL of every staged row with its line, texts and typed values."""
        return sql.rows_select(self.text, self.typed)


def plan(mapping: Mapping, source: Source) -> Plan:
    """Return the parse plan of a file under a mapping; ImportProblems when the mapping is wrong."""
    problems, columns = resolve(mapping, source.columns)
    if problems:
        raise ImportProblems(str(source.path), problems)
    spec = mapping.spec
    params: dict[str, Any] = sql.placeholder_params(mapping.placeholders)
    text: dict[str, str] = {}
    typed: dict[str, str] = {}
    sources: dict[str, tuple[str, str]] = {}
    for f in spec.fields:
        if f.name in mapping.constants:
            params[f"set_{f.name}"] = mapping.constants[f.name].strip()
            expr = sql.constant_text(f.name)
            sources[f.name] = ("set", "")
        elif f.name in columns:
            column = sql.staged(columns[f.name])
            expr = column if source.cleaned else sql.clean(column)
            sources[f.name] = ("", str(source.columns[columns[f.name]]))
        else:
            expr = sql.NULL_TEXT
            sources[f.name] = ("", "")
        if f.name in mapping.defaults:
            params[f"default_{f.name}"] = mapping.defaults[f.name]
            expr = sql.with_default(expr, f.name)
        fmt = mapping.formats.get(f.name)
        if fmt:
            params[f"format_{f.name}"] = fmt
        text[f.name] = expr
        typed[f.name] = sql.typed_value(f, fmt, mapping.decimal_comma)
        if f.kind in ("stage", "content_stage"):
            aliases = STAGE_ALIASES if f.kind == "stage" else CONTENT_STAGE_ALIASES
            params[f"aliases_{f.name}"] = list(aliases)
            params[f"values_{f.name}"] = list(aliases.values())
            params[f"canonical_{f.name}"] = list(STAGES if f.kind == "stage" else CONTENT_STAGES)
    if spec.name == "spend":  # campaign '' is spend on the channel as a whole
        typed["campaign"] = sql.blank_when_null("campaign")
    return Plan(spec, sources, columns, text, typed, params)
