"""Every piece of SQL the importer generates, and the one door identifiers go through.

The other importer modules decide what to read, check and write; the statements and
expressions that do it are built here, by named functions, and nowhere else (a test scans the
other modules for SQL in their strings). Identifiers reach a statement only through ident(),
which quotes them and refuses any name not on a fixed list: the canonical tables and their
fields (tables.TABLES, db.CANONICAL_TABLES), the importer's own temporary tables, staged
columns by position (c0, c1, …) and the working names built from a field (t_X its cleaned
text, v_X its typed value, s_X a value the raw text settles early). A file's header names never
reach SQL (columns are read by position); file names, header names and every value a user
gives (placeholders, --set and --default values, date formats, limits) travel as bound
parameters ($name), which bind() picks for each statement.

Expressions are SQL text: a field's cleaned text and typed value are built once (clean,
constant_text, with_default, typed_value) and then composed into the statements that stage,
check and write the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from typing import Any

from funnelcast.data import db
from funnelcast.importer.tables import TABLES, Field

RAW = "import_raw"  # a file's columns as text, c0, c1, …
TYPED = "import_typed"  # the mapped fields typed, ready to be written
# staged events' row hash over the typed fields, made once: fingerprints and repeats read it
ROW_HASH = "_h"
NEW = "import_new"  # events of a file that are not stored yet
FRAME = "import_frame"  # an Excel sheet registered as a view while it is staged
ATTRIBUTES = "import_attributes"  # a leads file's lead ids and other columns, cleaned text
ATTRIBUTE_VALUES = "import_attribute_values"  # their values typed (attribute_sql)
FILE_ROW = "rowid + 2"  # a staged row's line in the file (the header is line 1)

_FIELDS = {f.name for spec in TABLES.values() for f in spec.fields}
_NAMES = frozenset(
    {
        *TABLES,
        *db.CANONICAL_TABLES,
        RAW,
        TYPED,
        NEW,
        FRAME,
        ATTRIBUTES,
        ATTRIBUTE_VALUES,
        "_row",
        "_bad",
        "_copy",
        ROW_HASH,
        *_FIELDS,
        *(f"{prefix}_{name}" for prefix in "tvs" for name in _FIELDS),
    }
)
_STAGED = re.compile(r"c[0-9]+")


def ident(name: str) -> str:
    """Return a table or column name quoted for SQL; a name not on the fixed list is refused."""
    if name not in _NAMES and not _STAGED.fullmatch(name):
        raise ValueError(f"not a name the importer's SQL may use: {name!r}")
    return f'"{name}"'


_ROW = ident("_row")  # a staged row's line in the file


def idents(names: Iterable[str], prefix: str = "") -> str:
    """Return names, each with prefix (an alias such as 'e.'), quoted and comma-separated."""
    return ", ".join(prefix + ident(name) for name in names)


def staged(index: int) -> str:
    """Return the staged column at a position of the file."""
    return ident(f"c{index}")


def text_of(name: str) -> str:
    """Return the column holding a field's cleaned text."""
    return ident(f"t_{name}")


def value_of(name: str) -> str:
    """Return the column holding a field's typed value."""
    return ident(f"v_{name}")


def value_names(names: Iterable[str]) -> list[str]:
    """Return the names of fields' typed-value columns (v_NAME), to hash rows as stored."""
    return [f"v_{name}" for name in names]


def _settled(name: str) -> str:
    """Return the column holding a field's value when its raw text settles it early."""
    return ident(f"s_{name}")


def bind(sql: str, params: AbcMapping[str, Any]) -> dict[str, Any]:
    """Return the parameters a statement uses (DuckDB refuses unused named parameters)."""
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in used}


# ===== session settings and transactions =====

BEGIN = "begin transaction"
COMMIT = "commit"
ROLLBACK = "rollback"
TIME_ZONE = "select current_setting('TimeZone')"
UTC = "set TimeZone = 'UTC'"
SET_TIME_ZONE = "set TimeZone = $zone"
INSERTION_ORDER = "select current_setting('preserve_insertion_order')"
SET_INSERTION_ORDER = "set preserve_insertion_order = $keep"
PROGRESS_ON = (
    "set enable_progress_bar = true",
    "set enable_progress_bar_print = false",
    "set progress_bar_time = 0",
)
PROGRESS_OFF = "set enable_progress_bar = false"
DELETE_META = "delete from meta where key = $k"


