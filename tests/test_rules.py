"""Fit rules on any field, with operators: which leads each one matches, counted by hand.

Six leads with built-in fields (industry, company_size, created_at) and custom attributes of
every type (written into lead_attributes / lead_attribute_types as the importer does). For each
operator and field type the leads it matches are listed by hand below; every case is checked
through the fit points (queries/lead_fit_points.sql), the scores (queries/lead_scores.sql), the
MQL moments (definitions.scoring.computed_mql_moments), a draft's match counts
(queries/rule_match_counts.sql) and the Lab's numpy matcher (operators.matches). Then the
edges (negative points, a disqualifier on a yes/no field, per unit with a cap), hostile names
and values, and properties on random data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

import duckdb
import fixtures as fx
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelcast import definitions as defs
from funnelcast import lab
from funnelcast.data import db
from funnelcast.definitions import Definition, FitRule, operators, scoring

AS_OF = dt.datetime(2026, 12, 31)
CUSTOM = {
    "TotalVisits": operators.NUMBER,
    "Job Function": operators.TEXT,
    "Do Not Email": operators.YES_NO,
    "Last Activity Date": operators.DATE,
}
# lead: created_at, industry, company_size, and its custom attributes (absent: unknown)
LEADS = {
    "a": (
        "2026-01-01",
        "Software",
        40,
        {
            "TotalVisits": 0,
            "Job Function": "Marketing",
            "Do Not Email": "No",
            "Last Activity Date": "2026-01-10",
        },
    ),
    "b": (
        "2026-01-05",
        "software",
        50,
        {
            "TotalVisits": 3,
            "Job Function": "Sales Ops",
            "Do Not Email": "Yes",
            "Last Activity Date": "2025-12-20",
        },
    ),
    "c": (
        "2026-01-10",
        "Retail",
        5000,
        {"TotalVisits": 5, "Job Function": "sales", "Last Activity Date": "2026-03-01"},
    ),
    "d": (
        "2026-01-15",
        None,
        5001,
        {"TotalVisits": 12.5, "Job Function": "Marketing Ops", "Do Not Email": "No"},
    ),
    "e": (
        "2026-02-01",
        "Software Services",
        None,
        {"Do Not Email": "Yes", "Last Activity Date": "2026-02-01"},
    ),
    "f": (
        "2026-02-10",
        "Retail",
        200,
        {"TotalVisits": 40, "Job Function": "Engineering", "Last Activity Date": "2025-11-01"},
    ),
}
ALL = set(LEADS)


def stored_value(field_type: str, value) -> tuple[str | None, float | None]:
    """Return (text_value, number_value) as lead_attributes holds a value of the type."""
    if field_type == operators.TEXT:
        return value, None
    if field_type == operators.YES_NO:
        return None, 1.0 if value == "Yes" else 0.0
    if field_type == operators.DATE:
        return None, operators.seconds(dt.date.fromisoformat(value))
    return None, float(value)


def add_custom(
    con: duckdb.DuckDBPyConnection, types: dict[str, str], values: dict[str, dict[str, object]]
) -> None:
    """Write custom attributes as the importer does: their types, then one row per lead and
    attribute it has a value for."""
    con.executemany(
        "insert into lead_attribute_types (attribute, value_type) values (?, ?)",
        list(types.items()),
    )
    rows = [
        (lead, name, *stored_value(types[name], value))
        for lead, own in values.items()
        for name, value in own.items()
    ]
    if rows:
        con.executemany("insert into lead_attributes values (?, ?, ?, ?)", rows)


def database() -> duckdb.DuckDBPyConnection:
    journeys = [
        fx.Journey(
            lead,
            created,
            attributes={
                k: v for k, v in (("industry", industry), ("company_size", size)) if v is not None
            },
        )
        for lead, (created, industry, size, _) in LEADS.items()
    ]
    con = fx.build(journeys)
    add_custom(con, CUSTOM, {lead: own for lead, (*_, own) in LEADS.items()})
    return con


@pytest.fixture(scope="module")
def con():
    con = database()
    yield con
    con.close()


@pytest.fixture
def cur(con):
    cur = con.cursor()
    yield cur
    cur.close()


def save(cur, *rules: FitRule, threshold: float = 1) -> int:
    """Save a definition of these rules alone (each save a new version); return its id."""
    draft = Definition(
        name="rules under test", threshold=threshold, half_life_days=30, fit_rules=rules
    )
    return defs.save(cur, draft, "2027Q1", replace=True).definition_id


def fit_points(cur, definition_id: int) -> dict[str, float]:
    fit = db.run(cur, "lead_fit_points", definition_id=definition_id)
    return dict(zip(fit["lead_id"], fit["fit_points"], strict=True))


def above_threshold(cur, definition_id: int) -> set[str]:
    scores = db.run(cur, "lead_scores", definition_id=definition_id, as_of=AS_OF)
    return set(scores.filter(pl.col("is_above_threshold"))["lead_id"])


def mql_moments(cur, definition_id: int) -> dict[str, dt.datetime]:
    moments = scoring.computed_mql_moments(cur, definition_id)
    return dict(zip(moments["lead_id"], moments["mql_at"], strict=True))


def created(lead: str) -> dt.datetime:
    return dt.datetime.fromisoformat(LEADS[lead][0])


def lead_value(lead: str, field: str):
    """Return a lead's value of a field as the fixture gives it (None: unknown)."""
    created_at, industry, size, own = LEADS[lead]
    builtin = {"industry": industry, "company_size": size, "created_at": created_at}
    return builtin[field] if field in builtin else own.get(field)


