"""The same queries on Spark: every file in queries/ gives DuckDB's rows when local PySpark runs
its translation over the same data, exported to Parquet.

The data is a small demo history plus hand-made journeys for the edges (a channel whose name
holds a quote and a backslash, moments a microsecond either side of a fiscal quarter's end).
Probes pin the translations that silently change meaning: ordering inside aggregates,
interval parameters, week starts, time zones, integer division, NULL ordering, fiscal
quarters, rounding at a half; two of them are also run wrong on purpose, to show they catch it.

Spark needs Java 17+ and pyspark: missing, this module fails on CI (CI=true) and skips elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import os
import re
import shutil
from pathlib import Path

import fixtures as fx
import numpy as np
import polars as pl
import pytest
from fixtures import Journey, add_journeys
from spark_support import require_spark

from funnelcast import cli, definitions, lab
from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.demo import build_demo

require_spark("the Spark parity test")

from funnelcast.data import spark_engine, spark_sql  # noqa: E402  (needs sqlglot, checked above)

# pyspark 4.3 warns that pandas 3 is newer than it knows; Funnelcast hands it Arrow, not pandas
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

AS_OF = dt.datetime(2026, 9, 30, 23, 59, 59, 999999)
ODD_CHANNEL = "o'reilly \\ 'media'"  # quotes and a backslash: bound, never spliced

# Edge journeys, added to the demo history (its lead ids are L0000001...).
EDGE_JOURNEYS = [
    # a channel name that would break a query built by string formatting
    Journey(
        "Z_odd_channel",
        "2026-02-10 09:00",
        channel=ODD_CHANNEL,
        events=[("demo_request", "2026-02-11 10:00")],
        stages=[
            ("mql", "2026-02-12 08:00"),
            ("sql", "2026-03-01"),
            ("customer", "2026-05-02", 1234.5),
        ],
        attributes={"seniority": "director", "region": "EMEA", "company_size": 120},
    ),
    # a microsecond before and at a fiscal quarter's start (fiscal year from April: Q4 ends
    # March 31); a non-UTC session would move them across the boundary
    Journey(
        "Z_quarter_edge",
        "2026-03-31 23:59:59.999999",
        channel="search",
        events=[
            ("pricing_page_view", "2026-03-31 23:59:59.999999"),
            ("pricing_page_view", "2026-04-01 00:00"),
        ],
        stages=[
            ("mql", "2026-04-01 00:00"),
            ("sal", "2026-04-01 00:00:00.000001"),
            ("rejected", "2026-04-03"),
        ],
    ),
    # no attributes at all: NULLs in every fit column
    Journey(
        "Z_no_attributes",
        "2025-12-31 23:00",
        channel="direct",
        stages=[("sql", "2026-01-15"), ("customer", "2026-06-30 23:59:59", 99.99)],
    ),
]


# Custom attributes of every type on the demo leads, and a definition with a rule of every
# operator on them and on built-in fields: the shared rule macros' list_contains, contains,
# starts_with, `within` and the `is unknown` anti-join all run on both engines.
RULES = "rules"  # QUERY_PARAMS' stand-in for that definition's id
CUSTOM_TYPES = {
    "TotalVisits": "number",
    "Job Function": "text",
    "Do Not Email": "yes/no",
    "Last Activity": "date",
}
JOBS = ("Marketing", "Sales Ops", "sales", "Engineering")
RULES_DEFINITION = definitions.Definition(
    name="every operator",
    threshold=25,
    half_life_days=30,
    fit_rules=(
        definitions.FitRule("industry", ("software", "retail"), 4, op="is any of"),
        definitions.FitRule("industry", ("software",), -2, op="is none of"),
        definitions.FitRule("channel", "O'REILLY", 3, op="starts with"),
        definitions.FitRule("Job Function", "Ops", 5, op="contains"),
        definitions.FitRule("Job Function", "sales", 6),
        definitions.FitRule("Job Function", None, -3, op="is unknown"),
        definitions.FitRule("TotalVisits", 5, 10, op=">="),
        definitions.FitRule("TotalVisits", (2, 4), 1, op="between"),
        definitions.FitRule("TotalVisits", None, 1.5, op="per unit", cap=12),
        definitions.FitRule("company_size", (None, 200), 2, op="between"),
        definitions.FitRule("Do Not Email", "Yes", 0, True),
        definitions.FitRule("Last Activity", 10, 4, op="within"),
        definitions.FitRule("Last Activity", dt.date(2026, 1, 1), 2, op="after"),
        definitions.FitRule("created_at", None, 1, op="is known"),
    ),
    behaviour_rules=(definitions.BehaviourRule("demo_request", 20),),
)


def add_custom_attributes(con) -> None:
    """Give the leads custom attributes of every type (some unknown), as an import keeps them."""
    con.executemany(
        "insert into lead_attribute_types (attribute, value_type) values (?, ?)",
        list(CUSTOM_TYPES.items()),
    )
    rows = []
    leads = con.execute("select lead_id, epoch(created_at) from leads order by lead_id")
    for i, (lead_id, created_s) in enumerate(leads.fetchall()):
        if i % 5:
            rows.append((lead_id, "TotalVisits", None, float(i % 13)))
        if i % 7:
            rows.append((lead_id, "Job Function", JOBS[i % 4], None))
        if i % 3 == 0:
            rows.append((lead_id, "Do Not Email", None, float(i % 2)))
        if i % 6:
            rows.append((lead_id, "Last Activity", None, created_s + (i % 40 - 20) * 86400.0))
    con.executemany("insert into lead_attributes values (?, ?, ?, ?)", rows)


@pytest.fixture(scope="module")
def duck_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a DuckDB file with 400 demo leads and the edge journeys."""
    path = tmp_path_factory.mktemp("spark") / "lake.duckdb"
    con = db.connect(path, create=True)
    try:
        build_demo(con, leads=400, seed=3, attributes=False)  # its own attributes below
        add_journeys(con, EDGE_JOURNEYS)
        add_custom_attributes(con)
        definitions.save(con, RULES_DEFINITION, "2030Q1", replace=True)
        con.execute("checkpoint")
    finally:
        con.close()
    return path


