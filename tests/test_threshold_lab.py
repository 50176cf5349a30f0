"""The Threshold Lab page run with Streamlit's AppTest on the demo database: its MQL volume
equals `funnelcast metrics --threshold`, a threshold nobody reaches shows zeros and says so, a
score is explained by parts that add up to it, and saving a draft adds a version (asking first
when the quarter is taken). Tests that save work on a copy of the demo database."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from streamlit.testing.v1 import AppTest

from funnelcast import cli, definitions, lab
from funnelcast.core import formats
from funnelcast.data import db
from funnelcast.lab import page as tl

PAGE = "pages/threshold_lab.py"


def open_lab(monkeypatch: pytest.MonkeyPatch, database: Path) -> AppTest:
    """Return the app after a run on the Threshold Lab page against the database file."""
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    return at.switch_page(PAGE).run()


def cli_mqls(capsys: pytest.CaptureFixture, database: Path, quarter: str, threshold: float) -> int:
    """Return the MQLs `funnelcast metrics --quarter Q --threshold T --format json` prints."""
    capsys.readouterr()
    args = ["metrics", "--db", str(database), "--quarter", quarter, "--threshold", f"{threshold:g}"]
    assert cli.main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["mqls"]


def metric(at: AppTest, label: str) -> str:
    """Return the value of the st.metric with this label."""
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture
def writable_db(demo_db: Path, tmp_path: Path) -> Path:
    """Return a copy of the demo database that a test may write to."""
    path = tmp_path / "lab.duckdb"
    shutil.copy(demo_db, path)
    return path


def test_the_page_runs_and_opens_on_the_current_definition(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)

    assert not at.exception
    assert not at.error
    assert at.title[0].value == "Threshold Lab"
    con = db.connect(demo_db, read_only=True)
    try:
        current = definitions.current(con.cursor())
    finally:
        con.close()
    assert at.slider(key=tl.THRESHOLD_KEY).value == current.threshold
    # The last four complete quarters: the demo runs through 2026Q3.
    assert at.multiselect(key=tl.QUARTERS_KEY).value == ["2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    # The draft is the current definition: the same MQLs, no change.
    assert "current: " + metric(at, "MQLs") in [c.value for c in at.caption]


@pytest.mark.parametrize(("quarter", "threshold"), [("2026Q3", 60.0), ("2025Q2", 80.0)])
def test_moving_the_threshold_shows_the_cli_mqls(monkeypatch, capsys, demo_db, quarter, threshold):
    at = open_lab(monkeypatch, demo_db)

    at.multiselect(key=tl.QUARTERS_KEY).set_value([quarter]).run()
    at.slider(key=tl.THRESHOLD_KEY).set_value(threshold).run()

    assert not at.exception
    assert metric(at, "MQLs") == formats.count(cli_mqls(capsys, demo_db, quarter, threshold))


def test_a_threshold_move_reuses_the_materialised_history(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)

    def no_rescan(*args, **kwargs):
        raise AssertionError("a threshold move read the raw events again")

    monkeypatch.setattr(lab, "materialise", no_rescan)
    monkeypatch.setattr(lab, "score", no_rescan)
    at.slider(key=tl.THRESHOLD_KEY).set_value(55.0).run()

    assert not at.exception
    assert metric(at, "MQLs") != "0"


def test_a_threshold_nobody_reaches_shows_zeros_and_says_so(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)
    slider = at.slider(key=tl.THRESHOLD_KEY)

    slider.set_value(slider.max).run()

    assert not at.exception
    assert any("No lead's score ever reaches" in w.value for w in at.warning)
    assert metric(at, "MQLs") == "0"


def test_explaining_a_score_shows_parts_that_add_up_to_it(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)
    lead_id = "L0000148"

    at.text_input(key=tl.LEAD_KEY).set_value(lead_id).run()

    assert not at.exception
    explained = next(df.value for df in at.dataframe if "rule" in df.value.columns)
    shown = float(metric(at, f"Score of {lead_id}").replace(",", ""))
    assert explained["points"].sum() == pytest.approx(shown, abs=0.005)
    # The same score the engine computes for the lead at that moment.
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        current = definitions.current(cur)
        m = lab.materialise_for(cur, current)
    finally:
        con.close()
    _, engine_score, _ = tl.explain_moment(m, lab.score(m, current), lead_id, current.threshold)
    assert shown == pytest.approx(engine_score, abs=0.005)


def test_an_unknown_lead_gets_a_message(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)

    at.text_input(key=tl.LEAD_KEY).set_value("no-such-lead").run()

    assert not at.exception
    assert any("no lead with id" in w.value for w in at.warning)


def test_saving_adds_a_version_and_a_second_save_asks_first(monkeypatch, writable_db):
    at = open_lab(monkeypatch, writable_db)
    at.slider(key=tl.THRESHOLD_KEY).set_value(70.0).run()

    at.button(key="lab_save").click().run()

    assert not at.exception
    assert any("Saved as version 2" in s.value for s in at.success)
    versions = versions_of(writable_db)
    assert versions["definition_id"].to_list() == [1, 2]
    assert versions.filter(pl.col("definition_id") == 2)["threshold"].item() == 70.0

    at.slider(key=tl.THRESHOLD_KEY).set_value(75.0).run()
    at.button(key="lab_save").click().run()

    assert not at.exception
    assert any("already has a definition" in w.value for w in at.warning)
    assert versions_of(writable_db).height == 2  # nothing saved until confirmed

    at.button(key="lab_replace").click().run()

    assert not at.exception
    versions = versions_of(writable_db)
    assert versions["definition_id"].to_list() == [1, 2, 3]
    assert versions.filter(pl.col("definition_id") == 2)["status"].item() == "replaced"
    assert versions.filter(pl.col("definition_id") == 3)["threshold"].item() == 75.0


def versions_of(path: Path) -> pl.DataFrame:
    """Return definitions.list_versions of the database file."""
    con = db.connect(path, read_only=True)
    try:
        return definitions.list_versions(con.cursor())
    finally:
        con.close()


def test_suggested_weights_load_as_the_draft(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)

    at.button(key="lab_suggest").click().run()
    assert not at.exception
    assert any(m.label == "Model: held-out AUC" for m in at.metric)

    at.button(key="lab_use_draft").click().run()

    assert not at.exception
    assert at.text_input(key=tl.NAME_KEY).value.endswith("(suggested)")
    assert any("The draft against version 1" in md.value for md in at.markdown)


def test_csv_cells_that_look_like_formulas_are_quoted():
    frame = pl.DataFrame({"lead_id": ["=cmd()", "+1", "-2", "@x", "plain"], "n": [1, 2, 3, 4, 5]})

    assert tl.csv_safe(frame)["lead_id"].to_list() == ["'=cmd()", "'+1", "'-2", "'@x", "plain"]
    assert np.array_equal(tl.csv_safe(frame)["n"].to_numpy(), frame["n"].to_numpy())


def test_weights_half_life_and_a_sign_flip_rescore_the_draft(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)
    before = metric(at, "MQLs")

    at.number_input(key=tl.behaviour_key("demo_request", "points")).set_value(80.0).run()
    assert not at.exception
    assert metric(at, "MQLs") != before
    assert any("behaviour 'demo_request' points 40 → 80" in md.value for md in at.markdown)

    at.number_input(key=tl.HALF_LIFE_KEY).set_value(10.0).run()
    at.number_input(key=tl.behaviour_key("email_open", "points")).set_value(-5.0).run()

    assert not at.exception
    assert not at.error


def test_an_invalid_draft_gets_messages_not_a_traceback(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)

    at.text_input(key=tl.NAME_KEY).set_value("  ").run()

    assert not at.exception
    assert any("name is empty" in error.value for error in at.error)
    assert at.button(key="lab_save").disabled


def test_saving_while_another_process_reads_the_file_says_so(monkeypatch, writable_db):
    at = open_lab(monkeypatch, writable_db)
    at.slider(key=tl.THRESHOLD_KEY).set_value(70.0).run()
    # Another process (a second dashboard, a CLI run) holding the file read-only.
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True, config={'autoinstall_known_extensions': False, 'autoload_known_extensions': False}); "
         "print('open', flush=True); sys.stdin.read()", str(writable_db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open"
        at.button(key="lab_save").click().run()
    finally:
        holder.communicate("")

    assert not at.exception
    assert any("Not saved" in e.value and "in use by another process" in e.value for e in at.error)
    # The page reopens the file read-only and carries on; nothing was saved.
    assert metric(at, "MQLs") != "0"
    assert versions_of(writable_db).height == 1


def test_rules_can_be_added_and_removed_on_the_page(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)
    before = at.session_state["lab_base"]
    start_mqls = metric(at, "MQLs")
    # a fit rule: every lead from the 'events' channel gains 30 points
    at.selectbox(key="lab_new_fit_field").set_value("channel").run()
    assert at.selectbox(key="lab_new_fit_op_text").options == [
        "is",
        "is any of",
        "is none of",
        "contains",
        "starts with",
        "is known",
        "is unknown",
    ]
    assert "events" in at.selectbox(key="lab_new_fit_value_text").options  # the top values
    assert "Most common:" in " ".join(c.value for c in at.caption)
    at.selectbox(key="lab_new_fit_value_text").set_value("events").run()
    at.number_input(key="lab_new_fit_points_text").set_value(30.0).run()
    at.button(key="lab_add_fit").click().run()
    assert not at.exception
    added = at.session_state["lab_base"]
    assert definitions.FitRule("channel", "events", 30.0, False) in added.fit_rules
    assert at.number_input(key="lab_fit_points_channel=events").value == 30.0
    more = metric(at, "MQLs")
    assert int(more.replace(",", "")) > int(start_mqls.replace(",", ""))
    # the same rule again is refused with a reason, and nothing changes
    at.button(key="lab_add_fit").click().run()
    assert any("channel=events already has a rule" in w.value for w in at.warning)
    assert at.session_state["lab_base"].fit_rules == added.fit_rules
    # removing it brings the figures back
    at.button(key="lab_fit_remove_channel=events").click().run()
    assert at.session_state["lab_base"].fit_rules == before.fit_rules
    assert metric(at, "MQLs") == start_mqls
    # a behaviour rule out: demo requests stop scoring, and fewer leads qualify
    at.button(key="lab_remove_behaviour_demo_request").click().run()
    assert "demo_request" not in {
        r.event_type for r in at.session_state["lab_base"].behaviour_rules
    }
    assert int(metric(at, "MQLs").replace(",", "")) < int(start_mqls.replace(",", ""))
    # and back in, with its own points
    at.selectbox(key="lab_new_event_type").set_value("demo_request").run()
    at.number_input(key="lab_new_event_points").set_value(40.0).run()
    at.button(key="lab_add_behaviour").click().run()
    assert not at.exception and not at.error
    assert metric(at, "MQLs") == start_mqls


def test_adding_a_rule_twice_is_refused_with_a_reason():
    base = definitions.Definition(
        name="x",
        threshold=10,
        half_life_days=30,
        fit_rules=(definitions.FitRule("seniority", "vp", 10),),
        behaviour_rules=(definitions.BehaviourRule("demo_request", 20),),
    )
    with pytest.raises(definitions.DefinitionError, match="seniority=vp already has a rule"):
        tl.with_fit_rule(base, {}, definitions.FitRule("seniority", "vp", 5))
    with pytest.raises(definitions.DefinitionError, match="demo_request already scores"):
        tl.with_behaviour_rule(base, {}, definitions.BehaviourRule("demo_request", 5))
    assert tl.without_fit_rule(base, {}, ("seniority", "is", "vp")).fit_rules == ()
    assert tl.without_behaviour_rule(base, {}, "demo_request").behaviour_rules == ()


@pytest.fixture
def visits_db(writable_db: Path) -> Path:
    """Return a copy of the demo database whose leads have a custom number attribute,
    'Site sessions' (0 to 19, seeded; a fifth unknown), as a leads import keeps one."""
    con = db.connect(writable_db)
    try:
        leads = [r[0] for r in con.execute("select lead_id from leads order by 1").fetchall()]
        rng = np.random.default_rng(8)
        rows = [
            (lead, "Site sessions", None, float(rng.integers(0, 20)))
            for lead in leads
            if rng.random() < 0.8
        ]
        con.execute(
            "insert into lead_attribute_types values ('Site sessions', 'number', null, null)"
        )
        con.executemany("insert into lead_attributes values (?, ?, ?, ?)", rows)
        con.execute("checkpoint")
    finally:
        con.close()
    return writable_db


def test_a_rule_on_a_custom_number_field_is_built_in_the_editor(monkeypatch, visits_db):
    at = open_lab(monkeypatch, visits_db)
    start = int(metric(at, "MQLs").replace(",", ""))
    field = at.selectbox(key="lab_new_fit_field")
    assert "Site sessions (number)" in field.options  # shown with its type
    assert "company_size (number)" in field.options
    field.set_value("Site sessions").run()
    op = at.selectbox(key="lab_new_fit_op_number")
    assert op.options == ["is", "<", "≤", ">", "≥", "between", "is known", "is unknown", "per unit"]
    captions = " ".join(c.value for c in at.caption)
    assert "leads have a value: from 0 to 19; quartiles" in captions
    op.set_value(">=").run()
    at.number_input(key="lab_new_fit_value_number").set_value(15.0).run()
    at.number_input(key="lab_new_fit_points_number").set_value(60.0).run()
    at.button(key="lab_add_fit").click().run()
    assert not at.exception and not at.error
    rule = definitions.FitRule("Site sessions", 15.0, 60.0, False, op=">=")
    assert rule in at.session_state["lab_base"].fit_rules
    assert at.number_input(key=tl.fit_key(rule, "points")).label == "Site sessions ≥ 15"
    more = int(metric(at, "MQLs").replace(",", ""))
    assert more > start
    # the same count as the SQL gives once the draft is saved
    con = db.connect(visits_db, read_only=True)
    try:
        hit = con.execute(
            "select count(*) from lead_attributes where attribute = 'Site sessions' "
            "and number_value >= 15"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert hit > 0
    # a between with its bounds the wrong way round is refused with a reason
    rules_before = at.session_state["lab_base"].fit_rules
    at.selectbox(key="lab_new_fit_op_number").set_value("between").run()
    at.number_input(key="lab_new_fit_low_number").set_value(12.0).run()
    at.number_input(key="lab_new_fit_high_number").set_value(3.0).run()
    at.button(key="lab_add_fit").click().run()
    assert any("Not added" in w.value and "between" in w.value for w in at.warning)
    assert at.session_state["lab_base"].fit_rules == rules_before
    # per unit with a cap: 2 points a visit, at most 20
    at.selectbox(key="lab_new_fit_op_number").set_value("per unit").run()
    at.number_input(key="lab_new_fit_points_number").set_value(2.0).run()
    at.number_input(key="lab_new_fit_cap_number").set_value(20.0).run()
    at.button(key="lab_add_fit").click().run()
    assert not at.exception
    assert (
        definitions.FitRule("Site sessions", None, 2.0, False, op="per unit", cap=20.0)
        in at.session_state["lab_base"].fit_rules
    )
    assert int(metric(at, "MQLs").replace(",", "")) > more


def test_a_rule_on_the_demos_date_field_starts_at_its_median_day(monkeypatch, demo_db):
    at = open_lab(monkeypatch, demo_db)
    at.selectbox(key="lab_new_fit_field").set_value("Last visit").run()
    assert at.selectbox(key="lab_new_fit_op_date").options == [
        "before",
        "after",
        "between",
        "within N days of creation",
        "is known",
        "is unknown",
    ]
    at.selectbox(key="lab_new_fit_op_date").set_value("after").run()
    con = db.connect(demo_db, read_only=True)
    try:
        median = con.execute(
            "select to_timestamp(quantile_cont(number_value, 0.5))::date from lead_attributes "
            "where attribute = 'Last visit'"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert at.date_input(key="lab_new_fit_value_date").value == median
    at.button(key="lab_add_fit").click().run()
    assert not at.exception and not at.warning
    (added,) = [r for r in at.session_state["lab_base"].fit_rules if r.attribute == "Last visit"]
    assert (added.attribute, added.op, added.value, added.points) == (
        "Last visit",
        "after",
        median,
        10.0,
    )


def test_save_is_off_until_the_draft_differs_and_says_why(monkeypatch, writable_db):
    at = open_lab(monkeypatch, writable_db)

    save = at.button(key="lab_save")
    assert save.disabled
    assert save.help == f"{tl.UNCHANGED}."
    assert f"{tl.UNCHANGED}." in [c.value for c in at.caption]

    start = at.slider(key=tl.THRESHOLD_KEY).value
    at.slider(key=tl.THRESHOLD_KEY).set_value(start + 1).run()

    assert not at.exception
    save = at.button(key="lab_save")
    assert not save.disabled and not save.help
    assert f"{tl.UNCHANGED}." not in [c.value for c in at.caption]
    save.click().run()  # enabled, it saves
    assert any("Saved as version 2" in s.value for s in at.success)

    # version 2 takes effect next quarter: back at the threshold in force, Save is off again
    at.slider(key=tl.THRESHOLD_KEY).set_value(start).run()
    assert not at.exception
    assert at.button(key="lab_save").disabled