def numpy_matches(rule: FitRule) -> set[str]:
    """Return the leads the Lab's numpy matcher says the (saved) rule matches."""
    fields = {**defs.BUILTIN_FIELDS, **CUSTOM}
    field_type = fields[rule.attribute]
    compiled = operators.compile_rule(field_type, rule.op, rule.value)
    leads = sorted(LEADS)
    values = [lead_value(lead, rule.attribute) for lead in leads]
    known = np.array([v is not None for v in values])
    created_s = np.array([operators.seconds(created(lead)) for lead in leads])
    if field_type == operators.TEXT:
        texts = np.array([v if v is not None else "" for v in values], dtype=object)
        hit = operators.matches(compiled, texts=texts, known=known, created_s=created_s)
    else:
        numbers = np.array(
            [math.nan if v is None else stored_value(field_type, v)[1] for v in values]
        )
        hit = operators.matches(compiled, numbers=numbers, known=known, created_s=created_s)
    return {lead for lead, h in zip(leads, hit, strict=True) if h}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# (field, operator, value) -> the leads it matches, counted by hand from LEADS above.
CASES = [
    # text, built-in: `is` and the lists match exactly; contains / starts with ignore case
    ("industry", "is", "Software", {"a"}),
    ("industry", "is any of", ("Software", "Retail"), {"a", "c", "f"}),
    ("industry", "is none of", ("Software", "Retail"), {"b", "e"}),  # d: unknown
    ("industry", "contains", "soft", {"a", "b", "e"}),
    ("industry", "contains", "SERVICES", {"e"}),
    ("industry", "starts with", "SOFTWARE", {"a", "b", "e"}),
    ("industry", "starts with", "services", set()),
    ("industry", "is known", None, ALL - {"d"}),
    ("industry", "is unknown", None, {"d"}),
    # text, custom
    ("Job Function", "is", "sales", {"c"}),
    ("Job Function", "is any of", ("Marketing", "sales"), {"a", "c"}),
    ("Job Function", "is none of", ("Marketing",), {"b", "c", "d", "f"}),  # e: unknown
    ("Job Function", "contains", "OPS", {"b", "d"}),
    ("Job Function", "starts with", "sales", {"b", "c"}),
    ("Job Function", "is known", None, ALL - {"e"}),
    ("Job Function", "is unknown", None, {"e"}),
    # number, custom: 0 is a value, not a missing one; only `is unknown` matches e
    ("TotalVisits", "is", 0, {"a"}),
    ("TotalVisits", "<", 5, {"a", "b"}),
    ("TotalVisits", "<=", 5, {"a", "b", "c"}),
    ("TotalVisits", ">", 5, {"d", "f"}),
    ("TotalVisits", ">=", 5, {"c", "d", "f"}),
    ("TotalVisits", "between", (3, 12.5), {"b", "c", "d"}),
    ("TotalVisits", "between", (5, None), {"c", "d", "f"}),
    ("TotalVisits", "between", (None, 3), {"a", "b"}),
    ("TotalVisits", "is known", None, ALL - {"e"}),
    ("TotalVisits", "is unknown", None, {"e"}),
    # number, built-in
    ("company_size", "is", 5000, {"c"}),
    ("company_size", "between", (50, 5000), {"b", "c", "f"}),
    ("company_size", ">", 5000, {"d"}),
    ("company_size", "is unknown", None, {"e"}),
    # yes/no, custom
    ("Do Not Email", "is", "Yes", {"b", "e"}),
    ("Do Not Email", "is", "no", {"a", "d"}),
    ("Do Not Email", "is known", None, {"a", "b", "d", "e"}),
    ("Do Not Email", "is unknown", None, {"c", "f"}),
    # date, custom: before / after exclusive, between inclusive, within either side
    ("Last Activity Date", "before", day("2026-01-01"), {"b", "f"}),
    ("Last Activity Date", "after", day("2026-01-10"), {"c", "e"}),  # a: on the day
    ("Last Activity Date", "between", (day("2026-01-10"), day("2026-02-01")), {"a", "e"}),
    ("Last Activity Date", "between", (None, day("2025-12-20")), {"b", "f"}),
    # a 9 days after creation, b 16 days before it, e on the day; c 50, f 101 days away
    ("Last Activity Date", "within", 16, {"a", "b", "e"}),
    ("Last Activity Date", "within", 15, {"a", "e"}),
    ("Last Activity Date", "is known", None, ALL - {"d"}),
    ("Last Activity Date", "is unknown", None, {"d"}),
    # date, built-in
    ("created_at", "before", day("2026-01-10"), {"a", "b"}),  # c: created at its midnight
    ("created_at", "after", day("2026-02-01"), {"f"}),
    ("created_at", "between", ("2026-01-05", "2026-01-15"), {"b", "c", "d"}),
]
CASE_IDS = [f"{field} {op} {value}" for field, op, value, _ in CASES]