# ===== reading a file into staging =====

SNIFF_CSV = (
    "select Delimiter, Quote, Escape, Columns from sniff_csv($path, encoding = $encoding, "
    "header = true, all_varchar = true, max_line_size = $max_line_size)"
)
CSV_READER = (
    "read_csv($path, header = true, auto_detect = false, columns = $columns, "
    "delim = $delim, quote = $quote, escape = $escape, encoding = $encoding, "
    "null_padding = false, max_line_size = $max_line_size)"
)
PARQUET_READER = "read_parquet($path)"
PARQUET_COLUMNS = f"describe select * from {PARQUET_READER}"
FRAME_READER = ident(FRAME)


def by_position(index: int) -> str:
    """Return a reader's column at a position (a CSV's, read as text)."""
    return f"#{index + 1}"


def by_position_as_text(index: int) -> str:
    """Return a reader's column at a position, cast to text (a Parquet file's)."""
    return f"cast(#{index + 1} as varchar)"


def drop_table(table: str) -> str:
    """Return the statement dropping a table if it exists."""
    return f"drop table if exists {ident(table)}"


def count_rows(table: str) -> str:
    """Return the query counting a table's rows."""
    return f"select count(*) from {ident(table)}"


def has_rows(table: str) -> str:
    """Return the query saying whether a table holds any row."""
    return f"select exists (select 1 from {ident(table)})"


def create_temp(table: str, query: str) -> str:
    """Return the statement making (or remaking) a temporary table from a query."""
    return f"create or replace temp table {ident(table)} as {query}"


def staging_select(
    columns: Iterable[int], value: Callable[[int], str], source: str, *, cleaned: bool
) -> str:
    """Return the query reading chosen columns of a source as c0, c1, … (value(i): column i).

    cleaned: each value trimmed, placeholders as null, as it is read (clean).
    """
    picked = ", ".join(
        f"{clean(value(i)) if cleaned else value(i)} as {staged(i)}" for i in columns
    )
    return f"select {picked} from {source}"


# ===== parsing: text -> typed values =====

NULL_TEXT = "cast(null as varchar)"


def in_list(values: str, value: str) -> str:
    """Return SQL: is value one of the (null-free) list values?

    Not list_contains: DuckDB 2.0 turns list_contains of a constant list into a join, which
    computes its operand for every row, even where a CASE around it needed it for none.
    """
    return f"list_position({values}, {value}) is not null"


def clean(value: str) -> str:
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
    """Return the bound parameters clean uses for a list of placeholders."""
    listed = sorted({p.strip().lower() for p in placeholders})
    longest = max((len(p) for p in listed), default=0)
    return {"placeholders": listed, "placeholder_length": longest, "placeholder_bytes": 4 * longest}


def constant_text(name: str) -> str:
    """Return SQL of a field's --set value (bound as $set_NAME)."""
    return f"cast($set_{name} as varchar)"


def with_default(text: str, name: str) -> str:
    """Return SQL of a field's text, or its --default value (bound as $default_NAME)."""
    return f"coalesce({text}, cast($default_{name} as varchar))"


def blank_when_null(name: str) -> str:
    """Return SQL of a field's text with null as '' (spend's campaign: the channel as a whole)."""
    return f"coalesce({text_of(name)}, '')"


def _number_text(text: str, decimal_comma: bool) -> str:
    """Return SQL that strips currency signs, spaces and thousands separators from a number."""
    bare = f"regexp_replace({text}, '[\\s$€£¥]|^(USD|EUR|GBP|BRL)|(USD|EUR|GBP|BRL)$', '', 'g')"
    if decimal_comma:
        return f"replace(replace({bare}, '.', ''), ',', '.')"
    return (
        f"case when regexp_full_match({bare}, '-?\\d{{1,3}}(,\\d{{3}})+(\\.\\d+)?') "
        f"then replace({bare}, ',', '') else {bare} end"
    )


def _alias_key(text: str) -> str:
    """Return SQL normalising a stage name the way STAGE_ALIASES' keys are written."""
    return f"trim(regexp_replace(lower({text}), '[^0-9a-z]+', '_', 'g'), '_')"