@pytest.fixture(scope="module")
def parquet_dir(duck_path: Path) -> Path:
    """Return the Parquet directory `funnelcast export-parquet` writes from that file."""
    out = duck_path.parent / "lake"
    assert cli.main(["export-parquet", "--db", str(duck_path), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def duck(duck_path: Path):
    con = db.connect(duck_path, read_only=True)
    yield con.cursor()
    con.close()


@pytest.fixture(scope="module")
def spark_con(parquet_dir: Path):
    """Return the Spark engine on the Parquet directory: one local[2] Spark for the module,
    stopped after it (its JVM holds a few GiB the rest of the suite can use)."""
    con = spark_engine.SparkConnection(parquet_dir)
    yield con
    con.spark.stop()


@pytest.fixture(scope="module")
def spark(spark_con):
    return spark_con.cursor()


# ===== comparing results =====


def _value(v):
    """Return a cell as plain Python for comparison (decimals as floats)."""
    if isinstance(v, list):
        return [_value(x) for x in v]
    if hasattr(v, "as_tuple"):  # Decimal
        return float(v)
    return v


def _sort_key(row: tuple) -> tuple:
    """Return a key that orders rows with nulls and floats alike in both engines."""

    def key(v):
        if v is None:
            return (1, "")
        if isinstance(v, float):
            return (0, round(v, 6))
        if isinstance(v, list):
            return (0, repr([key(x) for x in v]))
        return (0, v)

    return tuple(key(v) for v in row)


def _kind(dtype: pl.DataType) -> str:
    """Return a dtype's family: the engines may differ in width (int32/int64, decimal/double)."""
    if dtype.is_numeric():
        return "number"
    return type(dtype).__name__ if not isinstance(dtype, pl.Datetime) else "Datetime"


def _same(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    """Assert two results hold the same rows: same columns and kinds, sorted, floats to 1e-9."""
    assert a.columns == b.columns, f"{what}: columns {a.columns} != {b.columns}"
    assert [_kind(t) for t in a.dtypes] == [_kind(t) for t in b.dtypes], (
        f"{what}: types {a.dtypes} != {b.dtypes}"
    )
    assert a.height == b.height, f"{what}: {a.height} rows on DuckDB, {b.height} on Spark"
    left = sorted((tuple(_value(v) for v in r) for r in a.rows()), key=_sort_key)
    right = sorted((tuple(_value(v) for v in r) for r in b.rows()), key=_sort_key)
    for i, (x, y) in enumerate(zip(left, right)):
        for name, u, v in zip(a.columns, x, y):
            if isinstance(u, float) and isinstance(v, float):
                assert math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-9), (
                    f"{what} row {i} {name}: {u} != {v}"
                )
            else:
                assert u == v, f"{what} row {i} {name}: {u!r} != {v!r}"


# ===== every query =====

RECORDED = "recorded"
QUERY_PARAMS: dict[str, list[dict]] = {
    "attribution_batches": [dict(batch_leads=1), dict(batch_leads=3)],
    "attribution_touches": [
        dict(fy_start_month=4, half_life_days=30.0, lead_from=None, lead_to=None),
        dict(fy_start_month=1, half_life_days=7.0, lead_from="L1", lead_to="L5"),
    ],
    "channels": [{}],
    "column_nulls": [{}],
    "cohort_curves": [
        dict(as_of=AS_OF, channel=None, fy_start_month=4, grain="quarter"),
        dict(as_of=AS_OF, channel="search", fy_start_month=1, grain="month"),
    ],
    "computed_mql_moments": [
        dict(definition_id=1, threshold=40.0),
        dict(definition_id=RULES, threshold=None),
    ],
    "conversion_lags": [{}],
    "data_extent": [{}],
    "data_health": [dict(as_of=AS_OF)],
    "definition_by_id": [dict(definition_id=1)],
    "definition_in_force": [dict(on=dt.date(2026, 9, 30))],
    "definition_rules": [dict(definition_id=1)],
    "definition_versions": [{}],
    "feature_catalogue": [dict(definition_id=1)],
    "funnel_by_quarter": [
        dict(channel=None, fy_start_month=4),
        dict(channel=ODD_CHANNEL, fy_start_month=1),
        dict(channel="search", fy_start_month=11),
    ],
    "funnel_steps": [dict(channel="email", dimension="seniority", fy_start_month=4)],
    "handoff_mqls": [dict(channel=None, fy_start_month=4)],
    "journeys": [dict(channel=None, fy_start_month=4)],
    "known_outcome_leads": [
        dict(
            created_before=dt.datetime(2026, 3, 1),
            horizon_days=90.0,
            outcome="customer",
            window_days=120.5,
        )
    ],
    "known_field_values": [{}],
    "known_lead_fit": [dict(definition_id=1)],
    "lab_check_events": [
        dict(event_types=["demo_request", "pricing_page_view", "email_click"]),
        dict(event_types=[]),
    ],
    "lab_leads": [{}],
    "lab_counts": [
        dict(event_types=["demo_request", "pricing_page_view"], fields=["TotalVisits"]),
        dict(event_types=[], fields=[]),
    ],
    "lead_events": [{}],
    "lead_features": [dict(half_life_days=30.0)],
    "lead_fit_points": [dict(definition_id=1), dict(definition_id=RULES)],
    "lead_score_explained": [
        dict(
            lead_id="Z_odd_channel",
            as_of=AS_OF,
            half_life_days=30.0,
            rules=RULES,
            event_types=["demo_request", "pricing_page_view"],
            event_points=[10.0, 5.0],
            event_caps=[None, 20.0],
        )
    ],
    "lab_field_values": [
        dict(field="TotalVisits"),
        dict(field="Job Function"),
        dict(field="industry"),
        dict(field="created_at"),
    ],
    "field_top_values": [dict(field="Job Function", limit=3), dict(field="industry", limit=50)],
    "field_number_range": [
        dict(field="TotalVisits"),
        dict(field="Last Activity"),
        dict(field="company_size"),
    ],
    "lead_scores": [dict(as_of=AS_OF, definition_id=1), dict(as_of=AS_OF, definition_id=RULES)],
    "open_pipeline": [dict(as_of=AS_OF, fy_start_month=4)],
    "outcome_lag": [dict(outcome="sql")],
    "planner_lags": [
        dict(
            as_of=AS_OF,
            cohort_from=dt.date(2025, 1, 1),
            cohort_to=dt.date(2026, 1, 1),
            fy_start_month=4,
        )
    ],
    "planner_rates": [dict(as_of=AS_OF, fy_start_month=4)],
    "planner_targets": [dict(from_date=dt.date(2025, 1, 1))],
    "quarter_target": [dict(quarter_start=dt.date(2026, 7, 1))],
    "recorded_mql_moments": [{}],
    "roi_by_channel_quarter": [dict(fy_start_month=4)],
    "rule_match_counts": [RULES],  # the rules definition's fit rules, as a draft's lists
    "scoring_events": [dict(definition_id=1)],
    "scoring_vocabulary": [{}],
    "spend_by_quarter": [dict(fy_start_month=2)],
    "spend_payback": [dict(fy_start_month=4)],
    "time_in_stage": [dict(channel=None, fy_start_month=4)],
    "unmatched_ids": [{}],
}
CASES = [(name, i) for name, sets in sorted(QUERY_PARAMS.items()) for i in range(len(sets))]


def test_every_query_is_compared_or_listed_as_duckdb_only():
    files = {p.stem for p in db.QUERIES_DIR.glob("*.sql")}
    assert files - set(spark_sql.DUCKDB_ONLY) == set(QUERY_PARAMS)
    assert set(spark_sql.DUCKDB_ONLY) <= files


def _inputs(cur) -> dict[str, pl.DataFrame]:
    """Return the frames the callers register before some queries run, built on DuckDB."""
    moments = db.run(cur, "recorded_mql_moments")
    leads = pl.DataFrame(cur.sql("select lead_id, created_at from leads order by lead_id").pl())
    sample = leads.gather_every(7)
    catalogue = db.run(cur, "feature_catalogue", definition_id=1).with_row_index("column_index")
    return {
        "mql_moments": moments.select("lead_id", "mql_at"),
        "chosen_leads": sample.select("lead_id"),
        "feature_moments": sample.select(
            pl.int_range(pl.len(), dtype=pl.Int64).alias("lead_key"),
            "lead_id",
            (pl.col("created_at") + pl.duration(days=45)).alias("feature_at"),
        ),
        "feature_columns": catalogue.select(
            pl.col("column_index").cast(pl.Int64), "attribute", "value"
        ),
    }


@pytest.fixture(scope="module")
def rules_id(duck) -> int:
    """Return the id of the definition with a rule of every operator."""
    return duck.execute(
        "select max(definition_id) from definitions where name = $n", {"n": RULES_DEFINITION.name}
    ).fetchall()[0][0]


def test_the_rules_match_something_and_not_everything(duck, rules_id):
    """Each rule of the every-operator definition matches some leads but not all of them, so
    comparing the engines' rows compares what each operator does."""
    rules = definitions.load(duck, rules_id)
    counts = db.run(
        duck,
        "rule_match_counts",
        **definitions.fit_rule_lists(rules, definitions.lead_fields(duck)),
    )
    by_rule = dict(zip(counts["rule_no"], counts["matched_leads"], strict=True))
    leads = counts["leads"][0]
    everyone = [r.label for n, r in enumerate(rules.fit_rules, 1) if by_rule[n] == leads]
    assert everyone == ["created_at is known"]
    assert all(0 < by_rule[n] for n in by_rule), by_rule
    assert (
        db.run(duck, "lead_scores", as_of=AS_OF, definition_id=rules_id)["is_above_threshold"].sum()
        > 0
    )


@pytest.fixture(scope="module")
def registered(duck, spark):
    frames = _inputs(duck)
    for name, frame in frames.items():
        duck.register(name, frame)
        spark.register(name, frame)
    return frames


@pytest.mark.parametrize(("name", "case"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_query_gives_duckdbs_rows_on_spark(name, case, duck, spark, registered, rules_id):
    params = QUERY_PARAMS[name][case]
    rules = definitions.load(duck, rules_id)
    lists = definitions.fit_rule_lists(rules, definitions.lead_fields(duck))
    if params == RULES:
        params = lists
    elif params.get("rules") == RULES:  # the rules definition as a draft's lists, explained
        params = {k: v for k, v in params.items() if k != "rules"}
        params.update(lists, fit_label=[r.label for r in rules.fit_rules])
    params = {k: rules_id if v == RULES else v for k, v in params.items()}
    expected = db.run(duck, name, **params)
    got = db.run(spark, name, **params)
    _same(expected, got, name)


def test_cursors_registering_one_name_each_read_their_own(duck, spark_con):
    """Dashboard sessions share one Spark session: two cursors registering chosen_leads at the
    same moment (two users asking for suggested weights) each read their own leads."""
    leads = duck.sql("select lead_id from leads order by lead_id").pl()
    samples = [leads.gather_every(5), leads.gather_every(9, offset=2)]
    expected, own = [], duck.cursor()  # its own cursor: the module's keeps its registrations
    for sample in samples:
        own.register("chosen_leads", sample)
        expected.append(db.run(own, "lead_events"))
        own.unregister("chosen_leads")
    own.close()
    assert expected[0].height != expected[1].height
    cursors = [spark_con.cursor(), spark_con.cursor()]

    def ask(i: int) -> list[pl.DataFrame]:
        cur, got = cursors[i], []
        for _ in range(3):
            cur.register("chosen_leads", samples[i])
            try:
                got.append(db.run(cur, "lead_events"))
            finally:
                cur.unregister("chosen_leads")
        return got

    answers = fx.at_once(ask, 2)
    for i, got in enumerate(answers):
        for frame in got:
            _same(expected[i], frame, f"cursor {i}")
    # a cursor that registered nothing sees no other cursor's view
    cursors[0].register("chosen_leads", samples[0])
    try:
        with pytest.raises(Exception, match="chosen_leads"):
            db.run(cursors[1], "lead_events")
        # a query's own CTE of a registered name stays its own
        assert cursors[0].execute(
            "with chosen_leads as (select 1 as x) select x from chosen_leads"
        ).fetchall() == [(1,)]
    finally:
        cursors[0].unregister("chosen_leads")
    for cur in cursors:
        cur.close()


def test_the_fixture_reaches_the_edges(duck, registered):
    """The comparisons above are about something: the edge rows are in the results."""
    odd = db.run(duck, "funnel_by_quarter", channel=ODD_CHANNEL, fy_start_month=1)
    assert odd.select(pl.sum("count_leads", "count_customers", "revenue")).row(0) == (1, 1, 1234.5)
    events = db.run(duck, "lab_check_events", event_types=["pricing_page_view"])
    assert events.height > 2 and db.run(duck, "lead_events").height > 50


def test_export_writes_every_table_and_keeps_an_existing_directory(
    duck, duck_path, parquet_dir, capsys
):
    for table in db.CANONICAL_TABLES:
        written = pl.read_parquet(parquet_dir / table / "data.parquet")
        assert written.equals(duck.table(table).pl()), table
    assert cli.main(["export-parquet", "--db", str(duck_path), "--out", str(parquet_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (parquet_dir / "leads" / "data.parquet").exists()


def test_partial_lake_reads_as_empty_tables(parquet_dir, tmp_path, duck_path):
    """A lake without events, spend or targets still answers: those tables are empty."""
    partial = tmp_path / "partial"
    shutil.copytree(parquet_dir, partial)
    for table in ("events", "spend", "targets"):
        shutil.rmtree(partial / table)
    cur = spark_engine.SparkConnection(partial).cursor()
    cur.register("mql_moments", db.run(cur, "recorded_mql_moments"))
    funnel = db.run(cur, "funnel_by_quarter", channel=None, fy_start_month=1)
    assert funnel["spend"].sum() == 0 and funnel["count_leads"].sum() == 403
    assert db.run(cur, "lab_check_events", event_types=["demo_request"]).height == 0


def test_lake_missing_a_column_is_named(parquet_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(parquet_dir, broken)
    frame = pl.read_parquet(broken / "leads" / "data.parquet").drop("channel")
    frame.write_parquet(broken / "leads" / "data.parquet")
    with pytest.raises(db.FunnelcastError, match=r"broken/leads: missing column\(s\) channel"):
        spark_engine.SparkConnection(broken)


def test_spark_refuses_to_write(spark):
    with pytest.raises(db.FunnelcastError, match="write with DuckDB"):
        spark.execute("insert into targets values (date '2027-01-01', 5, null)")


# ===== the traps =====

PROBES = {
    "ordered list": (
        "select list(x order by k) as xs, list_slice(list(x order by x) filter (where x is not "
        "null), 1, 2) as first_two from (values (3, 'c'), (1, 'a'), (4, null), (2, 'b')) t(k, x)",
        {},
    ),
    "ordered string_agg": (
        "select g, string_agg(x, ',' order by x) as xs from (values (1, 'b'), (1, 'a'), "
        "(2, 'z'), (1, 'c')) t(g, x) group by g order by g",
        {},
    ),
    "interval parameters": (
        "select $t::timestamp + to_seconds($s::double * 86400) as later, "
        "$t::timestamp - to_months($m - 1) as earlier, $d::date - to_months($m) as day_earlier",
        {"t": dt.datetime(2026, 5, 31, 12, 0), "s": 1.5, "m": 4, "d": dt.date(2026, 3, 31)},
    ),
    "week starts": (
        "select d, date_trunc('week', d) as week, dayofweek(d) as dow, isodow(d) as iso "
        "from (select unnest($days::date[]) as d) order by d",
        {"days": [dt.date(2026, 3, 1) + dt.timedelta(days=i) for i in range(8)]},
    ),
    "time zones": (
        "select epoch_us($t::timestamp) as us, epoch($t::timestamp) as s, "
        "cast($t::timestamp as date) as day, "
        "epoch($t::timestamp) - epoch($u::timestamp) as gap",
        {"t": dt.datetime(2026, 3, 31, 23, 59, 59, 999999), "u": dt.datetime(2026, 3, 29, 1, 30)},
    ),
    "integer division": (
        "select 7 / 2 as a, -7 // 2 as b, 7 // 2 as c, count(*) / 4 as d, "
        "sum(x) / count(*) as e from (values (1), (2)) t(x)",
        {},
    ),
    "null ordering": (
        "select x, row_number() over (order by x) as asc_n, "
        "row_number() over (order by x desc) as desc_n from (values (2), (null), (1)) t(x) "
        "order by x",
        {},
    ),
    "fiscal quarters": (  # queries/shared.sql's macro, written out on Spark
        "select d, m, fiscal_quarter_start(d, m) as quarter_start "
        "from (select unnest($days::date[]) as d), "
        "(select unnest(range(1, 13)) as m) order by d, m",
        {
            "days": [dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(0, 730, 3)]
            + [dt.date(2025, month, 1) - dt.timedelta(days=1) for month in range(2, 13)]
        },
    ),
    "round at a half": (
        "select x, round(x, 6) as r from (select unnest($xs::double[]) as x) order by x",
        {"xs": [round(i * 1e-6 + 5e-7, 7) for i in range(0, 400)] + [49.9999995, 0.1234565]},
    ),
    "exact percentiles": (
        "select quantile_cont(x, 0.9) as q, percentile_cont(0.25) within group (order by x) as p "
        "from (values (1.0), (2.0), (3.0), (4.0), (10.0)) t(x)",
        {},
    ),
    "text parameter": ("select $s as s, $s = $s as same", {"s": ODD_CHANNEL + " --"}),
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_translation_keeps_meaning(probe, duck, spark):
    sql, params = PROBES[probe]
    expected = duck.sql(sql, params=params).pl()
    _same(expected, spark.sql(sql, params).pl(), probe)


def test_fiscal_quarters_match_python_calendar(duck):
    """The fiscal-quarter macro both engines compare is the calendar periods.py keeps."""
    sql, params = PROBES["fiscal quarters"]
    for d, m, start in duck.sql(sql, params=params).fetchall():
        assert start == periods.quarter_of(d, m).start, (d, m)


def test_probes_catch_a_wrong_session_time_zone(duck, spark_con, spark):
    sql, params = PROBES["time zones"]
    expected = duck.sql(sql, params=params).pl()
    spark_con.spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        with pytest.raises(AssertionError):
            _same(expected, spark.sql(sql, params).pl(), "time zones, New York session")
    finally:
        spark_con.spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert spark_con.spark.conf.get("spark.sql.session.timeZone") == "UTC"


def test_probes_catch_sparks_own_rounding(duck, spark):
    """Without the rewrite, Spark's round(x, 6) differs from DuckDB's at some halves."""
    _, params = PROBES["round at a half"]
    expected = (
        duck.sql(
            "select x, round(x, 6) as r from (select unnest($xs::double[]) as x)", params=params
        )
        .pl()
        .sort("x")
    )
    native = spark.query(
        "select x, round(x, 6) as r from (select explode(cast(:xs as array<double>)) as x)",
        {"xs": params["xs"]},
    ).sort("x")
    differ = (expected["r"] - native["r"]).abs() > 1e-9
    assert differ.sum() > 0 and expected.filter(differ)["x"].to_list()[0] == pytest.approx(1.245e-4)


def test_untranslatable_sql_says_so():
    with pytest.raises(spark_sql.UntranslatableQuery, match="without order by"):
        spark_sql.to_spark("select list(x) from t")
    with pytest.raises(spark_sql.UntranslatableQuery, match="exclude"):
        spark_sql.to_spark("select * exclude (b) from t")
    with pytest.raises(spark_sql.UntranslatableQuery, match="DuckDB only"):
        spark_sql.query("schema")
    with pytest.raises(spark_sql.UntranslatableQuery, match=r"fiscal_quarter_start\(\) takes 2"):
        spark_sql.to_spark("select fiscal_quarter_start(d) from t")


def test_shared_macros_are_written_out_for_spark():
    """Spark has no macros: a query's every call of one of shared.sql's comes out as its body,
    arguments in place (a table macro as a subquery), macros calling macros too."""
    macros = set(spark_sql.shared_macros())
    assert {"fiscal_quarter_start", "won_deals", "quarter_spend", "lead_fit_points"} <= macros
    call = re.compile(rf"\b({'|'.join(macros)})\s*\(", re.IGNORECASE)
    calling = 0
    for path in sorted(db.QUERIES_DIR.glob("*.sql")):
        if path.stem in spark_sql.DUCKDB_ONLY:
            continue
        uncommented = re.sub(r"--[^\n]*", "", db.query_text(path.stem))
        calling += bool(call.search(uncommented))
        spark_text = re.sub(r"/\*.*?\*/", "", spark_sql.query(path.stem), flags=re.DOTALL)
        assert not call.search(spark_text), path.stem
    assert calling >= 20  # most queries call one


# ===== the CLI and the Threshold Lab on Spark =====


def _stdout(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(argv) == 0
    return out.getvalue()


def test_metrics_command_on_spark_prints_duckdbs_json(duck_path, parquet_dir, spark_con):
    args = ["metrics", "--quarter", "2026Q1", "--format", "json"]
    on_duckdb = json.loads(_stdout([*args, "--db", str(duck_path)]))
    on_spark = json.loads(_stdout([*args, "--engine", "spark", "--parquet", str(parquet_dir)]))
    assert on_spark == on_duckdb
    assert on_duckdb["mqls"] > 0 and on_duckdb["customers"] > 0


def _close(a, b, where="") -> None:
    """Assert two JSON values are equal, floats to 1e-9 (Spark sums in another order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize(
    "command",
    [
        ["funnel", "--quarter", "2026Q2"],
        ["roi", "--quarter", "2026Q1"],
        ["plan", "--target-customers", "12"],
    ],
)
def test_report_commands_on_spark_print_duckdbs_json(command, duck_path, parquet_dir, spark_con):
    args = [*command, "--format", "json"]
    on_duckdb = json.loads(_stdout([*args, "--db", str(duck_path)]))
    on_spark = json.loads(_stdout([*args, "--engine", "spark", "--parquet", str(parquet_dir)]))
    _close(on_duckdb, on_spark, command[0])


def test_engine_options_say_what_is_missing(capsys, monkeypatch):
    monkeypatch.delenv("FUNNELCAST_PARQUET", raising=False)
    monkeypatch.delenv("FUNNELCAST_ENGINE", raising=False)
    assert cli.main(["metrics", "--engine", "spark"]) == 2
    assert "needs a Parquet directory" in capsys.readouterr().err
    assert cli.main(["metrics"]) == 2
    assert "needs --db FILE" in capsys.readouterr().err
    monkeypatch.setenv("FUNNELCAST_ENGINE", "hive")
    assert cli.main(["metrics", "--db", "x.duckdb"]) == 2
    assert "is not an engine" in capsys.readouterr().err


def test_driver_memory_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv("FUNNELCAST_SPARK_DRIVER_MEMORY", raising=False)
    assert spark_engine.local_conf()["spark.driver.memory"] == "4g"
    monkeypatch.setenv("FUNNELCAST_SPARK_DRIVER_MEMORY", " 12G ")
    assert spark_engine.local_conf()["spark.driver.memory"] == "12g"
    assert spark_engine.LOCAL_CONF["spark.driver.memory"] == "4g"  # the default is not changed
    for bad in ("12 gb", "-4g", "lots", "0g"):
        monkeypatch.setenv("FUNNELCAST_SPARK_DRIVER_MEMORY", bad)
        with pytest.raises(db.FunnelcastError, match="FUNNELCAST_SPARK_DRIVER_MEMORY.*heap size"):
            spark_engine.local_conf()


def test_threshold_lab_materialises_from_spark(duck, spark):
    """The Lab's in-memory inputs (per lead, per check) come out the same from Spark."""
    definition = definitions.current(duck)
    from_duckdb = lab.materialise_for(duck, definition)
    from_spark = lab.materialise_for(spark, definition)
    for name in (
        "created_us",
        "recorded_mql_us",
        "reached_sql_us",
        "reached_customer_us",
        "check_at",
        "check_start",
        "decay",
    ):
        np.testing.assert_array_equal(getattr(from_spark, name), getattr(from_duckdb, name), name)
    assert from_spark.lead_id.to_list() == from_duckdb.lead_id.to_list()
    assert from_spark.codes.keys() == from_duckdb.codes.keys()
    for attribute in from_duckdb.codes:
        np.testing.assert_array_equal(from_spark.codes[attribute], from_duckdb.codes[attribute])
    threshold = definition.threshold
    results = [
        lab.backtest(m, lab.score(m, definition), threshold) for m in (from_duckdb, from_spark)
    ]
    assert results[1].totals == results[0].totals
    assert results[0].quarters.equals(results[1].quarters)
    assert results[0].totals["mqls"] > 0