def test_the_cases_cover_every_operator_of_every_field_type():
    covered = {(({**defs.BUILTIN_FIELDS, **CUSTOM})[field], op) for field, op, _, _ in CASES}
    covered.add((operators.NUMBER, operators.PER_UNIT))  # its own tests below
    assert covered == {(kind, op) for kind, ops in operators.ALLOWED.items() for op in ops}


@pytest.mark.parametrize(("field", "op", "value", "expected"), CASES, ids=CASE_IDS)
def test_each_operator_matches_the_leads_counted_by_hand(cur, field, op, value, expected):
    definition_id = save(cur, FitRule(field, value, 1, op=op))
    assert fit_points(cur, definition_id) == {lead: float(lead in expected) for lead in LEADS}
    assert above_threshold(cur, definition_id) == expected
    assert mql_moments(cur, definition_id) == {lead: created(lead) for lead in expected}
    saved = defs.load(cur, definition_id).fit_rules[0]
    assert numpy_matches(saved) == expected
    assert lab_mqls(cur, definition_id) == expected
    counts = db.run(
        cur, "rule_match_counts", **defs.fit_rule_lists(defs.load(cur, definition_id), fields())
    )
    assert counts["matched_leads"].to_list() == [len(expected)]


def lab_mqls(cur, definition_id: int, threshold: float = 1) -> set[str]:
    """Return the leads the Threshold Lab's engine makes MQLs under a saved definition."""
    definition = defs.load(cur, definition_id)
    m = lab.materialise_for(cur, definition)
    moments = lab.moments_frame(m, lab.mql_moments(m, definition, threshold))
    return set(moments["lead_id"])


def fields() -> dict[str, str]:
    return {**defs.BUILTIN_FIELDS, **CUSTOM}


def test_per_unit_gives_points_per_unit_up_to_the_cap(cur):
    # 2 points a visit, at most 20: a 0, b 3 x 2, c 5 x 2, d 12.5 x 2 = 25 -> 20, f 80 -> 20
    definition_id = save(cur, FitRule("TotalVisits", None, 2, op="per unit", cap=20), threshold=10)
    expected = {"a": 0.0, "b": 6.0, "c": 10.0, "d": 20.0, "e": 0.0, "f": 20.0}
    assert fit_points(cur, definition_id) == expected
    assert above_threshold(cur, definition_id) == {"c", "d", "f"}
    assert mql_moments(cur, definition_id) == {lead: created(lead) for lead in "cdf"}
    assert lab_mqls(cur, definition_id, 10) == {"c", "d", "f"}
    assert lab_mqls(cur, definition_id, 20) == {"d", "f"}
    # no cap: a head count times 0.01 (e has none)
    definition_id = save(cur, FitRule("company_size", None, 0.01, op="per unit"), threshold=50)
    points = fit_points(cur, definition_id)
    assert points == pytest.approx({"a": 0.4, "b": 0.5, "c": 50, "d": 50.01, "e": 0, "f": 2})
    assert above_threshold(cur, definition_id) == {"c", "d"}
    assert lab_mqls(cur, definition_id, 50) == {"c", "d"}
    assert lab_mqls(cur, definition_id, 50.005) == {"d"}


def test_negative_points_take_away(cur):
    # Retail -5 (c, f), 200 employees or more +10 (c 5000, d 5001, f 200)
    definition_id = save(
        cur,
        FitRule("industry", "Retail", -5),
        FitRule("company_size", 200, 10, op=">="),
        threshold=10,
    )
    assert fit_points(cur, definition_id) == {
        "a": 0.0,
        "b": 0.0,
        "c": 5.0,
        "d": 10.0,
        "e": 0.0,
        "f": 5.0,
    }
    assert above_threshold(cur, definition_id) == {"d"}
    assert mql_moments(cur, definition_id) == {"d": created("d")}
    assert lab_mqls(cur, definition_id, 10) == {"d"}
    assert lab_mqls(cur, definition_id, 5) == {"c", "d", "f"}