def typed_value(f: Field, fmt: str | None, decimal_comma: bool) -> str:
    """Return SQL turning a field's cleaned text (t_NAME) into its typed value (null: unparseable).

    fmt: the field's strptime format (bound as $format_NAME); a stage's vocabulary is bound as
    $canonical_NAME, $aliases_NAME and $values_NAME.
    """
    text = text_of(f.name)
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
        number = _number_text(text, decimal_comma)
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


def typed_hash(names: Iterable[str], hashed: bool) -> str:
    """Return the select list's tail naming the typed values' row hash (_h), if hashed: equal
    to row_hash over the stored columns of these names (same values, same order)."""
    if not hashed:
        return ""
    return f", hash({', '.join(value_of(n) for n in names)}) as {ident(ROW_HASH)}"


def typed_columns(names: Iterable[str]) -> str:
    """Return the select list naming each field's typed value (v_NAME) as the field."""
    return ", ".join(f"{value_of(name)} as {ident(name)}" for name in names)


def rows_select(text: AbcMapping[str, str], typed: AbcMapping[str, str]) -> str:
    """Return the query of every staged row: its line (_row), texts (t_X) and typed values (v_X)."""
    texts = ", ".join(f"{expr} as {text_of(name)}" for name, expr in text.items())
    values = ", ".join(f"{expr} as {value_of(name)}" for name, expr in typed.items())
    return f"select *, {values} from (select {FILE_ROW} as {_ROW}, {texts} from {ident(RAW)})"


# ===== row rules =====

_RULES: dict[str, Callable[[str], str]] = {
    "missing": lambda n: f"{text_of(n)} is null",
    "unparsed": lambda n: f"{text_of(n)} is not null and {value_of(n)} is null",
    "future": lambda n: f"{value_of(n)} > $latest",
    "old": lambda n: f"{value_of(n)} < $oldest",
    "negative": lambda n: f"{value_of(n)} < 0",
    "not_positive": lambda n: f"{value_of(n)} <= 0",
    "no_target": lambda n: (
        f"{value_of('target_customers')} is null and {value_of('target_revenue')} is null"
    ),
}


def condition(check: str, name: str) -> str:
    """Return the SQL condition true for a row whose field breaks a check (a key of _RULES)."""
    return _RULES[check](name)


# ===== the fast path: typed staging =====


def settled_date(kind: str, index: int) -> str:
    """Return SQL of a staged date or timestamp parsed by a common format ($fast_KIND), or null."""
    value = f"try_strptime({staged(index)}, $fast_{kind})"
    return value if kind == "timestamp" else f"cast({value} as date)"


def settled_stage(name: str, index: int) -> str:
    """Return SQL of a staged stage name when it is canonical as written, else null."""
    raw = staged(index)
    return f"case when {in_list(f'$canonical_{name}', raw)} then {raw} end"


def _when_settled(name: str, then: str, otherwise: str) -> str:
    """Return SQL: then where the raw text settled the field's value, otherwise otherwise."""
    return f"case when {_settled(name)} is not null then {then} else {otherwise} end"


def typed_rows(
    raw: str,
    text: AbcMapping[str, str],
    typed: AbcMapping[str, str],
    columns: AbcMapping[str, int],
    settled: AbcMapping[str, str],
    conditions: Iterable[str],
    *,
    leads_as_read: bool,
    hashed: bool = False,
) -> str:
    """Return SQL of every row's typed fields and whether it breaks any rule (_bad).

    raw selects the file's columns as read (c0, c1, …: text, not yet trimmed). A field's text
    and typed value are the full path's (text on the raw column, then typed), except where
    settled (field -> SQL of a value the raw text settles cheaply) gives the value first;
    leads_as_read: lead_id's text is the column as read. conditions: the rules, on those values.
    hashed: each row also carries its hash over the typed fields (_h; see typed_hash).
    """
    sure = ", ".join(f"{expr} as {_settled(name)}" for name, expr in settled.items())
    texts = []
    values = []
    for name, expr in text.items():
        if name in settled:
            expr = _when_settled(name, staged(columns[name]), expr)
        elif name == "lead_id" and leads_as_read:
            expr = staged(columns[name])
        texts.append(f"{expr} as {text_of(name)}")
    for name, expr in typed.items():
        if name in settled:
            expr = _when_settled(name, _settled(name), expr)
        values.append(f"{expr} as {value_of(name)}")
    bad = " or ".join(f"coalesce({cond}, false)" for cond in conditions) or "false"
    sql = f"select *{', ' + sure if sure else ''} from ({raw})"
    sql = f"select *, {', '.join(texts)} from ({sql})"
    sql = f"select *, {', '.join(values)} from ({sql})"
    tail = typed_hash(typed, hashed)
    return f"select {typed_columns(typed)}, {bad} as {ident('_bad')}{tail} from ({sql})"


