"""Versioned MQL definitions (funnelcast.definitions) and `funnelcast definition ...`.

Good input: save then load, TOML out and back in, the version in force per quarter, a readable
diff. Bad input: every kind of bad value is refused with a message naming what and where, and
the database is exactly as before; saving over an occupied quarter asks, and then keeps both.
The commands run in a subprocess, as a user runs them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import fixtures as fx
import polars as pl
import pytest

from funnelcast import definitions as defs
from funnelcast.data import db
from funnelcast.definitions import BehaviourRule, Definition, FitRule

REPO = Path(__file__).resolve().parent.parent
DEFINITION_TABLES = ("definitions", "definition_fit_rules", "definition_behaviour_rules")

# Three versions: 2025Q1, 2025Q3 and 2026Q1 (calendar quarters).
V1 = fx.Definition(
    definition_id=1,
    name="first",
    effective_from="2025-01-01",
    threshold=50,
    half_life_days=30,
    fit_rules=(("seniority", "vp", 30), ("region", "apac", 0, True)),
    behaviour_rules=(("demo_request", 80), ("content_download", 20, 30)),
    created_at="2024-12-01",
)
V2 = dataclasses.replace(
    V1,
    definition_id=2,
    name="second",
    effective_from="2025-07-01",
    threshold=60,
    created_at="2025-06-01",
)
V3 = dataclasses.replace(
    V1,
    definition_id=3,
    name="third",
    effective_from="2026-01-01",
    threshold=70,
    created_at="2025-12-01",
)
# Leads and events, so that saves can check rules against the data.
JOURNEYS = (
    fx.Journey(
        "a",
        "2025-02-01",
        "search",
        attributes={"seniority": "vp", "region": "europe"},
        events=[("demo_request", "2025-02-02"), ("content_download", "2025-02-03")],
    ),
    fx.Journey(
        "b",
        "2026-03-01",
        "social",
        attributes={"seniority": "intern", "region": "apac"},
        events=[("email_open", "2026-03-02")],
    ),
)

# A draft with every feature: a disqualifier, fractions, a negative weight, caps and no cap.
DRAFT = Definition(
    name="2026 tightened",
    threshold=72.5,
    half_life_days=21,
    fit_rules=(
        FitRule("seniority", "vp", 35),
        FitRule("seniority", "intern", 0, True),
        FitRule("company_size_band", "201-1000", 12.25),
        FitRule("region", "apac", 0, True),
    ),
    behaviour_rules=(
        BehaviourRule("demo_request", 90),
        BehaviourRule("content_download", 15, 30),
        BehaviourRule("unsubscribe", -20),
    ),
    note='Sales asked for fewer "maybe" leads.\nSee the Q4 review.',
)


def database(path: str | Path = ":memory:", *, as_of: str = "2026-02-15"):
    """Return a database with versions V1-V3, two leads and the data's today set to as_of."""
    con = fx.build(JOURNEYS, definitions=[V1, V2, V3], path=path)
    db.set_meta(con, "as_of", as_of)
    return con


def snapshot(cur) -> dict[str, list[tuple]]:
    """Return every row of the definition tables, sorted."""
    return {
        table: sorted(fx.rows(cur, f"select * from {table}"), key=repr)
        for table in DEFINITION_TABLES
    }


def stored(definition: Definition, saved: Definition) -> Definition:
    """Return the draft as it should read back after a save: with the stored id and dates."""
    return dataclasses.replace(
        definition,
        definition_id=saved.definition_id,
        effective_from=saved.effective_from,
        created_at=saved.created_at,
    )


@pytest.fixture
def cur():
    con = database()
    yield con.cursor()
    con.close()


# =====================================================================================
# the rules the schema allows
# =====================================================================================


def test_operators_fields_and_bands_are_the_schemas():
    from funnelcast.definitions import fields, operators

    schema = db.query_text("schema") + db.query_text("shared")
    check = re.search(r"operator in \(([^)]*)\)", schema).group(1)
    assert operators.OPERATORS == tuple(re.findall(r"'([^']+)'", check))
    check = re.search(r"field_type in \(([^)]*)\)", schema).group(1)
    assert operators.FIELD_TYPES == tuple(re.findall(r"'([^']+)'", check))
    view = schema[schema.index("create or replace view lead_field_values") :]
    view = view[: view.index("from lead_attributes")]
    assert tuple(fields.BUILTIN_FIELDS) == tuple(re.findall(r"select lead_id, '(\w+)'", view))
    assert set(defs.FIT_ATTRIBUTES) <= set(fields.BUILTIN_FIELDS)
    for band in defs.COMPANY_SIZE_BANDS:
        assert f"then '{band}'" in schema or f"else '{band}'" in schema, band