def test_a_disqualifier_on_a_custom_yes_no_field(cur):
    # 10 points for any visits (a, b, c, d, f); Do Not Email = Yes (b, e) never qualifies
    definition_id = save(
        cur,
        FitRule("TotalVisits", 0, 10, op=">="),
        FitRule("Do Not Email", "Yes", 0, True),
        threshold=10,
    )
    scores = db.run(cur, "lead_scores", definition_id=definition_id, as_of=AS_OF)
    by_lead = {r["lead_id"]: (r["score"], r["is_disqualified"]) for r in scores.to_dicts()}
    assert by_lead == {
        "a": (10, False),
        "b": (10, True),  # keeps its score, but can never be an MQL
        "c": (10, False),
        "d": (10, False),
        "e": (0, True),
        "f": (10, False),
    }
    assert above_threshold(cur, definition_id) == {"a", "c", "d", "f"}
    assert set(mql_moments(cur, definition_id)) == {"a", "c", "d", "f"}
    assert lab_mqls(cur, definition_id, 10) == {"a", "c", "d", "f"}


def test_scores_as_of_a_moment_count_only_leads_created_by_then(cur):
    definition_id = save(cur, FitRule("TotalVisits", 5, 1, op=">="))
    scores = db.run(cur, "lead_scores", definition_id=definition_id, as_of=dt.datetime(2026, 1, 12))
    assert dict(zip(scores["lead_id"], scores["is_above_threshold"], strict=True)) == {
        "a": False,
        "b": False,
        "c": True,
    }


# =====================================================================================
# warnings before a save: a rule on any field that matches no lead
# =====================================================================================


def test_save_warnings_name_rules_that_match_no_lead_with_what_the_field_holds(cur):
    draft = Definition(
        name="typos",
        threshold=1,
        half_life_days=30,
        fit_rules=(
            FitRule("Job Function", "Sales", 5),  # exact: the data has "sales", "Sales Ops"
            FitRule("TotalVisits", 100, 5, op=">"),
            FitRule("Last Activity Date", day("2027-01-01"), 5, op="after"),
            FitRule("Do Not Email", "Yes", 5),  # matches b and e: no warning
            FitRule("industry", None, 0, True, op="is known"),  # disqualifies all but d
            FitRule("created_at", None, 0, True, op="is known"),
        ),
    )
    warnings = defs.save_warnings(cur, draft, "2027Q1")
    # in the definition's order: built-in fields of the old six first, then by name
    assert warnings == [
        "fit rule Job Function=Sales matches no lead (Job Function values in the data: "
        "Engineering, Marketing, Marketing Ops, Sales Ops, sales)",
        "fit rule Last Activity Date after 2027-01-01 matches no lead (Last Activity Date in "
        "the data: 2025-11-01 to 2026-03-01)",
        "fit rule TotalVisits > 100 matches no lead (TotalVisits in the data: 0 to 40)",
        "fit rule created_at is known disqualifies every lead: no lead can become an MQL",
    ]


def test_save_warnings_say_nothing_of_rules_when_there_are_no_leads():
    con = fx.new_database()
    add_custom(con, CUSTOM, {})
    fx.add_journeys(con, [])
    draft = Definition(
        name="empty", threshold=1, half_life_days=30, fit_rules=(FitRule("TotalVisits", 5, 1),)
    )
    db.set_meta(con, "as_of", "2026-01-01")
    assert defs.save_warnings(con, draft, "2026Q3") == []
    con.close()


# =====================================================================================
# bad rules: refused, one line each, naming the rule; nothing saved
# =====================================================================================


BAD_RULES = {
    "no such field": (
        FitRule("Total Visits", 5, 1, op=">="),
        r"fit rule Total Visits ≥ 5: unknown field 'Total Visits' \(did you mean 'TotalVisits'\?\)",
    ),
    "operator the type does not allow": (
        FitRule("TotalVisits", "5", 1, op="contains"),
        r"fit rule TotalVisits contains 5: operator 'contains' does not apply to a number field",
    ),
    "value that is not a number": (
        FitRule("TotalVisits", "lots", 1, op=">"),
        r"fit rule TotalVisits > lots: '>' value must be a number, not 'lots'",
    ),
    "value that is not a date": (
        FitRule("Last Activity Date", "last week", 1, op="before"),
        r"'before' value must be a date \(YYYY-MM-DD\), not 'last week'",
    ),
    "value that is not yes or no": (
        FitRule("Do Not Email", "maybe", 0, True),
        r"fit rule Do Not Email=maybe: 'is' value must be Yes or No, not 'maybe'",
    ),
    "between with low above high": (
        FitRule("TotalVisits", (10, 5), 1, op="between"),
        r"fit rule TotalVisits between 10 and 5: 'between' low 10 is above high 5",
    ),
    "unknown operator": (
        FitRule("TotalVisits", 5, 1, op="like"),
        r"fit rule TotalVisits like 5: unknown operator 'like'",
    ),
    "cap on a rule that is not per unit": (
        FitRule("TotalVisits", 5, 1, op=">=", cap=3),
        r"fit rule TotalVisits ≥ 5: only a 'per unit' rule takes a cap",
    ),
    "the same rule twice, written two ways": (
        (FitRule("Do Not Email", "Yes", 1), FitRule("Do Not Email", "yes", 2)),
        r"fit rule Do Not Email=yes appears more than once",
    ),
}


