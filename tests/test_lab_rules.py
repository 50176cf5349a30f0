"""The Threshold Lab scores fit rules on any field, with any operator, as the SQL does.

A 2,500-lead demo gains custom attributes of every type (seeded random values, a share of
them unknown), and definitions with rules on them (every operator, per unit with a cap, a
disqualifier, negative points) are saved as versions. For each, the Lab's MQL moments and
backtests at several thresholds equal the reference SQL's (queries/computed_mql_moments.sql),
with the fast path on and off; a fit rule of 0 points changes no score; the field store reads
each field once and is shared by a half-life copy. (Each operator's matches counted by hand are
in test_rules, which also checks the Lab on them.)
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from test_lab import check_against_sql

from funnelcast import definitions as defs
from funnelcast import lab
from funnelcast.data import db
from funnelcast.definitions import Definition, FitRule, operators
from funnelcast.demo import build_demo

CUSTOM = {
    "Visit count": operators.NUMBER,
    "Role": operators.TEXT,
    "Opted in": operators.YES_NO,
    "Seen at": operators.DATE,
}
JOBS = ("Marketing", "Sales", "Engineering", "Finance", "Student")


@pytest.fixture(scope="module")
def con():
    con = db.connect(":memory:", create=True)
    build_demo(con, leads=2500, seed=5)
    leads = [r[0] for r in con.execute("select lead_id from leads order by lead_id").fetchall()]
    rng = np.random.default_rng(3)
    base = dt.datetime(2025, 1, 1).timestamp()
    rows = []
    for lead in leads:
        if rng.random() < 0.8:
            rows.append((lead, "Visit count", None, float(rng.integers(0, 25))))
        if rng.random() < 0.7:
            rows.append((lead, "Role", str(rng.choice(JOBS)), None))
        if rng.random() < 0.9:
            rows.append((lead, "Opted in", None, float(rng.random() < 0.3)))
        if rng.random() < 0.6:
            rows.append((lead, "Seen at", None, base + float(rng.integers(0, 700)) * 86400))
    con.executemany(
        "insert into lead_attribute_types (attribute, value_type) values (?, ?)",
        list(CUSTOM.items()),
    )
    con.executemany("insert into lead_attributes values (?, ?, ?, ?)", rows)
    yield con
    con.close()


RULE_SETS = {
    "numbers": (
        FitRule("Visit count", 5, 10, op=">="),
        FitRule("Visit count", (10, 20), 7.5, op="between"),
        FitRule("Visit count", 2, -4, op="<"),
        FitRule("company_size", 200, 6, op=">"),
    ),
    "texts": (
        FitRule("Role", ("Marketing", "Sales"), 12, op="is any of"),
        FitRule("Role", "eng", 5, op="starts with"),
        FitRule("Role", None, -3, op="is unknown"),
        FitRule("channel", ("paid_search", "events"), 4, op="is none of"),
        FitRule("industry", "soft", 3, op="contains"),
        FitRule("seniority", "director", 9),
    ),
    "yes/no and dates": (
        FitRule("Opted in", "Yes", 8),
        FitRule("Opted in", "No", 0, True),
        FitRule("Seen at", dt.date(2026, 1, 1), 6, op="after"),
        FitRule("Seen at", 30, 4, op="within"),
        FitRule("created_at", dt.date(2025, 6, 1), 2, op="before"),
        FitRule("Seen at", None, 1, op="is known"),
    ),
    "per unit": (
        FitRule("Visit count", None, 2, op="per unit", cap=20),
        FitRule("company_size", None, 0.01, op="per unit"),
    ),
}


def saved(cur, rules: tuple[FitRule, ...], quarter: str) -> Definition:
    """Save the demo's behaviour rules with these fit rules as a version; return it read back."""
    current = defs.load(cur, 1)
    draft = Definition(
        name="rules on any field",
        threshold=current.threshold,
        half_life_days=current.half_life_days,
        fit_rules=rules,
        behaviour_rules=current.behaviour_rules,
    )
    return defs.save(cur, draft, quarter, replace=True)