# =====================================================================================
# round trips
# =====================================================================================


def test_save_then_load_gives_the_same_definition(cur):
    saved = defs.save(cur, DRAFT, "2026Q3")
    assert saved.definition_id == 4
    assert saved.effective_from == dt.date(2026, 7, 1)
    assert saved == stored(DRAFT, saved)
    assert defs.load(cur, 4) == saved


def test_rules_in_any_order_make_the_same_definition():
    shuffled = dataclasses.replace(
        DRAFT, fit_rules=DRAFT.fit_rules[::-1], behaviour_rules=DRAFT.behaviour_rules[::-1]
    )
    assert shuffled == DRAFT
    assert hash(shuffled) == hash(DRAFT)


def test_toml_export_then_import_gives_the_same_definition(cur):
    assert defs.from_toml(defs.to_toml(DRAFT)) == DRAFT
    saved = defs.load(cur, 2)
    text = defs.to_toml(saved)
    assert "effective_from = 2025-07-01  # in force from 2025Q3" in text
    assert defs.from_toml(text) == saved
    # control characters and quotes survive, and the JSON form is plain data
    odd = dataclasses.replace(DRAFT, name='tab\there "q" \\ é \x7f \x01')
    assert defs.from_toml(defs.to_toml(odd)) == odd
    assert json.loads(json.dumps(defs.to_dict(saved)))["effective_from"] == "2025-07-01"


def test_new_version_is_an_unsaved_copy(cur):
    draft = defs.new_version_from(defs.load(cur, 3))
    assert (draft.definition_id, draft.effective_from, draft.created_at) == (None, None, None)
    assert defs.diff(defs.load(cur, 3), draft) == []


# =====================================================================================
# which version is in force
# =====================================================================================


@pytest.mark.parametrize(
    "quarter, expected",
    [
        ("2024Q4", None),
        ("2025Q1", 1),
        ("2025Q2", 1),
        ("2025Q3", 2),
        ("2025Q4", 2),
        ("2026Q1", 3),
        ("2027Q4", 3),
    ],
)
def test_in_force_for_quarter(cur, quarter, expected):
    found = defs.in_force_for_quarter(cur, quarter)
    assert (found.definition_id if found else None) == expected


def test_current_is_the_version_in_force_on_a_day(cur):
    assert defs.current(cur).definition_id == 3  # as_of 2026-02-15
    assert defs.current(cur, on=dt.date(2025, 6, 30)).definition_id == 1
    assert defs.current(cur, on=dt.date(2024, 1, 1)) is None


def test_list_versions_shows_the_quarters_each_is_in_force(cur):
    defs.save(cur, DRAFT, "2026Q3")
    versions = (
        defs.list_versions(cur)
        .select("definition_id", "first_quarter", "last_quarter", "in_force", "status")
        .rows()
    )
    assert versions == [
        (1, "2025Q1", "2025Q2", "2025Q1–2025Q2", "superseded"),
        (2, "2025Q3", "2025Q4", "2025Q3–2025Q4", "superseded"),
        (3, "2026Q1", "2026Q2", "2026Q1–2026Q2", "in force"),
        (4, "2026Q3", None, "2026Q3 onward", "scheduled"),
    ]


def test_quarters_follow_the_fiscal_year():
    con = fx.build(definitions=[V1], fy_start_month=2)
    # fiscal 2025Q4 runs November 2024 - January 2025, so 2025-01-01 takes effect in 2026Q1
    assert defs.list_versions(con)["first_quarter"].to_list() == ["2026Q1"]
    saved = defs.save(con, DRAFT, "2026Q3")
    assert saved.effective_from == dt.date(2025, 8, 1)
    con.close()


def test_next_quarter_follows_the_data(cur):
    assert defs.next_quarter(cur).label == "2026Q2"
    assert defs.save(cur, DRAFT, "next").effective_from == dt.date(2026, 4, 1)