@pytest.mark.parametrize("case", BAD_RULES)
def test_bad_rules_are_refused_in_one_line_and_nothing_is_saved(cur, case):
    rules, message = BAD_RULES[case]
    rules = rules if isinstance(rules, tuple) and isinstance(rules[0], FitRule) else (rules,)
    before = fx.rows(cur, "select count(*) from definitions")
    with pytest.raises(defs.DefinitionError, match=message) as raised:
        save(cur, *rules)
    assert "\n" not in str(raised.value)
    assert fx.rows(cur, "select count(*) from definitions") == before


def toml_with(*lines: str) -> str:
    return (
        'name = "x"\nthreshold = 1\nhalf_life_days = 30\n\nfit = [\n' + "\n".join(lines) + "\n]\n"
    )


BAD_FILE_RULES = {
    "no such field": (
        '  { field = "TotalVisit", op = ">=", value = 5, points = 10 },',
        r"draft.toml, line 8: fit rule TotalVisit ≥ 5: unknown field 'TotalVisit'",
    ),
    "operator the type does not allow": (
        '  { field = "Do Not Email", op = "<", value = 1, points = 10 },',
        r"draft.toml, line 8: fit rule Do Not Email < 1: operator '<' does not apply to a "
        r"yes/no field \(it allows: is, is known, is unknown\)",
    ),
    "value that does not parse": (
        '  { field = "Last Activity Date", op = "after", value = "soon", points = 1 },',
        r"draft.toml, line 8: fit rule Last Activity Date after soon: 'after' value must be a "
        r"date",
    ),
    "between with low above high": (
        '  { field = "TotalVisits", op = "between", low = 50, high = 5, points = 1 },',
        r"draft.toml, line 8: fit rule TotalVisits between 50 and 5: 'between' low 50 is above "
        r"high 5",
    ),
    "unknown operator": (
        '  { field = "TotalVisits", op = "approximately", value = 5, points = 1 },',
        r"draft.toml, line 8: fit rule TotalVisits approximately 5: unknown operator "
        r"'approximately' \(operators: is, ",
    ),
    "unknown key": (
        '  { field = "TotalVisits", op = ">=", value = 5, pionts = 1 },',
        r"draft.toml, line 8: fit rule TotalVisits ≥ 5: unknown key 'pionts'",
    ),
    "operand the operator does not take": (
        '  { field = "TotalVisits", op = "between", value = 5, points = 1 },',
        r"draft.toml, line 8: fit rule TotalVisits between … and …: 'between' takes low and "
        r"high, not value",
    ),
    "within without days": (
        '  { field = "Last Activity Date", op = "within", points = 1 },',
        r"draft.toml, line 8: fit rule Last Activity Date within N days of creation: 'within' "
        r"needs days",
    ),
}


@pytest.mark.parametrize("case", BAD_FILE_RULES)
def test_bad_rules_in_a_file_are_refused_with_the_file_and_line(case):
    line, message = BAD_FILE_RULES[case]
    # the bad rule is the second of three: a good one before it, one after
    # `fit = [` on line 5, a comment (with braces) on 6, a good rule on 7, the bad one on 8
    text = toml_with(
        "  # a { comment } first, then",
        '  { field = "seniority", op = "is", value = "v}p", points = 5 },  # { not a rule',
        line,
        '  { field = "TotalVisits", op = "per unit", points = 1, cap = 10 },',
    )
    with pytest.raises(defs.DefinitionError) as raised:
        defs.from_toml(text, source="draft.toml", fields=fields())
    assert len(raised.value.problems) == 1, raised.value.problems
    assert re.match(message, str(raised.value)), str(raised.value)


# =====================================================================================
# the file: every operator and type written readably and read back the same
# =====================================================================================

EVERY_KIND = Definition(
    name="every operator",
    threshold=40,
    half_life_days=30,
    fit_rules=(
        FitRule("industry", "Software", 5),
        FitRule("industry", ("Retail", "Software"), 4, op="is any of"),
        FitRule("industry", ("Retail",), -2, op="is none of"),
        FitRule("Job Function", "Ops", 3, op="contains"),  # kept as written, matched any case
        FitRule("Job Function", "SALES", 3, op="starts with"),
        FitRule("Job Function", None, -1, op="is unknown"),
        FitRule("TotalVisits", 0.0, -3, op="is"),
        FitRule("TotalVisits", 5.0, 10, op=">="),
        FitRule("TotalVisits", 2.5, 1, op="<"),
        FitRule("TotalVisits", 2.5, 1, op="<="),
        FitRule("TotalVisits", 2.5, 1, op=">"),
        FitRule("TotalVisits", None, 2, op="per unit", cap=20.0),
        FitRule("company_size", (50.0, 5000.0), 5, op="between"),
        FitRule("company_size", (None, 10.0), -5, op="between"),
        FitRule("company_size", None, 1, op="is known"),
        FitRule("Do Not Email", "Yes", 0, True),
        FitRule("Do Not Email", "No", 2),
        FitRule("Last Activity Date", day("2026-01-31"), 3, op="before"),
        FitRule("Last Activity Date", dt.datetime(2026, 1, 31, 10, 30), 3, op="after"),
        FitRule("Last Activity Date", (day("2026-01-01"), None), 3, op="between"),
        FitRule("Last Activity Date", 30.0, 3, op="within"),
        FitRule("created_at", None, 7, True, op="is unknown"),
    ),
)