@pytest.mark.parametrize("name", list(RULE_SETS))
def test_the_lab_scores_rules_on_any_field_as_the_sql_does(con, name):
    cur = con.cursor()
    definition = saved(cur, RULE_SETS[name], "2031Q1")
    m = lab.materialise_for(cur, definition)
    assert set(m.field_store.values) >= {r.attribute for r in RULE_SETS[name]} - set(
        lab.FIT_ATTRIBUTES
    ) - {"created_at"}
    check_against_sql(cur, m, definition, definition.definition_id, [0, 20, 45, 65, 90])


def test_a_rule_of_zero_points_changes_no_score(con):
    cur = con.cursor()
    base = saved(cur, RULE_SETS["numbers"], "2031Q2")
    m = lab.materialise_for(cur, base)
    zero = FitRule("Role", ("Marketing",), 0, op="is any of")
    with_zero = Definition(
        name="zero",
        threshold=base.threshold,
        half_life_days=base.half_life_days,
        fit_rules=(*base.fit_rules, zero),
        behaviour_rules=base.behaviour_rules,
    )
    lab.read_fields_for(m, cur, with_zero)
    a, b = lab.score(m, base), lab.score(m, with_zero)
    np.testing.assert_array_equal(a.lead_max, b.lead_max)


def test_widening_a_between_never_removes_an_mql(con):
    cur = con.cursor()
    base = saved(cur, (FitRule("Visit count", (8, 12), 70, op="between"),), "2031Q3")
    m = lab.materialise_for(cur, base)
    found = []
    for low, high in ((8, 12), (6, 12), (6, 15), (None, 15), (None, 1000)):
        d = Definition(
            name="wider",
            threshold=base.threshold,
            half_life_days=base.half_life_days,
            fit_rules=(FitRule("Visit count", (low, high), 70, op="between"),),
            behaviour_rules=base.behaviour_rules,
        )
        found.append(set(lab.moments_frame(m, lab.mql_moments(m, d, 65))["lead_id"]))
    assert all(a <= b for a, b in zip(found, found[1:], strict=False))
    assert found[0] < found[-1]


def test_fields_are_read_once_and_shared_with_a_half_life_copy(con):
    cur = con.cursor()
    definition = saved(cur, RULE_SETS["per unit"], "2031Q4")
    m = lab.materialise_for(cur, definition)
    visits = m.field_store.values["Visit count"]
    lab.read_fields_for(m, cur, definition)
    assert m.field_store.values["Visit count"] is visits
    slower = lab.with_half_life(m, 75)
    assert slower.field_store is m.field_store


def test_a_rule_on_a_field_not_read_or_not_there_is_named(con):
    cur = con.cursor()
    base = defs.load(cur, 1)
    m = lab.materialise_for(cur, base)
    on_visits = Definition(
        name="visits",
        threshold=base.threshold,
        half_life_days=base.half_life_days,
        fit_rules=(FitRule("Visit count", 3, 5, op=">"),),
        behaviour_rules=base.behaviour_rules,
    )
    if "Visit count" not in m.field_store.values:
        with pytest.raises(lab.FieldNotLoaded, match="'Visit count' is not read"):
            lab.score(m, on_visits)
    lab.read_fields_for(m, cur, on_visits)
    lab.score(m, on_visits).release()
    nowhere = Definition(
        name="nowhere",
        threshold=base.threshold,
        half_life_days=base.half_life_days,
        fit_rules=(FitRule("Shoe size", 3, 5, op=">"),),
        behaviour_rules=base.behaviour_rules,
    )
    lab.read_fields_for(m, cur, nowhere)
    with pytest.raises(lab.FieldNotLoaded, match="'Shoe size'"):
        lab.score(m, nowhere)
