"""Versioned MQL definitions: load, list, compare, validate and save them; TOML files to edit.

The package's public face; callers write `from funnelcast import definitions` and
`definitions.load(...)`. Inside:
- limits: the fit attributes, size bands and ranges a definition may use;
- operators: field types, the operators each allows, rule values read and matched;
- fields: the built-in lead fields and a database's custom attributes, with their types;
- model: Definition, FitRule, BehaviourRule and their errors (no database);
- quarters: the database's fiscal calendar and the data's today, quarter labels;
- store: versions in the database (load, in force, history, save, save_warnings());
- validation: validate(), every problem named;
- changes: diff(), what changed between two versions in words;
- files: the commented TOML file a person edits, and JSON-ready dicts;
- scoring: MQL moments in linear time (imported on its own: `from funnelcast.definitions
  import scoring`).

Every version is kept: a save always adds a new one, in force from a quarter's start.
"""

from funnelcast.definitions import operators
from funnelcast.definitions.changes import diff
from funnelcast.definitions.fields import BUILTIN_FIELDS, field_key, lead_fields
from funnelcast.definitions.files import from_toml, to_dict, to_toml
from funnelcast.definitions.limits import (
    COMPANY_SIZE_BANDS,
    FIT_ATTRIBUTES,
    MAX_HALF_LIFE_DAYS,
    MAX_POINTS,
    MAX_THRESHOLD,
    MIN_POINTS,
    MIN_THRESHOLD,
)
from funnelcast.definitions.model import (
    BehaviourRule,
    Definition,
    DefinitionError,
    FitRule,
    QuarterTakenError,
    new_version_from,
)
from funnelcast.definitions.quarters import fiscal_start_month, next_quarter, parse_quarter, today
from funnelcast.definitions.store import (
    VERSION_SCHEMA,
    current,
    fit_rule_lists,
    fit_rule_rows,
    in_force_for_quarter,
    list_versions,
    load,
    save,
    save_warnings,
    version_taking_effect,
)
from funnelcast.definitions.validation import (
    LISTED_VALUES,
    normalised,
    validate,
)

__all__ = [
    "BUILTIN_FIELDS",
    "COMPANY_SIZE_BANDS",
    "FIT_ATTRIBUTES",
    "LISTED_VALUES",
    "MAX_HALF_LIFE_DAYS",
    "MAX_POINTS",
    "MAX_THRESHOLD",
    "MIN_POINTS",
    "MIN_THRESHOLD",
    "VERSION_SCHEMA",
    "BehaviourRule",
    "Definition",
    "DefinitionError",
    "FitRule",
    "QuarterTakenError",
    "current",
    "diff",
    "field_key",
    "fit_rule_lists",
    "fit_rule_rows",
    "lead_fields",
    "normalised",
    "operators",
    "fiscal_start_month",
    "from_toml",
    "in_force_for_quarter",
    "list_versions",
    "load",
    "new_version_from",
    "next_quarter",
    "parse_quarter",
    "save",
    "save_warnings",
    "to_dict",
    "to_toml",
    "today",
    "validate",
    "version_taking_effect",
]