def test_every_operator_and_type_round_trips_through_the_file(cur):
    text = defs.to_toml(EVERY_KIND, fields=fields())
    assert '    { field = "TotalVisits", op = ">=", value = 5, points = 10 },' in text
    assert (
        '    { field = "company_size", op = "between", low = 50, high = 5000, points = 5 },' in text
    )
    assert '    { field = "Do Not Email", op = "is", value = "Yes", disqualify = true },' in text
    assert '    { field = "Last Activity Date", op = "within", days = 30, points = 3 },' in text
    assert '    { field = "TotalVisits", op = "per unit", points = 2, cap = 20 },' in text
    assert '"Last Activity Date" (date)' in text  # the header lists the database's fields
    assert defs.from_toml(text) == EVERY_KIND
    assert defs.from_toml(text, fields=fields()) == EVERY_KIND
    # saved and loaded, then written and read again: the same
    saved = defs.load(cur, save(cur, *EVERY_KIND.fit_rules))
    assert saved.fit_rules == EVERY_KIND.fit_rules
    assert defs.from_toml(defs.to_toml(saved, fields=fields()), fields=fields()) == saved


def test_an_old_file_still_reads_as_is_rules():
    old = (
        'name = "2025"\nthreshold = 50\nhalf_life_days = 30\n\n'
        '[[fit]]\nattribute = "seniority"\nvalue = "vp"\npoints = 30\n\n'
        '[[fit]]\nattribute = "region"\nvalue = "apac"\npoints = 0\nis_disqualifier = true\n'
    )
    expected = Definition(
        name="2025",
        threshold=50,
        half_life_days=30,
        fit_rules=(FitRule("seniority", "vp", 30), FitRule("region", "apac", 0, True)),
    )
    assert defs.from_toml(old) == expected
    assert defs.from_toml(old, fields=defs.BUILTIN_FIELDS) == expected


def test_a_file_read_with_the_fields_comes_back_as_saved():
    text = toml_with(
        '  { field = "Do Not Email", op = "is", value = "yes", disqualify = true },',
        '  { field = "Job Function", op = "is any of", value = ["Sales", "Marketing", "Sales"] },',
        '  { field = "Last Activity Date", op = "before", value = "2026-01-31", points = 2 },',
        '  { field = "TotalVisits", op = "≥", value = "1,000", points = 2 },',
    )
    read = defs.from_toml(text, fields=fields())
    assert set(read.fit_rules) == {
        FitRule("Job Function", ("Marketing", "Sales"), 0, op="is any of"),
        FitRule("TotalVisits", 1000.0, 2, op=">="),
        FitRule("Do Not Email", "Yes", 0, True),
        FitRule("Last Activity Date", day("2026-01-31"), 2, op="before"),
    }


# =====================================================================================
# diff: by field and operator
# =====================================================================================


def test_diff_names_rules_by_field_and_operator():
    before = Definition(
        name="d",
        threshold=10,
        half_life_days=30,
        fit_rules=(
            FitRule("TotalVisits", 5.0, 10, op=">="),
            FitRule("TotalVisits", None, 2, op="per unit", cap=20.0),
            FitRule("company_size", (50.0, 5000.0), 5, op="between"),
            FitRule("Last Activity Date", 30.0, 3, op="within"),
        ),
    )
    after = Definition(
        name="d",
        threshold=10,
        half_life_days=30,
        fit_rules=(
            FitRule("TotalVisits", 5, 15, op="≥"),  # as a file may write it
            FitRule("TotalVisits", None, 2, op="per unit", cap=30.0),
            FitRule("company_size", (50.0, None), 5, op="between"),
            FitRule("Last Activity Date", 30.0, 0, True, op="within"),
            FitRule("Do Not Email", "Yes", 0, True),
        ),
    )
    # in the definitions' order (fields by name, then operator); a changed bound is a rule
    # removed and one added
    assert defs.diff(before, after) == [
        "fit rule Do Not Email=Yes: added as disqualifier",
        "fit rule Last Activity Date within 30 days of creation: now a disqualifier",
        "fit rule Last Activity Date within 30 days of creation: points 3 → 0",
        "fit rule TotalVisits ≥ 5: points 10 → 15",
        "fit rule TotalVisits per unit: cap 20 → cap 30",
        "fit rule company_size between 50 and 5000: removed (was 5 points)",
        "fit rule company_size between 50 and …: added with 5 points",
    ]
    assert defs.diff(after, after) == []


