"""The queries/*.sql files, translated from DuckDB's SQL to Spark SQL: one source, two engines.

sqlglot parses each file as DuckDB wrote it and writes Spark SQL; a few rewrites below fix what
its generic translation gets wrong or leaves alone, each one a place where the two engines
differ in meaning, not only in spelling:

- `epoch(ts)` is fractional seconds in DuckDB; sqlglot's UNIX_TIMESTAMP truncates to whole
  seconds, so it becomes unix_micros(ts) / 1e6 (and `epoch_us(ts)` unix_micros(ts)). Both read
  the timestamp as UTC, which holds because the Spark session's time zone is UTC.
- `percentile_cont(q) within group (order by x)` and `quantile_cont(x, q)` are exact and
  interpolated; sqlglot writes PERCENTILE_APPROX, an approximation. Spark's exact one is
  percentile(x, q).
- `list(x order by k)` keeps its order in DuckDB; sqlglot writes COLLECT_LIST and drops it. It
  becomes the sorted list of (k, x) structs, projected back to x.
- `round(x, n)` of a double: DuckDB rounds x * 10^n half away from zero, Spark rounds the exact
  decimal value of x; at some halves (0.0001245) they disagree, so it becomes
  round(x * 10^n) / 10^n, DuckDB's own arithmetic. The queries round doubles (scores) this way;
  a decimal to round to n places is cast to decimal(p, n) instead, which means the same in both.
- a date plus or minus an interval is a timestamp in DuckDB, a date in Spark: the date is cast.
- `dayofweek(d)` counts Sunday as 0 in DuckDB and 1 in Spark; sqlglot keeps the name, and its
  `isodow` is off by one too. Both become Spark's weekday(d) arithmetic.
- a call of a macro queries/shared.sql creates (`fiscal_quarter_start(ts, m)`, the table macro
  `won_deals(m, as_of)`) is written out as DuckDB expands it: the macro's body, the call's
  arguments in place of its parameters, a table macro as a subquery. Spark has no macros, and
  the shared definition stays the one in shared.sql.
- `to_months(n)`, `to_seconds(s)`, `list_position`, `list_slice` (1-based, inclusive end),
  DuckDB's `unpivot ... on ... into name ... value ...`, several `unnest` side by side, and
  `row_number()` (bigint in DuckDB, int in Spark) get their Spark equivalents.

Parameters stay parameters: DuckDB's `$name` becomes Spark's `:name` marker, and Spark binds the
values itself (`SparkSession.sql(text, args=...)`), so a user's value never becomes SQL text.
NULL ordering (DuckDB: nulls last when ascending; Spark: first) is made explicit by sqlglot.
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from funnelcast.data import db

# Queries that only DuckDB can run, and why; every other file in queries/ runs on both.
DUCKDB_ONLY = {
    "schema": "creates the DuckDB tables; a lake's tables are Parquet, read by the Spark engine",
    "shared": "creates DuckDB's shared macros and views; the Spark engine defines the views "
    "itself and writes each macro call out in full",
    "import_attribute_profile": "the importer's: reads its DuckDB staging table (imports write "
    "DuckDB files)",
    "import_attribute_rows": "the importer's: reads its DuckDB staging table (imports write "
    "DuckDB files)",
    "lab_data_version": "keys the Threshold Lab's history kept beside a DuckDB file (a lake's "
    "Lab materialises in memory only)",
    **{
        name: "the funnel summary kept in a DuckDB file (funnelcast.analytics.rollups); on a "
        "lake the funnel is counted from its tables"
        for name in (
            "rollup_data_version",
            "kept_tables_present",
            "rollup_state",
            "rollup_funnel",
            "rollup_roi",
            "rollup_write",
        )
    },
    **{
        name: "the Funnel page's summary kept in a DuckDB file "
        "(funnelcast.analytics.rollups_funnel); on a lake the page counts from its tables"
        for name in (
            "rollup_funnel_version",
            "rollup_funnel_state",
            "rollup_funnel_write",
            "rollup_funnel_steps_source",
            "rollup_funnel_steps",
            "rollup_funnel_cohorts",
            "rollup_funnel_stage_times",
            "rollup_funnel_journeys",
        )
    },
    **{
        name: "the attribution kept in a DuckDB file, or its touches held in a DuckDB temporary "
        "table (funnelcast.analytics.attribution_kept); on a lake the deals are credited a "
        "batch at a time from attribution_touches"
        for name in (
            "attribution_kept_state",
            "attribution_kept_version",
            "attribution_kept_credits",
            "attribution_kept_deals",
            "attribution_kept_payback",
            "attribution_kept_decay",
            "attribution_kept_write",
            "attribution_touch_batch",
        )
    },
    **{
        name: "the Handoff and Data pages' summary kept in a DuckDB file "
        "(funnelcast.analytics.rollups_pages); on a lake they are computed from its tables"
        for name in (
            "rollup_pages_version",
            "rollup_pages_state",
            "rollup_pages_write",
            "rollup_handoff_cells",
            "rollup_handoff_segments",
            "rollup_handoff_won",
            "rollup_handoff_maturity",
            "rollup_column_nulls",
            "rollup_unmatched_ids",
            "rollup_data_health",
        )
    },
}
# The columns of DuckDB's catalogue function duckdb_columns() that a translated query can read.
CATALOGUE_COLUMNS = ("schema_name", "table_name", "column_name", "column_index", "data_type")


class UntranslatableQuery(db.FunnelcastError):
    """A query uses SQL the Spark translation does not carry over with the same meaning."""


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    """Return the Spark function call NAME(args)."""
    return exp.Anonymous(this=name, expressions=list(args))


def _utc_micros(value: exp.Expression) -> exp.Expression:
    """Return microseconds since the epoch of a timestamp read as UTC."""
    ltz = exp.DataType.build("timestamp_ltz", dialect="spark")
    return _call("unix_micros", exp.Cast(this=value, to=ltz))


def _ordered_list(agg: exp.ArrayAgg, where: exp.Where | None) -> exp.Expression:
    """Return list(x order by k...) as Spark's sorted list of (k..., x) structs, projected to x."""
    order = agg.this
    if not isinstance(order, exp.Order):
        raise UntranslatableQuery(
            f"{agg.sql('duckdb')}: a list without order by has no defined order; add one"
        )
    keys = order.expressions
    for key in keys:
        if key.args.get("desc") or key.args.get("nulls_first"):
            raise UntranslatableQuery(
                f"{agg.sql('duckdb')}: only ascending, nulls-last list orders translate"
            )
    fields = [exp.Literal.string(f"k{i}") for i in range(len(keys))] + [exp.Literal.string("v")]
    values = [key.this for key in keys] + [order.this]
    pairs = [part for pair in zip(fields, values) for part in pair]
    collected: exp.Expression = _call("collect_list", _call("named_struct", *pairs))
    if where is not None:
        collected = exp.Filter(this=collected, expression=where)
    item = exp.to_identifier("item")
    projection = exp.Lambda(
        this=exp.Dot(this=exp.column("item"), expression=exp.to_identifier("v")),
        expressions=[item],
    )
    return _call("transform", _call("array_sort", collected), projection)


