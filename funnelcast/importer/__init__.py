"""Import an export (CRM, marketing automation, ad platform) into one canonical table.

A file (CSV through DuckDB's own reader with explicit options, Parquet, Excel .xlsx) is read
once into a temporary staging table, typed and checked in one pass; only when all is well is
the whole file written, in one transaction. When anything is wrong, the file is read again as
text in file order and every problem reported with file, row and column; a failed check, a
database error or the process dying mid-load leaves the database exactly as it was.
Re-importing is idempotent.

This is the package's public face; each job has its module:

- tables: the canonical tables the importer loads, their fields and stage vocabularies
- mapping: the Mapping (source columns -> fields), its TOML file, header recognition
- sources: file types, CSV dialect and encoding, staging a file in DuckDB
- plan: the parse plan, each field's text and typed value as SQL
- validate: the row rules, finding each problem with its row and column
- messages: a problem as data (Problem), worded for the command line and for the Data page
- fast: the fast path, a file staged typed and checked in one pass
- fingerprints: telling a re-import from new events; the content checksum
- attributes: a leads file's other columns kept as typed custom attributes
- write: the all-or-nothing import (import_file) and the previews
- progress: progress reports, and the session settings an import holds
- sql: every piece of SQL the importer generates; identifiers are quoted by sql.ident and come
  only from the fixed TABLES or staging names, values travel as bound parameters

Events carry no foreign key to leads (schema 2): DuckDB checked it row by row and kept an
index over every event, most of a large import's time. The check here keeps events of unknown
leads out instead, as the demo builder does by making events only for its own leads.
"""

from funnelcast.importer.attributes import Attribute
from funnelcast.importer.fingerprints import content_checksum
from funnelcast.importer.mapping import (
    Mapping,
    mapping_from_toml,
    mapping_to_toml,
    parse_pairs,
    read_mapping_file,
    suggest_mapping,
)
from funnelcast.importer.messages import Problem, cli_text, field_words, page_text
from funnelcast.importer.progress import Progress
from funnelcast.importer.sources import Source, read_source
from funnelcast.importer.tables import MAX_PROBLEMS, PLACEHOLDERS, TABLES, Field, ImportProblems
from funnelcast.importer.write import (
    ImportResult,
    check_mapping,
    import_file,
    preview,
    preview_attributes,
)

__all__ = [
    "Attribute",
    "Field",
    "MAX_PROBLEMS",
    "PLACEHOLDERS",
    "TABLES",
    "ImportProblems",
    "ImportResult",
    "Mapping",
    "Problem",
    "Progress",
    "Source",
    "check_mapping",
    "cli_text",
    "content_checksum",
    "field_words",
    "import_file",
    "mapping_from_toml",
    "mapping_to_toml",
    "page_text",
    "parse_pairs",
    "preview",
    "preview_attributes",
    "read_mapping_file",
    "read_source",
    "suggest_mapping",
]