# =====================================================================================
# hostile names and values: bound, never spliced
# =====================================================================================

HOSTILE = (
    "Robert'); drop table leads; --",
    'say "hi"; -- \\ done',
    "Größe 🚀 名前",
    "new\nline {brace} [bracket] # hash = 1",
    "x" * 10_240,
)


def test_hostile_field_names_and_values_reach_sql_only_as_bound_values():
    con = fx.build([fx.Journey("a", "2026-01-01"), fx.Journey("b", "2026-01-02")])
    db.set_meta(con, "as_of", "2026-02-01")
    number = "n'; select 1; --"
    add_custom(
        con,
        {**{name: operators.TEXT for name in HOSTILE}, number: operators.NUMBER},
        {
            "a": {**{name: name for name in HOSTILE}, number: 7},
            "b": {**{name: "other" for name in HOSTILE}},
        },
    )
    rules = (
        *(FitRule(name, name, 1) for name in HOSTILE),
        # (upper case where it has one letter for each: ß would be SS)
        *(
            FitRule(name, name[:5].upper() if name.isascii() else name[:5], 1, op="starts with")
            for name in HOSTILE
        ),  # fmt: skip
        *(FitRule(name, (name, "--"), 1, op="is any of") for name in HOSTILE),
        FitRule(number, (1, 10), 1, op="between"),
        FitRule(number, None, 1, op="is unknown"),  # b
    )
    draft = Definition(name="'; drop table definitions; --", threshold=1, half_life_days=30,
                       fit_rules=rules, note="--")  # fmt: skip
    assert defs.save_warnings(con, draft, "2026Q3") == []
    saved = defs.save(con, draft, "2026Q3")
    assert defs.load(con, saved.definition_id) == saved
    assert saved.fit_rules == defs.normalised(draft, defs.lead_fields(con)).fit_rules
    assert fit_points(con, saved.definition_id) == {"a": 3 * len(HOSTILE) + 1, "b": 1}
    assert fx.rows(con, "select count(*) from leads") == [(2,)]

    fields = defs.lead_fields(con)
    text = defs.to_toml(saved, fields=fields)
    assert defs.from_toml(text, fields=fields) == saved
    changed = dataclasses.replace(
        saved, fit_rules=tuple(dataclasses.replace(r, points=2) for r in saved.fit_rules)
    )
    lines = defs.diff(saved, changed)
    assert len(lines) == len(rules) and all("\n" not in line for line in lines)
    assert all(len(line) < 300 for line in lines)

    # a rule on a 10 KB field that is not there: one line, of a readable length
    with pytest.raises(defs.DefinitionError) as raised:
        defs.save(con, dataclasses.replace(draft, fit_rules=(FitRule("y" * 10_240, "v", 1),)),
                  "2026Q4")  # fmt: skip
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 1500
    assert "unknown field 'yyyy" in str(raised.value)
    assert fx.rows(con, "select count(*) from definitions") == [(1,)]
    con.close()


# =====================================================================================
# properties on random data
# =====================================================================================

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
JOBS = ("Sales", "sales ops", "Marketing", "Eng", "MARKETING ops")
BASE = dt.datetime(2026, 1, 1)


@st.composite
def lead_sets(draw) -> dict[str, tuple[str, dict[str, object]]]:
    """Return 1-8 leads: creation, and custom values of each type (some unknown)."""
    leads = {}
    for i in range(draw(st.integers(1, 8))):
        created = BASE + dt.timedelta(days=draw(st.integers(0, 90)))
        own: dict[str, object] = {}
        visits = draw(st.one_of(st.none(), st.integers(0, 30), st.sampled_from([2.5, 0.1])))
        if visits is not None:
            own["TotalVisits"] = visits
        job = draw(st.one_of(st.none(), st.sampled_from(JOBS)))
        if job is not None:
            own["Job Function"] = job
        dne = draw(st.one_of(st.none(), st.sampled_from(["Yes", "No"])))
        if dne is not None:
            own["Do Not Email"] = dne
        shift = draw(st.one_of(st.none(), st.integers(-40, 40)))
        if shift is not None:
            own["Last Activity Date"] = (created + dt.timedelta(days=shift)).date().isoformat()
        leads[f"lead_{i}"] = (created.isoformat(), own)
    return leads


def random_database(leads) -> duckdb.DuckDBPyConnection:
    con = fx.build([fx.Journey(lead, created) for lead, (created, _) in leads.items()])
    add_custom(con, CUSTOM, {lead: own for lead, (_, own) in leads.items()})
    return con


numbers = st.one_of(st.integers(0, 30), st.sampled_from([2.5, 0.1, 12.25]))
POINTS = st.integers(-20, 20)
dates = st.integers(-10, 100).map(lambda d: (BASE + dt.timedelta(days=d)).date())


