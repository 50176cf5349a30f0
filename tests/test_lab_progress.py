"""The Threshold Lab's first open, without Streamlit: materialise reports its real steps to a
callback (in order, shares in [0, 1] that never go back and end at 1.0, one report per batch of
events read); the warm-up runs the engine end to end so that the demo history's first open
compiles nothing more; a background warm-up's reports are read off its output; and what the
page shows before the engine is ready (the current rules, the SQL's MQL counts) is right."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from funnelcast import definitions, lab
from funnelcast.analytics import metrics
from funnelcast.data import db
from funnelcast.lab import history, warm
from funnelcast.lab import page as tl
from funnelcast.lab._fast import counting, kernels, layout, sorting


@pytest.fixture
def demo_cur(demo_db):
    """Return a read-only cursor on the session's demo database (6,000 leads)."""
    con = db.connect(demo_db, read_only=True)
    try:
        yield con.cursor()
    finally:
        con.close()


def all_event_types(cur) -> list[str]:
    """Return every event type the data holds (what the dashboard materialises)."""
    return warm.db_event_types(cur)


def test_materialise_reports_each_step_in_order_up_to_one(demo_cur, monkeypatch):
    monkeypatch.setattr(history, "BATCH_ROWS", 5_000)  # several batches of events
    heard: list[tuple[str, float]] = []
    types = all_event_types(demo_cur)
    m = lab.materialise(demo_cur, 30.0, types, progress=lambda s, d: heard.append((s, d)))

    names = [name for name, _ in history.STEPS]
    order = [names.index(step) for step, _ in heard]
    assert order == sorted(order)  # never back to an earlier step
    assert list(dict.fromkeys(step for step, _ in heard)) == names  # every step, in order
    shares = [done for _, done in heard]
    assert all(0.0 <= d <= 1.0 for d in shares)
    assert shares == sorted(shares)
    assert shares[0] == 0.0 and shares[-1] == 1.0
    # each step ends at its share of the whole
    for name, end in history.STEPS:
        assert max(d for s, d in heard if s == name) == pytest.approx(end)
    # one report per batch of events read, against the events table's rows: all of them read
    events = db.run(demo_cur, "data_extent").filter(table_name="events")["count_rows"].item()
    batches = [d for s, d in heard if s == "events"][:-1]  # the last: the step's end
    assert len(batches) == math.ceil(events / 5_000) > 3
    assert batches[-1] == pytest.approx(history.STEPS[1][1])
    # the answer is the same without a callback
    quiet = lab.materialise(demo_cur, 30.0, types)
    for name in ("check_at", "check_start", "group_type", "group_count", "decay"):
        assert np.array_equal(getattr(m, name), getattr(quiet, name)), name


def _dispatchers() -> dict[str, CPUDispatcher]:
    """Return every compiled loop of the engine, by module and name."""
    return {
        f"{module.__name__}.{name}": fn
        for module in (kernels, counting, layout, sorting)
        for name, fn in vars(module).items()
        if isinstance(fn, CPUDispatcher)
    }