# ===== checking =====


def unknown_lead(column: str, *, clean_only: bool = False) -> str:
    """Return SQL: the row's lead id (column, a field or v_lead_id) is no stored lead.

    A mark join: one probe of the leads' key per row, no payload. clean_only: only a stored
    id with no spaces around it and no placeholder counts (the ids are as read).
    """
    value = ident(column)
    known = "select lead_id from leads"
    if clean_only:
        known += (
            " where not starts_with(lead_id, ' ') and not ends_with(lead_id, ' ') and "
            f"not {in_list('$placeholders', 'lower(lead_id)')}"
        )
    return f"{value} is not null and {value} not in ({known})"


def counts(
    source: str, conditions: Iterable[str], hashed: Sequence[str] | None, *, stored: bool = False
) -> str:
    """Return the one-pass query counting the rows meeting each condition.

    source: a table name or a (query) with its alias; hashed: when given, two more counts
    follow, the rows and the sum of their hashes over these columns (their fingerprint);
    stored: the source carries that hash already (_h, staged events).
    """
    listed = [f"count(*) filter (where {cond})" for cond in conditions]
    if hashed is not None:
        summed = ident(ROW_HASH) if stored else row_hash(hashed)
        listed += ["count(*)", f"coalesce(sum({summed}), 0)"]
    return f"select {', '.join(listed)} from {source}"


def of_rows(rows: str) -> str:
    """Return a query as the source of a count (see counts)."""
    return f"({rows}) r"


def breaking_rows(rows: str, name: str, cond: str) -> str:
    """Return the query of the first $limit rows (line and text) breaking a rule, in file order."""
    return f"select {_ROW}, {text_of(name)} from ({rows}) where {cond} order by {_ROW} limit $limit"


def unknown_lead_rows(rows: str) -> str:
    """Return the query of the first $limit rows (line and lead id) naming no stored lead."""
    lead = value_of("lead_id")
    return (
        f"select {_ROW}, {lead} from ({rows}) r where {lead} is not null and "
        f"not exists (select 1 from leads where leads.lead_id = r.{lead}) "
        f"order by {_ROW} limit $limit"
    )


def typed_table(rows: str, names: Collection[str], *, with_row: bool, hashed: bool = False) -> str:
    """Return the statement writing rows' typed values into import_typed (with_row: and lines;
    hashed: and each row's hash, _h)."""
    line, tail = (f"{_ROW}, " if with_row else ""), typed_hash(names, hashed)
    return create_temp(TYPED, f"select {line}{typed_columns(names)}{tail} from ({rows})")


def preview_rows(rows: str, names: Iterable[str]) -> str:
    """Return the query of the first $limit rows' lines (row) and typed values, in file order."""
    return (
        f"select {_ROW} as row, {typed_columns(names)} from ({rows}) order by {_ROW} limit $limit"
    )


def _repeated(key: Sequence[str]) -> str:
    """Return the tail of a query over import_typed grouping the complete keys seen twice."""
    complete = " and ".join(f"{ident(k)} is not null" for k in key)
    return f"from {ident(TYPED)} where {complete} group by {idents(key)} having count(*) > 1"


def count_repeated_keys(key: Sequence[str]) -> str:
    """Return the query counting the keys that more than one row of import_typed has."""
    return f"select count(*) from (select 1 {_repeated(key)})"


def _repeated_rows(key: Sequence[str]) -> str:
    """Return the query of each repeated key with the lines of its rows (rows)."""
    return f"select list({_ROW} order by {_ROW}) as rows, {idents(key)} {_repeated(key)}"


def count_repeated_rows(key: Sequence[str]) -> str:
    """Return the query counting the rows of import_typed whose key another row has too."""
    return f"select coalesce(sum(len(rows)), 0) from ({_repeated_rows(key)})"