@st.composite
def random_rules(draw, points=POINTS) -> FitRule:
    """Return a valid rule on one of the custom fields, of any operator its type allows."""
    field = draw(st.sampled_from(sorted(CUSTOM)))
    field_type = CUSTOM[field]
    op = draw(st.sampled_from(operators.ALLOWED[field_type]))
    value: object = None
    cap = None
    if op in (operators.ANY_OF, operators.NONE_OF):
        value = tuple(sorted(draw(st.sets(st.sampled_from(JOBS), min_size=1))))
    elif op in (operators.IS, operators.CONTAINS, operators.STARTS_WITH):
        value = {
            operators.TEXT: st.sampled_from((*JOBS, "sal", "OPS", "x")),
            operators.NUMBER: numbers,
            operators.YES_NO: st.sampled_from(["Yes", "No"]),
        }[field_type]
        value = draw(value)
    elif op == operators.BETWEEN:
        ends = draw(st.lists(numbers if field_type == operators.NUMBER else dates, min_size=2,
                             max_size=2).map(sorted))  # fmt: skip
        low, high = ends
        value = draw(st.sampled_from([(low, high), (low, None), (None, high)]))
    elif op == operators.WITHIN:
        value = float(draw(st.integers(0, 45)))
    elif op in (operators.BEFORE, operators.AFTER):
        value = draw(dates)
    elif op in (operators.LT, operators.LE, operators.GT, operators.GE):
        value = draw(numbers)
    elif op == operators.PER_UNIT:
        cap = draw(st.one_of(st.none(), st.integers(0, 40)))
    rule = FitRule(field, value, draw(points), False, op, cap)
    return defs.normalised(
        Definition(name="r", threshold=1, half_life_days=1, fit_rules=(rule,)), fields()
    ).fit_rules[0]


def matched(con, definition_id: int) -> set[str]:
    rows = fx.rows(
        con, "select lead_id from lead_fit_matches where definition_id = $d", {"d": definition_id}
    )
    return {lead for (lead,) in rows}


@PROPERTY_SETTINGS
@given(leads=lead_sets(), rule=random_rules())
def test_sql_and_numpy_match_the_same_leads(leads, rule):
    con = random_database(leads)
    try:
        definition_id = save(con, dataclasses.replace(rule, points=1))
        names = sorted(leads)
        values = [leads[lead][1].get(rule.attribute) for lead in names]
        known = np.array([v is not None for v in values])
        created_s = np.array([operators.seconds(fx.at(leads[lead][0])) for lead in names])
        field_type = CUSTOM[rule.attribute]
        compiled = operators.compile_rule(field_type, rule.op, rule.value)
        if field_type == operators.TEXT:
            texts = np.array([v if v is not None else "" for v in values], dtype=object)
            hit = operators.matches(compiled, texts=texts, known=known, created_s=created_s)
        else:
            numbers_ = np.array(
                [math.nan if v is None else stored_value(field_type, v)[1] for v in values]
            )
            hit = operators.matches(compiled, numbers=numbers_, known=known, created_s=created_s)
        assert matched(con, definition_id) == {n for n, h in zip(names, hit, strict=True) if h}
    finally:
        con.close()


@PROPERTY_SETTINGS
@given(leads=lead_sets(), base=st.lists(random_rules(), max_size=3), extra=random_rules())
def test_a_rule_of_zero_points_changes_no_score(leads, base, extra):
    con = random_database(leads)
    try:
        base = list({r.key: r for r in base}.values())
        if extra.key in {r.key for r in base}:
            return
        before = save(con, *base)
        after = save(con, *base, dataclasses.replace(extra, points=0))
        scores = [
            db.run(con, "lead_scores", definition_id=d, as_of=AS_OF).drop("is_above_threshold")
            for d in (before, after)
        ]
        assert scores[0].equals(scores[1])
    finally:
        con.close()


@PROPERTY_SETTINGS
@given(
    leads=lead_sets(),
    field=st.sampled_from(["TotalVisits", "Last Activity Date"]),
    bounds=st.lists(st.integers(-10, 100), min_size=4, max_size=4).map(sorted),
    open_end=st.sampled_from([None, "low", "high"]),
)
def test_widening_a_between_never_removes_a_matching_lead(leads, field, bounds, open_end):
    # [b1, b2] inside [b0, b3]; the wider one may also leave an end open
    as_value = float if field == "TotalVisits" else lambda d: (BASE + dt.timedelta(days=d)).date()
    outer_low, low, high, outer_high = (as_value(b) for b in bounds)
    wider = (None if open_end == "low" else outer_low, None if open_end == "high" else outer_high)
    con = random_database(leads)
    try:
        narrow = save(con, FitRule(field, (low, high), 1, op="between"))
        wide = save(con, FitRule(field, wider, 1, op="between"))
        assert matched(con, narrow) <= matched(con, wide)
        narrow_points, wide_points = fit_points(con, narrow), fit_points(con, wide)
        assert all(narrow_points[lead] <= wide_points[lead] for lead in leads)
    finally:
        con.close()