# =====================================================================================
# diff
# =====================================================================================


def test_diff_reads_as_a_list_of_changes():
    before = Definition(
        name="Default",
        threshold=65,
        half_life_days=30,
        fit_rules=(
            FitRule("seniority", "vp", 20),
            FitRule("industry", "education", -5),
            FitRule("region", "mena", 0, True),
            FitRule("seniority", "junior", -10),
        ),
        behaviour_rules=(
            BehaviourRule("demo_request", 40),
            BehaviourRule("email_open", 1, 5),
            BehaviourRule("email_click", 3, 12),
        ),
    )
    after = Definition(
        name="Default",
        threshold=70,
        half_life_days=45,
        fit_rules=(
            FitRule("seniority", "vp", 25),
            FitRule("region", "mena", 0, True),
            FitRule("seniority", "intern", 0, True),
            FitRule("seniority", "junior", 0, True),
        ),
        behaviour_rules=(
            BehaviourRule("demo_request", 50),
            BehaviourRule("email_open", 1),
            BehaviourRule("email_click", 3, 12),
            BehaviourRule("pricing_page_view", 12.5, 25),
        ),
        note="tighter",
    )
    assert defs.diff(before, after) == [
        "threshold 65 → 70",
        "half-life 30 → 45 days",
        "fit rule industry=education: removed (was -5 points)",
        "fit rule seniority=intern: added as disqualifier",
        "fit rule seniority=junior: now a disqualifier",
        "fit rule seniority=junior: points -10 → 0",
        "fit rule seniority=vp: points 20 → 25",
        "behaviour 'demo_request' points 40 → 50",
        "behaviour 'email_open' cap 5 → none",
        "behaviour 'pricing_page_view' added with 12.5 points, cap 25",
        "note None → 'tighter'",
    ]
    assert defs.diff(after, after) == []


# =====================================================================================
# bad input: refused, named, and the database unchanged
# =====================================================================================


def with_fit(rule: FitRule) -> Definition:
    return dataclasses.replace(DRAFT, fit_rules=DRAFT.fit_rules + (rule,))


def with_behaviour(rule: BehaviourRule) -> Definition:
    return dataclasses.replace(DRAFT, behaviour_rules=DRAFT.behaviour_rules + (rule,))


BAD_DEFINITIONS = {
    "fit points too high": (
        with_fit(FitRule("industry", "software", 150)),
        r"fit rule industry=software: points 150 is outside \[-100, 100\]",
    ),
    "behaviour points too low": (
        with_behaviour(BehaviourRule("email_open", -101)),
        r"behaviour rule 'email_open': points -101 is outside",
    ),
    "points not a number": (
        with_fit(FitRule("industry", "software", "ten")),
        r"fit rule industry=software: points must be a number, not 'ten'",
    ),
    "negative cap": (
        with_behaviour(BehaviourRule("email_open", 1, -5)),
        r"behaviour rule 'email_open': cap -5 must be 0 or more",
    ),
    "threshold too high": (
        dataclasses.replace(DRAFT, threshold=1001),
        r"threshold 1001 is outside \[0, 1000\]",
    ),
    "negative threshold": (dataclasses.replace(DRAFT, threshold=-1), r"threshold -1 is outside"),
    "threshold not finite": (
        dataclasses.replace(DRAFT, threshold=float("nan")),
        r"threshold must be a number, not nan",
    ),
    "zero half-life": (
        dataclasses.replace(DRAFT, half_life_days=0),
        r"half-life 0 days must be more than 0 and at most 3650",
    ),
    "half-life too long": (
        dataclasses.replace(DRAFT, half_life_days=4000),
        r"half-life 4000 days must be",
    ),
    "unknown attribute": (
        with_fit(FitRule("colour", "red", 10)),
        r"fit rule colour=red: unknown field 'colour' \(fields: "
        r"channel, campaign, company, industry, company_size, company_size_band",
    ),
    "unknown band": (
        with_fit(FitRule("company_size_band", "10-50", 5)),
        r"fit rule company_size_band=10-50: unknown company size band '10-50'",
    ),
    "empty fit value": (with_fit(FitRule("industry", " ", 5)), r"value must be non-empty text"),
    "duplicate fit rule": (
        with_fit(FitRule("seniority", "vp", 10)),
        r"fit rule seniority=vp appears more than once",
    ),
    "duplicate behaviour rule": (
        with_behaviour(BehaviourRule("demo_request", 10)),
        r"behaviour rule 'demo_request' appears more than once",
    ),
    "empty name": (
        dataclasses.replace(DRAFT, name=""),
        r"^the definition is not valid: name is empty$",
    ),
    "blank name": (dataclasses.replace(DRAFT, name="   "), r"name is empty"),
}


