"""The Threshold Lab's memory budget (funnelcast.lab.budget, lab.sampled): the memory the
process may use read from fake cgroup and /proc files, the prediction from the counts, the
share chosen, a sampled history holding exactly the sampled leads and their events, its
volumes scaled, the Lab page held to a small budget showing the sample, and `plan --sample`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from apptest_support import APP, release_streamlit_caches  # noqa: F401
from budget_support import dashboard_types, memory_for_share
from streamlit.testing.v1 import AppTest

from funnelcast import cli, definitions, lab
from funnelcast.analytics import metrics
from funnelcast.core import formats
from funnelcast.data import db
from funnelcast.lab import budget
from funnelcast.lab import page as tl
from funnelcast.lab.history import FIT_ATTRIBUTES

GIB = 2**30


# ===== the memory the process may use =====


def fake_system(tmp_path: Path, cgroup: str, meminfo_kb: int | None = 8_000_000) -> tuple:
    """Return (proc, cgroup root) directories holding a fake /proc/self/cgroup and meminfo."""
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    root.mkdir()
    (proc / "self" / "cgroup").write_text(cgroup)
    if meminfo_kb is not None:
        (proc / "meminfo").write_text(
            f"MemTotal:       24683772 kB\nMemFree:   100 kB\nMemAvailable:   {meminfo_kb} kB\n"
        )
    return proc, root


def group(root: Path, path: str, **files: str) -> None:
    """Write a cgroup directory's files (memory_max -> memory.max)."""
    where = root / path
    where.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (where / name.replace("_", ".", 1)).write_text(text)


def test_no_cgroup_limit_means_the_machines_available_memory(tmp_path):
    proc, root = fake_system(tmp_path, "0::/\n4:memory:/\n")
    group(root, "memory", memory_limit_in_bytes="9223372036854771712\n")
    assert budget.available_memory({}, proc, root) == 8_000_000 * 1024


def test_a_cgroup_v2_limit_counts_its_use_less_inactive_file_cache(tmp_path):
    proc, root = fake_system(tmp_path, "0::/user.slice/app.scope\n")
    group(
        root,
        "user.slice/app.scope",
        memory_max="1000000000\n",
        memory_current="400000000\n",
        memory_stat="anon 300000000\ninactive_file 100000000\nactive_file 0\n",
    )
    group(root, "user.slice", memory_max="max\n")
    assert budget.available_memory({}, proc, root) == 1_000_000_000 - 300_000_000


def test_a_tighter_parent_cgroup_wins(tmp_path):
    proc, root = fake_system(tmp_path, "0::/user.slice/app.scope\n")
    group(root, "user.slice/app.scope", memory_max="1000000000\n", memory_current="0\n")
    group(root, "user.slice", memory_max="600000000\n", memory_current="500000000\n")
    assert budget.available_memory({}, proc, root) == 100_000_000


def test_a_cgroup_v1_limit(tmp_path):
    proc, root = fake_system(tmp_path, "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n")
    group(
        root,
        "memory/docker/abc",
        memory_limit_in_bytes="2000000000\n",
        memory_usage_in_bytes="1500000000\n",
        memory_stat="cache 600000000\ntotal_inactive_file 500000000\n",
    )
    group(root, "memory/docker", memory_limit_in_bytes="9223372036854771712\n")
    assert budget.available_memory({}, proc, root) == 1_000_000_000


def test_a_limit_above_the_machines_free_memory_gives_the_free_memory(tmp_path):
    proc, root = fake_system(tmp_path, "0::/app\n", meminfo_kb=1_000_000)
    group(root, "app", memory_max=str(64 * GIB), memory_current="0")
    assert budget.available_memory({}, proc, root) == 1_000_000 * 1024


def test_the_environment_overrides_and_a_bad_size_is_refused(tmp_path):
    proc, root = fake_system(tmp_path, "0::/\n")
    env = {budget.MEMORY_ENV: "1.5G"}
    assert budget.available_memory(env, proc, root) == int(1.5 * GIB)
    for text, expected in (("512M", 512 * 2**20), ("2 GiB", 2 * GIB), ("3000000000", 3 * 10**9)):
        assert budget.parse_size(text) == expected
    for bad in ("lots", "-1G", "0", "1X"):
        with pytest.raises(db.FunnelcastError, match=budget.MEMORY_ENV):
            budget.parse_size(bad)


def test_the_real_machine_answers_a_positive_number():
    assert budget.available_memory({}) > 0


# ===== the prediction and the share =====