def test_the_warm_up_leaves_nothing_to_compile_for_the_demos_first_open(demo_cur):
    heard: list[tuple[str, float]] = []
    warm.warm_up(lambda s, d: heard.append((s, d)))

    assert [s for s, _ in heard[:-1]] == list(warm.STEPS)
    shares = [d for _, d in heard]
    assert shares == sorted(shares) and shares[0] == 0.0 and shares[-1] == 1.0
    compiled = {name: len(fn.signatures) for name, fn in _dispatchers().items()}
    assert sum(compiled.values()) > 15

    # the page's first open on another history (the 6,000-lead demo): every loop it calls has
    # been compiled for the types it calls them with
    current = definitions.current(demo_cur)
    kept = [
        definitions.load(demo_cur, i) for i in definitions.list_versions(demo_cur)["definition_id"]
    ]
    m = lab.materialise(demo_cur, current.half_life_days, all_event_types(demo_cur))
    lab.read_fields_for(m, demo_cur, current, *kept)
    scores = lab.score(m, current)
    spans = lab.versions_in_force(m, [kept[-1]] * len(m.calendar.quarters))
    moments = lab.mql_moments_in_force(m, spans)
    quarters = tl.default_quarters(metrics.load_context(demo_cur))
    lab.backtest(m, scores, current.threshold, quarters, 50.0)
    lab.backtest(m, scores, current.threshold + 1, quarters, 50.0)  # the records' index
    lab.backtest_moments(m, moments, current.threshold, quarters, 50.0)
    lab.tradeoff_curve(m, scores, tuple(quarters))
    lab.who_moves(m, moments, scores, current.threshold + 5)
    lab.who_moves(m, moments, scores, current.threshold + 6)  # who moves' index
    lab.movers(m, moments, scores, current.threshold + 5)
    lab.lead_checks(m, scores.weights, 3)
    scores.release()

    added = {n: len(fn.signatures) - compiled[n] for n, fn in _dispatchers().items()}
    assert not {n: k for n, k in added.items() if k}, "compiled on first open after warm-up"


def test_a_background_warm_up_is_read_step_by_step():
    script = "print('0.2500 scoring', flush=True); print('oops'); print('1.0000 who moves')"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    background = warm.Background(process)
    heard: list[tuple[str, float]] = []
    background.wait(lambda s, d: heard.append((s, d)), timeout=60, poll=0.01)

    assert not background.running and background.seconds is not None
    assert (background.step, background.done) == ("who moves", 1.0)  # 'oops' is skipped
    assert all(d in (0.0, 0.25, 1.0) for _, d in heard)


def test_what_shows_before_the_engine_is_the_current_rules_and_the_sqls_mqls(demo_cur):
    current = definitions.current(demo_cur)
    lines = tl.rule_lines(current)

    assert lines[0] == (
        f"Threshold {current.threshold:g} points; behaviour points halve every "
        f"{current.half_life_days:g} days"
    )
    per_event = next(line for line in lines if line.startswith("Per event: "))
    assert per_event.count(" · ") == len(current.behaviour_rules) - 1
    disqualified = [r.label for r in current.fit_rules if r.is_disqualifier]
    assert f"Disqualified: {' · '.join(disqualified)}" in lines

    # the SQL's MQL counts per default quarter are the engine's for the definitions in force
    ctx = metrics.load_context(demo_cur)
    quarters = tl.default_quarters(ctx)
    shown = tl.mqls_by_quarter(metrics.funnel_by_quarter(demo_cur, ctx), quarters)
    kept = {
        v.definition_id: v
        for v in (
            definitions.load(demo_cur, i)
            for i in definitions.list_versions(demo_cur)["definition_id"]
        )
    }
    m = lab.materialise(demo_cur, current.half_life_days, all_event_types(demo_cur))
    lab.read_fields_for(m, demo_cur, current, *kept.values())
    in_force = []
    for quarter in m.calendar.quarters:
        row = db.run(demo_cur, "definition_in_force", on=quarter.start).to_dicts()
        in_force.append(kept.get(row[0]["definition_id"]) if row else None)
    moments = lab.mql_moments_in_force(m, lab.versions_in_force(m, in_force))
    engine = lab.backtest_moments(m, moments, current.threshold, quarters, None).quarters

    assert shown["quarter"].to_list() == quarters
    assert shown["mqls"].to_list() == engine["mqls"].to_list()
    assert shown["reached_sql"].to_list() == engine["mqls_reached_sql"].to_list()
    assert sum(shown["mqls"]) > 100


def test_a_user_needing_the_engine_stops_a_background_warm_up_still_running(monkeypatch):
    # a niced warm-up that began from nothing is slower than compiling at once (see warm.ready)
    script = "import time; print('0.1000 scoring', flush=True); time.sleep(600)"
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    background = warm.Background(process)
    monkeypatch.setattr(warm, "_background", background)
    assert background.running

    warm.stop_background()

    assert process.poll() is not None  # ended, not left to run for ten minutes
    background._reader.join(timeout=10)
    assert not background.running