@pytest.mark.parametrize("case", BAD_DEFINITIONS)
def test_bad_definitions_are_refused_and_nothing_is_written(cur, case):
    definition, message = BAD_DEFINITIONS[case]
    before = snapshot(cur)
    with pytest.raises(defs.DefinitionError, match=message):
        defs.save(cur, definition, "2026Q3")
    assert snapshot(cur) == before


def test_every_problem_is_named_at_once():
    bad = dataclasses.replace(
        DRAFT, name="", threshold=2000, fit_rules=(FitRule("colour", "red", 500),)
    )
    with pytest.raises(defs.DefinitionError) as raised:
        defs.validate(bad)
    assert len(raised.value.problems) == 4
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("quarter", ["2026Q5", "26Q1", "2026-Q", "next quarter", ""])
def test_malformed_quarters_are_refused_and_nothing_is_written(cur, quarter):
    before = snapshot(cur)
    with pytest.raises(defs.DefinitionError, match=r"effective quarter: not a quarter"):
        defs.save(cur, DRAFT, quarter)
    assert snapshot(cur) == before


def test_a_definition_without_rules_is_allowed_with_a_warning(cur):
    empty = Definition(name="nothing yet", threshold=50, half_life_days=30)
    assert defs.validate(empty) == [
        "definition 'nothing yet' has no rules: every lead scores 0, so no lead becomes an MQL"
    ]
    at_zero = dataclasses.replace(empty, threshold=0)
    assert "every lead becomes an MQL" in defs.validate(at_zero)[0]
    saved = defs.save(cur, empty, "2026Q3")
    assert defs.load(cur, saved.definition_id) == stored(empty, saved)


def test_a_threshold_no_lead_can_reach_is_a_warning():
    capped = Definition(
        name="capped",
        threshold=90,
        half_life_days=30,
        fit_rules=(
            FitRule("seniority", "vp", 30),
            FitRule("seniority", "c_level", 40),
            FitRule("region", "apac", 0, True),
            FitRule("industry", "retail", -10),
        ),
        behaviour_rules=(
            BehaviourRule("content_download", 20, 30),
            BehaviourRule("unsubscribe", -20),
        ),
    )
    assert defs.validate(capped) == [
        "no lead can reach threshold 90: the most a lead can score is 70 (best fit 40 + every "
        "capped behaviour at its cap 30)"
    ]
    assert defs.validate(dataclasses.replace(capped, threshold=70)) == []
    # one uncapped positive behaviour: any threshold can be reached
    assert defs.validate(with_behaviour(BehaviourRule("webinar_attended", 1))) == []


def test_save_warnings_name_rules_that_match_nothing_and_started_quarters(cur):
    typo = dataclasses.replace(
        DRAFT,
        fit_rules=(FitRule("seniority", "vpp", 30),),
        behaviour_rules=(BehaviourRule("demo_requst", 80),),
    )
    assert defs.save_warnings(cur, typo, "2026Q3") == [
        "fit rule seniority=vpp matches no lead (seniority values in the data: intern, vp)",
        "behaviour rule 'demo_requst' matches no event (event types in the data: "
        "content_download, demo_request, email_open)",
    ]
    started = defs.save_warnings(cur, DRAFT, "2026Q1")
    assert started[-1] == (
        "2026Q1 has already started (the data runs to 2026-02-15): saving changes the MQLs "
        "computed for 2026Q1 and the quarters after it"
    )
    assert defs.save_warnings(cur, DRAFT, "2026Q2") == started[:-1]