def repeated_rows(key: Sequence[str]) -> str:
    """Return the query of the first $limit repeated keys with their lines, by first line."""
    return f"{_repeated_rows(key)} order by rows[1] limit $limit"


# ===== fingerprints =====


def row_hash(names: Iterable[str]) -> str:
    """Return SQL hashing one row's columns."""
    return f"hash({idents(names)})"


def count_repeats() -> str:
    """Return the query of how many staged events repeat another row exactly (equal _h)."""
    return f"select count(*) - count(distinct {ident(ROW_HASH)}) from {ident(TYPED)}"


def fingerprint(table: str, names: Sequence[str] | None = None) -> str:
    """Return the query of a table's fingerprint: its rows and the sum of their hashes
    (names: the columns hashed; None: every column)."""
    hashed = row_hash(names) if names is not None else "hash(*columns(*))"
    return f"select count(*), coalesce(sum({hashed}), 0) from {ident(table)}"


# ===== writing =====


def _same(names: Iterable[str], op: str = "is not distinct from", left: str = "e.") -> str:
    """Return SQL: each named column of left (a table or alias) compares by op with t's."""
    return " and ".join(f"{left}{ident(n)} {op} t.{ident(n)}" for n in names)


def _differs(names: Iterable[str], left: str = "e.") -> str:
    """Return SQL: some named column of left differs from t's (false when none is named)."""
    return " or ".join(f"{left}{ident(n)} is distinct from t.{ident(n)}" for n in names) or "false"


def new_events(names: Sequence[str], *, repeats: bool) -> str:
    """Return the statement keeping in import_new the typed events no stored event matches.

    Identical events are separate events (two opens in one second): rows match one to one,
    so a file with n copies of an event the table holds k times adds n - k of them. When the
    file repeats no row, a file row is new exactly when no stored event is the same (a plain
    anti-join); otherwise copies are numbered within each set of identical rows, the stored
    ones only among those the file has (a window over them: dearer, so only then)."""
    columns = idents(names)
    if not repeats:
        return create_temp(
            NEW,
            f"select {columns} from {ident(TYPED)} t "
            f"where not exists (select 1 from events e where {_same(names)})",
        )
    numbered = f"row_number() over (partition by {columns}) as {ident('_copy')}"
    stored = (
        f"select {columns}, {numbered} from events e "
        f"where exists (select 1 from {ident(TYPED)} t where {_same(names)})"
    )
    return create_temp(
        NEW,
        f"select {columns} from (select {columns}, {numbered} from {ident(TYPED)}) t "
        f"where not exists (select 1 from ({stored}) e "
        f"where {_same(names)} and e.{ident('_copy')} = t.{ident('_copy')})",
    )


def insert_all(table: str, names: Sequence[str], source: str) -> str:
    """Return the statement inserting every row of a source table into a table."""
    columns = idents(names)
    return f"insert into {ident(table)} ({columns}) select {columns} from {ident(source)}"


def keyed_counts(table: str, key: Sequence[str], changing: Sequence[str]) -> str:
    """Return the query counting the typed rows that are new and those that change a row."""
    first = f"e.{ident(key[0])}"
    return (
        f"select count(*) filter (where not e_hit), count(*) filter (where e_hit and is_changed) "
        f"from (select {first} is not null as e_hit, "
        f"coalesce({first} is not null and ({_differs(changing)}), false) as is_changed "
        f"from {ident(TYPED)} t left join {ident(table)} e on {_same(key, '=')})"
    )


def insert_new(table: str, names: Sequence[str], key: Sequence[str], order: str | None) -> str:
    """Return the statement inserting the typed rows whose key the table lacks (order: by it)."""
    columns = idents(names)
    tail = f" order by {ident(order)}" if order else ""
    return (
        f"insert into {ident(table)} ({columns}) select {columns} from {ident(TYPED)} t "
        f"where not exists (select 1 from {ident(table)} e where {_same(key, '=')}){tail}"
    )


def update_changed(table: str, key: Sequence[str], changing: Sequence[str]) -> str:
    """Return the statement setting the changing columns of the rows whose typed row differs."""
    target = f"{ident(table)}."
    sets = ", ".join(f"{ident(c)} = t.{ident(c)}" for c in changing)
    return (
        f"update {ident(table)} set {sets} from {ident(TYPED)} t "
        f"where {_same(key, '=', target)} and ({_differs(changing, target)})"
    )