def _percentile(value: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    """Return Spark's exact, interpolated percentile."""
    return _call("percentile", value, fraction)


def _unpivot(pivot: exp.Pivot) -> exp.Expression:
    """Return DuckDB's `unpivot (q) on a, b into name n value v` as a Spark UNPIVOT query."""
    into = pivot.args.get("into")
    if into is None or len(into.expressions) != 1:
        raise UntranslatableQuery("unpivot needs `into name ... value ...` to translate")
    name, value = into.this.name, into.expressions[0].name
    source = pivot.this
    spark_pivot = exp.Pivot(
        expressions=[exp.to_identifier(value)],
        fields=[exp.In(this=exp.to_identifier(name), expressions=pivot.expressions)],
        unpivot=True,
    )
    subquery = exp.Subquery(
        this=source.this if isinstance(source, exp.Subquery) else source, pivots=[spark_pivot]
    )
    return exp.select("*").from_(subquery)


def _unnest_select(select: exp.Select) -> exp.Expression:
    """Return `select unnest(a) as x, unnest(b) as y` (DuckDB zips them, padding with nulls)
    as Spark's inline(arrays_zip(a, b)) as (x, y): Spark allows one generator per select."""
    explodes = select.expressions
    if len(explodes) < 2:
        return select
    if select.args.get("from_") is not None or not all(
        isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) for e in explodes
    ):
        raise UntranslatableQuery(
            "several unnest() in one select translate only alone, without a from clause"
        )
    zipped = _call("arrays_zip", *[e.this.this for e in explodes])
    generator = exp.Aliases(
        this=_call("inline", zipped), expressions=[exp.to_identifier(e.alias) for e in explodes]
    )
    return exp.Select(expressions=[generator])