def test_a_failure_half_way_through_a_save_leaves_nothing_behind(cur):
    class FailsOnRules:
        """A cursor that breaks while writing behaviour rules (after the header and fit rules)."""

        def __getattr__(self, name):
            return getattr(cur, name)

        def executemany(self, sql, rows):
            if "definition_behaviour_rules" in sql:
                raise RuntimeError("disk full")
            return cur.executemany(sql, rows)

    before = snapshot(cur)
    with pytest.raises(RuntimeError, match="disk full"):
        defs.save(FailsOnRules(), DRAFT, "2026Q3")
    assert snapshot(cur) == before


# =====================================================================================
# saving over a quarter that already has a version: ask, then keep both
# =====================================================================================


def test_saving_over_an_occupied_quarter_asks_then_keeps_both(cur):
    before = snapshot(cur)
    asks = r"2026Q1 already has a definition: version 3 'third'.*replace"
    with pytest.raises(defs.QuarterTakenError, match=asks) as asked:
        defs.save(cur, DRAFT, "2026Q1")
    assert asked.value.existing == defs.load(cur, 3)
    assert snapshot(cur) == before

    saved = defs.save(cur, DRAFT, "2026Q1", replace=True)
    assert defs.in_force_for_quarter(cur, "2026Q1") == saved
    assert defs.load(cur, 3).name == "third"  # the old version is still there, unchanged
    versions = defs.list_versions(cur).filter(pl.col("first_quarter") == "2026Q1")
    assert versions.select("definition_id", "status").rows() == [(3, "replaced"), (4, "in force")]
    # replacing again still keeps every version
    defs.save(cur, dataclasses.replace(DRAFT, threshold=80), "2026Q1", replace=True)
    assert fx.rows(cur, "select count(*) from definitions")[0][0] == 5


def test_a_quarter_that_only_inherits_a_version_is_free(cur):
    # 2026Q2 keeps 2026Q1's version: saving there asks nothing
    assert defs.version_taking_effect(cur, "2026Q2") is None
    assert defs.save(cur, DRAFT, "2026Q2").effective_from == dt.date(2026, 4, 1)


# =====================================================================================
# TOML files a person edits
# =====================================================================================


