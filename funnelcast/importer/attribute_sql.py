"""The SQL that keeps a leads file's other columns as custom attributes (importer.attributes):
staging them, typing their values once, counting what did not read, replacing and inserting
the values and their types. Like importer.sql (whose ident() and clean() it uses), the only
other module of the importer with SQL in its strings; names travel as bound parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import funnelcast.importer.sql as sql
from funnelcast.data import db


def attribute_staging(
    lead_column: int, columns: Iterable[int], value: Callable[[int], str], source: str
) -> str:
    """Return the statement staging a leads file's lead id (cleaned, as lead_id) and the
    columns kept as custom attributes (cleaned, c0, c1, …) into import_attributes; the
    queries import_attribute_profile and import_attribute_rows read it."""
    picked = ", ".join(
        [f"{sql.clean(value(lead_column))} as {sql.ident('lead_id')}"]
        + [f"{sql.clean(value(i))} as {sql.staged(i)}" for i in columns]
    )
    return sql.create_temp(sql.ATTRIBUTES, f"select {picked} from {source}")


# a leads file's custom attribute values read as their types, once (queries/
# import_attribute_rows.sql): the values that did not read are counted from it, the rest written
STAGE_ATTRIBUTE_VALUES = f"create or replace temp table {sql.ATTRIBUTE_VALUES} as {db.query_text('import_attribute_rows')}"
ATTRIBUTES_UNREAD = (
    f"select attribute, count(*), min(written) from {sql.ATTRIBUTE_VALUES} "
    "where text_value is null and number_value is null group by attribute"
)
# a re-import replaces the file's leads' values of the attributes the file carries
DELETE_ATTRIBUTE_ROWS = (
    "delete from lead_attributes where list_contains($attributes, attribute) "
    f"and lead_id in (select lead_id from {sql.ident(sql.ATTRIBUTES)})"
)
INSERT_ATTRIBUTE_ROWS = (
    "insert into lead_attributes "
    "select lead_id, attribute, text_value, number_value "
    f"from {sql.ATTRIBUTE_VALUES} "
    "where text_value is not null or number_value is not null"
)
# the same straight from the file's staged text, when every type was inferred from the values
# (each then reads as its type by construction: nothing to count, no typed copy to stage)
INSERT_INFERRED_ATTRIBUTE_ROWS = (
    "insert into lead_attributes "
    "select lead_id, attribute, text_value, number_value "
    f"from ({db.query_text('import_attribute_rows')}) "
    "where text_value is not null or number_value is not null"
)
# an attribute's row says which file first gave it its type (a re-import leaves it as it is)
UPSERT_ATTRIBUTE_TYPES = (
    "insert or replace into lead_attribute_types "
    "select attribute, value_type, $file, current_localtimestamp() from ("
    "select unnest($attributes) as attribute, unnest($value_types) as value_type) as typed "
    "where not exists (select 1 from lead_attribute_types as t "
    "where t.attribute = typed.attribute and t.value_type = typed.value_type)"
)