def _excluded(star: exp.Star) -> list[exp.Expression]:
    """Return the columns of `* exclude (...)` (sqlglot names the argument except_)."""
    return star.args.get("except_") or star.args.get("except") or []


def _expand_unpivot_columns(tree: exp.Expression) -> None:
    """Replace `unpivot cte on columns(* exclude (a, ...))` by the CTE's columns, named.

    The CTE's select list names them; Spark's UNPIVOT needs them listed. Only an unpivot of a
    CTE expands: elsewhere `* exclude` still refuses to translate (see to_spark).
    """
    ctes = {cte.alias: cte.this for cte in tree.find_all(exp.CTE)}
    for pivot in tree.find_all(exp.Pivot):
        if not pivot.args.get("unpivot"):
            continue
        listed = []
        for item in pivot.expressions:
            star = item.this if isinstance(item, exp.Columns) else None
            if not isinstance(star, exp.Star):
                listed.append(item)
                continue
            source = pivot.this
            body = ctes.get(source.name) if isinstance(source, exp.Table) else None
            if body is None:
                raise UntranslatableQuery(
                    f"{pivot.sql('duckdb')}: columns(*) translates only in an unpivot of a CTE"
                )
            excluded = {c.name for c in _excluded(star)}
            listed += [exp.column(n) for n in body.named_selects if n not in excluded]
        pivot.set("expressions", listed)


def _catalogue(alias: exp.TableAlias | None) -> exp.Expression:
    """Return duckdb_columns() as an inline table of the canonical tables' columns: the
    Spark engine's views have exactly queries/schema.sql's columns, in its order."""
    rows = [
        exp.Tuple(
            expressions=[
                exp.Literal.string("main"),
                exp.Literal.string(table),
                exp.Literal.string(column),
                exp.Literal.number(index),
                exp.Literal.string(kind),
            ]
        )
        for table, columns in schema_tables().items()
        for index, (column, kind) in enumerate(columns, start=1)
    ]
    name = alias.this.copy() if alias is not None else exp.to_identifier("duckdb_columns")
    return exp.Values(
        expressions=rows,
        alias=exp.TableAlias(this=name, columns=[exp.to_identifier(c) for c in CATALOGUE_COLUMNS]),
    )


def _shared_statements() -> list[exp.Create]:
    """Return the create statements of queries/shared.sql, parsed."""
    statements = sqlglot.parse(db.query_text("shared"), read="duckdb")
    return [s for s in statements if isinstance(s, exp.Create)]


@functools.cache
def shared_macros() -> dict[str, tuple[tuple[str, ...], exp.Expression]]:
    """Return each macro queries/shared.sql creates, by name: its parameters and its body (an
    expression, or a query for a table macro)."""
    macros = {}
    for statement in _shared_statements():
        if statement.kind == "MACRO":
            signature = statement.this
            parameters = tuple(p.name for p in signature.expressions)
            macros[signature.this.name.lower()] = (parameters, statement.expression)
    return macros


def _expand_macro(call: exp.Anonymous) -> exp.Expression:
    """Return a macro call's body with the call's arguments in place of its parameters."""
    name = call.name.lower()
    parameters, body = shared_macros()[name]
    if len(call.expressions) != len(parameters):
        raise UntranslatableQuery(f"{name}() takes {len(parameters)} arguments")
    values = dict(zip(parameters, call.expressions))

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in values:
            value: exp.Expression = values[node.name].copy()
            atomic = (exp.Column, exp.Literal, exp.Placeholder, exp.Null, exp.Paren, exp.Func)
            return value if isinstance(value, atomic) else exp.paren(value)
        return node

    return _inline_macros(body.copy()).transform(put)