def test_counts_come_from_one_query_of_the_data(demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        c = budget.counts(cur, ["demo_request", "email_open"], ["Website visits", "campaign"])
        expected = cur.execute(
            "select (select count(*) from leads), (select count(*) from events where "
            "event_type in ('demo_request', 'email_open')), (select count(*) from stage_changes),"
            " (select count(*) from lead_attributes where attribute = 'Website visits')"
        ).fetchone()
    finally:
        con.close()
    assert (c.leads, c.events, c.stage_changes, c.attribute_values) == expected
    assert c.builtin_fields == 1  # campaign; the six materialised fields are not read again
    assert c.leads == 6_000 and 0 < c.attribute_values < c.leads


def test_the_prediction_grows_with_the_counts_and_the_share():
    small = budget.predict(budget.Counts(10_000, 200_000, 12_000, 20_000))
    large = budget.predict(budget.Counts(1_000_000, 20_000_000, 1_200_000, 2_000_000))
    assert large.peak() > small.peak() > budget.BASE_BYTES
    assert large.peak(0.25) < large.peak(0.5) < large.peak()
    assert large.added(0.5) == large.whole + large.sampled // 2
    # the constants measured at 1M leads / 20M events (benchmarks/RESULTS.md): about 1.4 GB
    assert 1.0e9 < large.peak() < 1.8e9


def test_the_share_is_the_largest_whole_percent_that_fits():
    p = budget.Prediction(budget.Counts(0, 0, 0, 0), base=0, whole=100, sampled=1000)
    assert budget.sample_share(p, int(1100 * budget.MARGIN)) == 1.0
    share = budget.sample_share(p, 500)
    assert share == 0.3  # 100 + 1000 x 0.30 = 400 = 500 / 1.25
    assert p.added(share) * budget.MARGIN <= 500 < p.added(share + 0.01) * budget.MARGIN
    with pytest.raises(db.FunnelcastError, match="1% sample"):
        budget.sample_share(p, 120)


def test_the_materialised_fields_are_the_historys():
    assert budget.MATERIALISED_FIELDS == {*FIT_ATTRIBUTES, "created_at"}


# ===== the sample =====


def test_a_sample_is_seeded_reproducible_and_near_its_share():
    chosen = budget.Sample(share=0.25).chosen(200_000)
    assert np.array_equal(chosen, budget.Sample(share=0.25).chosen(200_000))
    assert abs(chosen.mean() - 0.25) < 0.005
    other = budget.Sample(share=0.25, seed=8).chosen(200_000)
    assert not np.array_equal(chosen, other)
    assert budget.Sample().chosen(10).all()
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(db.FunnelcastError, match="share of leads"):
            budget.Sample(share=bad)


@pytest.fixture(scope="module")
def histories(demo_db):
    """Return the demo's current definition, its whole history and a 30% sample of it."""
    con = db.connect(demo_db, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    whole = lab.materialise_for(cur, current)
    part = lab.materialise_for(cur, current, sample=lab.Sample(share=0.3))
    yield current, whole, part
    con.close()


def test_a_sampled_history_holds_the_sampled_leads_and_their_events(histories):
    current, whole, part = histories
    chosen = lab.Sample(share=0.3).chosen(whole.n_leads)
    assert part.n_leads == chosen.sum() and part.all_leads == whole.n_leads == 6_000
    assert part.lead_id.to_list() == whole.lead_id.filter(chosen).to_list()
    np.testing.assert_array_equal(part.created_us, whole.created_us[chosen])
    np.testing.assert_array_equal(part.reached_sql_us, whole.reached_sql_us[chosen])
    for attribute in FIT_ATTRIBUTES:  # codes may renumber; the values they stand for may not
        texts = [(*whole.values[attribute], None)[c] for c in whole.codes[attribute][chosen]]
        assert [(*part.values[attribute], None)[c] for c in part.codes[attribute]] == texts
    # each sampled lead keeps its own checks, moments and counts, in order
    for i, lead in enumerate(np.flatnonzero(chosen)[:300]):
        ours = slice(part.check_start[i], part.check_start[i + 1])
        theirs = slice(whole.check_start[lead], whole.check_start[lead + 1])
        np.testing.assert_array_equal(
            part.check_us_of(ours.start, ours.stop), whole.check_us_of(theirs.start, theirs.stop)
        )
        np.testing.assert_array_equal(part.check_groups[ours], whole.check_groups[theirs])
    assert part.calendar.quarters == whole.calendar.quarters
    # a custom field the rules name is read for the sampled leads only, each its own value
    name = next(iter(part.field_store.values))
    a, b = part.field_store.values[name], whole.field_store.values[name]
    np.testing.assert_array_equal(a.known, b.known[chosen])
    # and a sampled lead's score is its score in the whole
    sp, sw = lab.score(part, current), lab.score(whole, current)
    np.testing.assert_array_equal(sp.lead_max, sw.lead_max[chosen])


def test_sampled_volumes_are_scaled_and_rates_kept(histories):
    current, whole, part = histories
    f = lab.sampled.factor(part)
    assert f == pytest.approx(whole.n_leads / part.n_leads) and lab.sampled.factor(whole) == 1
    raw = lab.backtest(part, lab.score(part, current), current.threshold, None, 40.0)
    scaled = lab.sampled.backtest(part, raw)
    t, r = scaled.totals, raw.totals
    assert t["mqls"] == round(r["mqls"] * f) and t["sqls"] == round(r["sqls"] * f)
    assert t["mql_to_sql"] == r["mql_to_sql"] and t["sql_capture"] == r["sql_capture"]
    assert t["cost_per_mql"] == pytest.approx(t["spend"] / t["mqls"])
    assert t["mqls_per_week"] == pytest.approx(r["mqls_per_week"] * f)
    weekly = raw.weeks["mqls"].to_numpy() * f
    assert t["weeks_over_capacity"] == int((weekly > 40.0).sum())
    assert scaled.quarters["mqls"].to_list() == [round(x * f) for x in raw.quarters["mqls"]]
    # the whole's answer, from a 30% sample: within a few percent
    truth = lab.backtest(whole, lab.score(whole, current), current.threshold).totals["mqls"]
    assert abs(t["mqls"] / truth - 1) < 0.1
    assert lab.sampled.backtest(whole, raw) is raw


# ===== the Lab page held to a small budget =====


def test_the_lab_held_to_a_small_budget_works_on_a_sample(monkeypatch, demo_db, tmp_path):
    path = tmp_path / "small.duckdb"  # its own file: no other test's history is cached for it
    shutil.copy(demo_db, path)
    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    types = dashboard_types(cur, current)
    memory = memory_for_share(cur, current, types, 0.405)  # room for about 40% of the leads
    monkeypatch.setenv(budget.MEMORY_ENV, str(memory))
    monkeypatch.setenv("FUNNELCAST_DB", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at = at.switch_page("pages/threshold_lab.py").run()
    assert not at.exception and not at.error

    sentence = next(i.value for i in at.info if "too large for the memory" in i.value)
    assert "40% random sample of leads" in sentence
    assert f"{budget.gb(memory)} free" in sentence
    assert "volumes are scaled up, rates are as sampled" in sentence
    marks = [h.value for h in at.subheader if "(from a 40% sample)" in h.value]
    assert len(marks) == 2  # the draft's figures, and who moves

    # the page's figures are those of the same sample materialised by hand, scaled
    m = lab.materialise(
        cur, current.half_life_days, types, sample=budget.Sample(share=0.4, seed=budget.SEED)
    )
    lab.read_fields_for(m, cur, current)
    quarters = tl.default_quarters(metrics.load_context(cur))
    by_hand = lab.sampled.backtest(
        m, lab.backtest(m, lab.score(m, current), current.threshold, quarters, 50.0)
    )
    con.close()
    mqls = next(x.value for x in at.metric if x.label == "MQLs")
    assert mqls == formats.count(by_hand.totals["mqls"])
    rate = next(x.value for x in at.metric if x.label == "MQL → SQL")
    assert rate == formats.share(by_hand.totals["mql_to_sql"]["value"])
    assert by_hand.totals["mqls"] != round(by_hand.totals["mqls"] * 0.4)  # scaled, not raw


@pytest.mark.parametrize(
    ("memory", "says"),
    [("1K", "even for a 1% sample of leads"), ("lots", "must be a size such as 8G")],
)
def test_a_budget_nothing_fits_in_or_no_size_is_said_in_one_line(
    monkeypatch, demo_db, tmp_path, memory, says
):
    path = tmp_path / "tiny.duckdb"
    shutil.copy(demo_db, path)
    monkeypatch.setenv(budget.MEMORY_ENV, memory)
    monkeypatch.setenv("FUNNELCAST_DB", str(path))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at = at.switch_page("pages/threshold_lab.py").run()
    assert not at.exception
    assert [e.value for e in at.error if says in e.value] and len(at.error) == 1


# ===== plan --sample =====


def plan_json(capsys, demo_db: Path, *extra: str) -> dict:
    """Return `funnelcast plan --format json`'s output on the demo."""
    capsys.readouterr()
    args = ["plan", "--db", str(demo_db), "--target-customers", "60", "--format", "json"]
    assert cli.main([*args, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_sample_replays_a_share_of_leads_with_volumes_scaled(capsys, demo_db):
    whole = plan_json(capsys, demo_db)["qualified_leads"]
    part = plan_json(capsys, demo_db, "--sample", "0.3")["qualified_leads"]
    assert whole["sample"] is None and part["sample"] == 0.3
    assert "(from a 30% sample)" in part["source"]
    assert part["expected_mqls"] != whole["expected_mqls"]
    assert abs(part["expected_mqls"] / whole["expected_mqls"] - 1) < 0.15
    capsys.readouterr()
    args = ["plan", "--db", str(demo_db), "--target-customers", "60", "--sample", "0.3"]
    assert cli.main(args) == 0
    assert "from a 0.3 random sample of leads (30%)" in capsys.readouterr().out


@pytest.mark.parametrize("share", ["0", "1.5", "-0.2", "some", "nan"])
def test_plan_sample_refuses_what_is_no_share_in_one_line(capsys, demo_db, share):
    with pytest.raises(SystemExit) as stop:
        cli.main(["plan", "--db", str(demo_db), "--target-customers", "60", "--sample", share])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--sample" in err and "share of leads" in err


def test_sizes_are_said_in_gb_or_in_mb_where_a_gb_would_read_zero():
    assert [budget.gb(n) for n in (3_240_000_000, 450_000_000, 12_000_000, 4_700_000)] == [
        "3.2 GB",
        "0.45 GB",
        "0.01 GB",
        "4.7 MB",
    ]