HEAD = 'name = "x"\nthreshold = 1\nhalf_life_days = 2\n'
BAD_FILES = {
    "not TOML": ("name = \n", r"draft.toml: not valid TOML"),
    "misspelt key": (HEAD + "treshold = 3\n", r"draft.toml: unknown key 'treshold'"),
    "missing threshold": ('name = "x"\nhalf_life_days = 2\n', r"draft.toml: missing threshold"),
    "text for a number": (
        HEAD + '[[fit]]\nattribute = "seniority"\nvalue = "vp"\npoints = 5\n'
        '[[fit]]\nattribute = "seniority"\nvalue = "ceo"\npoints = "ten"\n',
        r"^draft.toml, line 8: fit rule seniority=ceo: points must be a number, not 'ten'$",
    ),
    "number for a band": (
        HEAD + '[[fit]]\nattribute = "company_size_band"\nvalue = 5000\n',
        r"^draft.toml, line 4: fit rule company_size_band is 5000: unknown company size band "
        r"'5000'",
    ),
    "behaviour without points": (
        HEAD + '[[behaviour]]\nevent_type = "a"\n',
        r"^draft.toml, line 4: behaviour rule 'a': missing points$",
    ),
    "fit not a list of rules": (
        HEAD + "fit = 3\n",
        r"^draft.toml: fit must be a list of \{ ... \} rules",
    ),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_files_are_refused_naming_the_file_and_entry(case):
    text, message = BAD_FILES[case]
    with pytest.raises(defs.DefinitionError, match=message):
        defs.from_toml(text, source="draft.toml", fields=defs.BUILTIN_FIELDS)


# =====================================================================================
# the commands
# =====================================================================================


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m funnelcast ARGS` as a user would; return its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "funnelcast", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    """Assert a failed command: non-zero exit, one line on stderr matching pattern, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def file_snapshot(path: Path) -> dict[str, list[tuple]]:
    """Return the definition tables of a database file, opened read-only."""
    con = db.connect(path, read_only=True)
    try:
        return snapshot(con.cursor())
    finally:
        con.close()


@pytest.fixture(scope="module")
def db_file(tmp_path_factory) -> Path:
    """A closed database file with versions V1-V3; copy it before writing."""
    path = tmp_path_factory.mktemp("definitions") / "versions.duckdb"
    con = database(path)
    con.execute("checkpoint")
    con.close()
    return path


@pytest.fixture
def writable(db_file, tmp_path) -> Path:
    """A copy of db_file that a test may write to."""
    return Path(shutil.copy(db_file, tmp_path / "versions.duckdb"))


def test_cli_list(db_file):
    table = run_cli("definition", "list", "--db", db_file)
    assert table.returncode == 0, table.stderr
    assert re.search(r"^3\s+third\s+2026Q1 onward\s+in force\s+70", table.stdout, re.M)
    listed = run_cli("definition", "list", "--db", db_file, "--format", "json")
    assert [(v["definition_id"], v["status"]) for v in json.loads(listed.stdout)] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "in force"),
    ]


def test_cli_show_and_new(db_file, tmp_path):
    shown = run_cli(
        "definition", "show", "--db", db_file, "--quarter", "2025Q4", "--format", "json"
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["definition_id"] == 2
    as_toml = run_cli("definition", "show", "--db", db_file)
    assert defs.from_toml(as_toml.stdout).definition_id == 3

    out = tmp_path / "draft.toml"
    made = run_cli("definition", "new", "--db", db_file, "--from", "current", "--out", out)
    assert made.returncode == 0, made.stderr
    assert "--quarter 2026Q2" in made.stdout
    draft = defs.from_toml(out.read_text())
    assert draft.definition_id is None and draft.threshold == 70
    again = run_cli("definition", "new", "--db", db_file, "--from", "1", "--out", out)
    assert_one_line_error(again, r"draft.toml already exists; .* --replace")


def test_cli_diff(db_file, tmp_path):
    out = tmp_path / "draft.toml"
    out.write_text(defs.to_toml(DRAFT))
    result = run_cli("definition", "diff", "--db", db_file, "2", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"definition 2 'second' → {out} '2026 tightened': 10 changes"
    )
    assert "  threshold 60 → 72.5" in result.stdout.splitlines()
    same = run_cli("definition", "diff", "--db", db_file, "current", "3")
    assert same.stdout.strip() == "definition 3 'third' → definition 3 'third': no differences"


def test_cli_save_asks_about_an_occupied_quarter_then_keeps_both(writable, tmp_path):
    out = tmp_path / "draft.toml"
    out.write_text(defs.to_toml(DRAFT))
    saved = run_cli("definition", "save", "--db", writable, out, "--quarter", "next")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == "saved definition 4 '2026 tightened', in force from 2026Q2"

    before = file_snapshot(writable)
    asked = run_cli("definition", "save", "--db", writable, out, "--quarter", "2026Q2")
    assert_one_line_error(asked, r"2026Q2 already has a definition: version 4 .*--replace")
    assert file_snapshot(writable) == before

    replaced = run_cli(
        "definition", "save", "--db", writable, out, "--quarter", "2026Q2", "--replace"
    )
    assert replaced.returncode == 0, replaced.stderr
    assert "takes the place of definition 4" in replaced.stdout
    assert len(file_snapshot(writable)["definitions"]) == 5


def test_cli_save_refuses_a_bad_file_and_writes_nothing(writable, tmp_path):
    out = tmp_path / "draft.toml"
    out.write_text(defs.to_toml(DRAFT).replace("points = 90", "points = 500"))
    before = file_snapshot(writable)
    result = run_cli("definition", "save", "--db", writable, out, "--quarter", "2026Q3")
    line = defs.to_toml(DRAFT).splitlines().index('event_type = "demo_request"')  # 0-based
    assert_one_line_error(
        result,
        rf"{re.escape(str(out))}, line {line}: behaviour rule 'demo_request': points 500 is "
        r"outside \[-100, 100\]$",
    )
    bad_quarter = run_cli(
        "definition", "save", "--db", writable, out.with_name("none.toml"), "--quarter", "2026Q3"
    )
    assert_one_line_error(bad_quarter, r"none.toml: no such file")
    assert file_snapshot(writable) == before


def test_cli_save_says_plainly_when_the_file_is_busy(writable, tmp_path):
    out = tmp_path / "draft.toml"
    out.write_text(defs.to_toml(DRAFT))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True, config={'autoinstall_known_extensions': False, 'autoload_known_extensions': False}); "
            "print('open', flush=True); sys.stdin.read()",
            str(writable),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = run_cli("definition", "save", "--db", writable, out, "--quarter", "2026Q3")
    finally:
        holder.communicate("", timeout=30)
    assert_one_line_error(result, r"is in use by another process")
    assert len(file_snapshot(writable)["definitions"]) == 3


def test_cli_bad_arguments_are_one_line(db_file):
    assert_one_line_error(
        run_cli("definition", "new", "--db", db_file, "--from", "latest", "--out", "x.toml"),
        r"expected 'current' or a definition id, not 'latest'",
    )
    assert_one_line_error(
        run_cli("definition", "show", "--db", db_file, "--id", "9"), r"no MQL definition with id 9"
    )
    assert_one_line_error(
        run_cli("definition", "show", "--db", db_file, "--quarter", "2024Q4"),
        r"no MQL definition is in force in 2024Q4",
    )


def test_cli_carries_rules_on_custom_fields(tmp_path):
    path = tmp_path / "custom.duckdb"
    con = database(path)
    con.executemany(
        "insert into lead_attribute_types (attribute, value_type) values (?, ?)",
        [("TotalVisits", "number"), ("Do Not Email", "yes/no")],
    )
    con.executemany(
        "insert into lead_attributes values (?, ?, ?, ?)",
        [("a", "TotalVisits", None, 7.0), ("b", "TotalVisits", None, 2.0),
         ("b", "Do Not Email", None, 1.0)],
    )  # fmt: skip
    con.execute("checkpoint")
    con.close()
    draft = tmp_path / "draft.toml"
    draft.write_text(
        'name = "visits"\nthreshold = 10\nhalf_life_days = 30\n\nfit = [\n'
        '  { field = "TotalVisits", op = ">=", value = 5, points = 10 },\n'
        '  { field = "TotalVisits", op = ">", value = 50, points = 5 },\n'
        '  { field = "Do Not Email", op = "is", value = "Yes", disqualify = true },\n'
        "]\n"
    )
    saved = run_cli("definition", "save", "--db", path, draft, "--quarter", "2026Q3")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.strip() == "saved definition 4 'visits', in force from 2026Q3"
    assert saved.stderr.strip() == (
        "warning: fit rule TotalVisits > 50 matches no lead (TotalVisits in the data: 2 to 7)"
    )

    shown = run_cli("definition", "show", "--db", path, "--id", "4")
    assert '{ field = "TotalVisits", op = ">=", value = 5, points = 10 },' in shown.stdout
    assert '"Do Not Email" (yes/no)' in shown.stdout  # the header lists the custom fields
    as_json = json.loads(
        run_cli("definition", "show", "--db", path, "--id", "4", "--format", "json").stdout
    )
    assert as_json["fit_rules"][0] == {
        "attribute": "Do Not Email",
        "value": "Yes",
        "points": 0.0,
        "is_disqualifier": True,
        "op": "is",
        "cap": None,
    }

    draft.write_text(draft.read_text().replace("value = 5, points = 10", "value = 5, points = 15"))
    changes = run_cli("definition", "diff", "--db", path, "--format", "json", "4", draft)
    assert json.loads(changes.stdout) == {
        "from": {"definition_id": 4, "name": "visits"},
        "to": {"file": str(draft), "name": "visits"},
        "changes": ["fit rule TotalVisits ≥ 5: points 10 → 15"],
    }

    # bad rules: refused with the file and line, nothing saved
    before = file_snapshot(path)
    draft.write_text(
        draft.read_text().replace('"Do Not Email", op = "is"', '"Do Not Email", op = "<"')
    )
    refused = run_cli("definition", "save", "--db", path, draft, "--quarter", "2026Q4")
    assert_one_line_error(
        refused,
        rf"^funnelcast: {re.escape(str(draft))}, line 8: fit rule Do Not Email < Yes: operator "
        r"'<' does not apply to a yes/no field \(it allows: is, is known, is unknown\)$",
    )
    draft.write_text(draft.read_text().replace('"TotalVisits", op = ">"', '"Visits", op = ">"'))
    refused = run_cli("definition", "diff", "--db", path, "4", draft)
    assert_one_line_error(refused, rf"{re.escape(str(draft))}, line 7: fit rule Visits > 50: "
                          r"unknown field 'Visits'")  # fmt: skip
    assert file_snapshot(path) == before