def _inline_macros(node: exp.Expression) -> exp.Expression:
    """Return a tree with each call of a shared.sql macro written out (see _expand_macro),
    children first: a call in an argument or in a macro's body comes out in full too."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _inline_macros(value))
        elif isinstance(value, list):
            node.set(
                key, [_inline_macros(v) if isinstance(v, exp.Expression) else v for v in value]
            )
    macros = shared_macros()
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
        name = node.this.name.lower()
        if name in macros:  # a table macro: its query, named as the call was
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
            return exp.Subquery(this=_expand_macro(node.this), alias=alias)
    if isinstance(node, exp.Anonymous) and node.name.lower() in macros:
        if isinstance(macros[node.name.lower()][1], exp.Query):
            return node  # a table macro's call: its table expands it
        expanded = _expand_macro(node)
        return expanded if isinstance(expanded, (exp.Func, exp.Paren)) else exp.paren(expanded)
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:
    """Return one node of a DuckDB query as its Spark meaning (see the module docstring)."""
    if isinstance(node, exp.TimeToUnix):
        return exp.Div(this=_utc_micros(node.this), expression=exp.Literal.number("1000000.0"))
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == "epoch_us":
            return _utc_micros(args[0])
        if name == "to_months":
            return _call("make_ym_interval", exp.Literal.number(0), args[0])
        if name == "to_days":
            zero = exp.Literal.number(0)
            return _call("make_dt_interval", args[0], zero, zero, zero)
        if name == "to_seconds":
            zero = exp.Literal.number(0)
            return _call("make_dt_interval", zero, zero, zero, args[0])
        if name == "list_position":
            return _call("array_position", *args)
        if name == "list_slice":
            start, stop = args[1], args[2]
            length = exp.Add(
                this=exp.Sub(this=stop.copy(), expression=start.copy()),
                expression=exp.Literal.number(1),
            )
            return _call("slice", args[0], start, exp.paren(length))
    if (
        isinstance(node, (exp.Add, exp.Sub))
        and isinstance(node.expression, exp.Anonymous)
        and (node.expression.name in ("make_ym_interval", "make_dt_interval"))
    ):  # DuckDB: a date plus an interval is a timestamp; Spark keeps a date
        ntz = exp.DataType.build("timestamp_ntz", dialect="spark")
        node.set("this", exp.Cast(this=node.this, to=ntz))
        return node
    if isinstance(node, exp.DayOfWeekIso):  # Monday 1 .. Sunday 7 in both; sqlglot's is off
        return exp.paren(
            exp.Add(this=_call("weekday", node.this), expression=exp.Literal.number(1))
        )
    if isinstance(node, exp.DayOfWeek):  # DuckDB: Sunday 0 .. Saturday 6; Spark: Sunday 1
        return exp.paren(
            exp.Sub(this=_call("dayofweek", node.this), expression=exp.Literal.number(1))
        )
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        return _ordered_list(node.this, node.expression)
    if isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
        return _ordered_list(node, None)
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileCont):
        keys = node.expression.expressions
        if len(keys) != 1 or keys[0].args.get("desc"):
            raise UntranslatableQuery(f"{node.sql('duckdb')}: order by one column, ascending")
        return _percentile(keys[0].this, node.this.this)
    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return _percentile(node.this, node.expression)
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        scale = exp.Pow(this=exp.Literal.number(10), expression=node.args["decimals"].copy())
        scaled = exp.Round(this=exp.Mul(this=exp.paren(node.this.copy()), expression=scale))
        return exp.Div(this=scaled, expression=scale.copy())
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber):
        return exp.Cast(this=node.copy(), to=exp.DataType.build("bigint"))
    if isinstance(node, exp.Pivot) and node.args.get("unpivot") and node.args.get("into"):
        return exp.paren(_unpivot(node)) if isinstance(node.parent, exp.From) else _unpivot(node)
    if (
        isinstance(node, exp.Select)
        and sum(
            isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) for e in node.expressions
        )
        > 1
    ):
        return _unnest_select(node)
    if (
        isinstance(node, exp.Table)
        and isinstance(node.this, exp.Anonymous)
        and node.this.name.lower() == "duckdb_columns"
    ):
        return _catalogue(node.args.get("alias"))
    if isinstance(node, exp.Placeholder) and not re.fullmatch(r"[a-z_][a-z0-9_]*", node.name):
        raise UntranslatableQuery(f"parameter {node.sql('duckdb')}: use $name parameters")
    return node


def _translate(node: exp.Expression) -> exp.Expression:
    """Return a tree rewritten children first, so that a rewrite sees its arguments rewritten."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _translate(value))
        elif isinstance(value, list):
            node.set(key, [_translate(v) if isinstance(v, exp.Expression) else v for v in value])
    return _rewrite(node)


def _rename_tables(tree: exp.Expression, views: dict[str, str]) -> exp.Expression:
    """Return the tree reading each table NAME of VIEWS from the view VIEWS[NAME] (aliased NAME,
    so columns qualified by it still resolve). A CTE of the same name keeps its name."""
    own = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}

    def rename(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Table)
            and not node.args.get("db")
            and node.name in views
            and node.name not in own
        ):
            renamed = node.copy()
            renamed.set("this", exp.to_identifier(views[node.name]))
            if not node.alias:
                renamed.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
            return renamed
        return node

    return tree.transform(rename)


def to_spark(sql: str, views: tuple[tuple[str, str], ...] = ()) -> str:
    """Return one DuckDB SQL statement written as Spark SQL, its $name parameters as :name,
    each table NAME of VIEWS ((name, view), ...) read from its view."""
    try:
        tree: exp.Expression = sqlglot.parse_one(sql, read="duckdb")  # type: ignore[assignment]
    except sqlglot.errors.ParseError as exc:
        raise UntranslatableQuery(f"cannot parse the query: {str(exc).splitlines()[0]}") from None
    tree = _inline_macros(tree)
    if views:
        tree = _rename_tables(tree, dict(views))
    _expand_unpivot_columns(tree)
    if any(_excluded(star) for star in tree.find_all(exp.Star)):
        raise UntranslatableQuery("select * exclude (...) has no Spark SQL equivalent")
    tree = _translate(tree)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


@functools.lru_cache(maxsize=1024)  # keyed by each cursor's views too: bounded
def query(name: str, views: tuple[tuple[str, str], ...] = ()) -> str:
    """Return queries/NAME.sql as Spark SQL (see to_spark); UntranslatableQuery for the
    DuckDB-only ones."""
    if name in DUCKDB_ONLY:
        raise UntranslatableQuery(f"query {name} runs on DuckDB only: {DUCKDB_ONLY[name]}")
    try:
        return to_spark(db.query_text(name), views)
    except UntranslatableQuery as exc:
        raise UntranslatableQuery(f"query {name}: {exc}") from None


@functools.lru_cache(maxsize=1024)
def cached(sql: str, views: tuple[tuple[str, str], ...] = ()) -> str:
    """Return to_spark(sql, views), remembered: the code runs a few fixed statements many times."""
    return to_spark(sql, views)


@functools.cache
def expand_lists(spark_text: str, lengths: tuple[tuple[str, int], ...]) -> str:
    """Return Spark SQL whose list parameters :name are array(:name__0, :name__1, ...).

    Spark binds no list holding a null (a rule without a cap), so each element is bound on its
    own; `list_args` gives the matching values.
    """
    sizes = dict(lengths)
    tree = sqlglot.parse_one(spark_text, read="spark")

    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name in sizes:
            return exp.Array(
                expressions=[
                    exp.Placeholder(this=f"{node.name}__{i}") for i in range(sizes[node.name])
                ]
            )
        return node

    return tree.transform(expand).sql(dialect="spark")


def list_args(name: str, values) -> dict:
    """Return the parameters expand_lists gives a list parameter NAME, one per element."""
    return {f"{name}__{i}": value for i, value in enumerate(values)}


def schema_views() -> list[tuple[str, str]]:
    """Return (name, Spark SQL) of each view queries/shared.sql creates, in order."""
    views = []
    for statement in _shared_statements():
        if statement.kind == "VIEW":
            body = _translate(_inline_macros(statement.expression))
            views.append((statement.this.name, body.sql(dialect="spark")))
    return views


def schema_tables() -> dict[str, list[tuple[str, str]]]:
    """Return each canonical table's (column, Spark type) list from queries/schema.sql."""
    tables = {}
    for statement in sqlglot.parse(db.query_text("schema"), read="duckdb"):
        if isinstance(statement, exp.Create) and statement.kind == "TABLE":
            columns = [
                (
                    column.name,
                    "STRING"
                    if column.args["kind"].is_type("json")
                    else column.args["kind"].sql(dialect="spark"),
                )
                for column in statement.this.expressions
                if isinstance(column, exp.ColumnDef)
            ]
            tables[statement.this.this.name] = columns
    return tables
