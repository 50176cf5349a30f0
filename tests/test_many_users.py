"""Many users at once on one database: 20 browser sessions on one served dashboard (Playwright
driving headless Chromium, a context per user) choose quarters and channels in the sidebar, move
the Threshold Lab's threshold and switch pages for a bounded time. No session sees an error, every
figure a session is shown equals what a single user sees for the same choice, and the server's
memory stays bounded. The Lab's numba kernels release the GIL and run two threads per scoring:
scoring from many threads at once gives exactly the single-threaded scores. The longer run with
the latency distribution is benchmarks/bench_many_users.py."""

from __future__ import annotations

import dataclasses
import random

import fixtures as fx
import numpy as np
import pytest
from many_users_support import ACTIONS, Choices, run_users
from test_browser import chromium  # noqa: F401  (a fixture)

from funnelcast import definitions, lab
from funnelcast.data import db

USERS = 20
SECONDS = 20  # of work once all 20 have the app open
CHOICES = Choices(
    scopes=(
        ("2026Q3", "All channels"),
        ("2026Q3", "search"),
        ("2026Q2", "social"),
        ("2025Q4", "email"),
    ),
    thresholds=(63, 64, 65, 66, 67),
)
# The server may grow by this much while 20 users work: their sessions' state, the Lab's
# materialised history and scores, cached frames. A leak (a cursor or a history per rerun,
# per session) grows past it.
RSS_GROWTH_MIB = 500


@pytest.mark.browser
def test_twenty_users_at_once_see_the_single_user_figures(chromium, demo_db, tmp_path):
    expected, outcome = run_users(demo_db, tmp_path / "streamlit.log", USERS, SECONDS, CHOICES)
    # the choices really differ: a user shown another choice's figures would be caught
    assert len(set(expected.values())) == len(expected)

    assert not outcome.problems, outcome.problems[:10]
    assert not outcome.wrong, outcome.wrong[:5]
    assert outcome.checked >= USERS, outcome.checked  # every user got work done
    assert all(outcome.timings[action] for action in ACTIONS), {
        a: len(t) for a, t in outcome.timings.items()
    }
    growth = outcome.rss_peak_mib - outcome.rss_start_mib
    assert growth < RSS_GROWTH_MIB, (outcome.rss_start_mib, outcome.rss_peak_mib)


def variants(current: definitions.Definition) -> list[definitions.Definition]:
    """Return six definitions that score differently: behaviour points and caps changed."""
    out = []
    for i in range(6):
        rules = tuple(
            dataclasses.replace(
                r,
                points=r.points + (i + 1) * (1 if j % 2 else -1) * 2,
                cap=None if i % 3 == 0 else r.cap,
            )
            for j, r in enumerate(current.behaviour_rules)
        )
        out.append(dataclasses.replace(current, behaviour_rules=rules, name=f"variant {i}"))
    return out


def same_scores(a: lab.Scores, b: lab.Scores) -> bool:
    """Return whether two scorings are identical, array for array."""
    return (
        np.array_equal(a.lead_max, b.lead_max)
        and np.array_equal(np.concatenate(a.key_lo), np.concatenate(b.key_lo))
        and np.array_equal(np.concatenate(a.key_hi), np.concatenate(b.key_hi))
        and np.array_equal(a.sql_hi, b.sql_hi)
        and np.array_equal(a.sql_code, b.sql_code)
        and np.array_equal(a.sql_lag, b.sql_lag)
    )


def test_scoring_from_many_threads_at_once_gives_the_single_thread_scores(demo_db):
    con = db.connect(demo_db, read_only=True)
    try:
        cur = con.cursor()
        current = definitions.current(cur)
        drafts = [current, *variants(current)]
        m = lab.materialise_for(cur, *drafts)
    finally:
        con.close()
    slower = lab.with_half_life(m, 60.0)  # shares the history and the scoring buffers with m
    jobs = [(m, d) for d in drafts] + [
        (slower, dataclasses.replace(d, half_life_days=60.0)) for d in drafts[:3]
    ]
    alone = [lab.score(h, d) for h, d in jobs]
    assert len({int(s.lead_max.sum()) for s in alone}) == len(alone)  # they differ

    def worker(seed: int) -> list[tuple[int, lab.Scores]]:
        order = list(range(len(jobs))) * 2
        random.Random(seed).shuffle(order)
        return [(i, lab.score(*jobs[i])) for i in order]

    results = [result for done in fx.at_once(worker, 8) for result in done]
    assert len(results) == 8 * 2 * len(jobs)
    wrong = [i for i, scores in results if not same_scores(scores, alone[i])]
    assert not wrong, (
        f"{len(wrong)} of {len(results)} concurrent scorings differ: jobs {wrong[:10]}"
    )


def test_the_benchmarks_no_charts_switch_sends_placeholders_and_the_same_figures(
    demo_db, monkeypatch
):
    """FUNNELCAST_BENCH_NO_CHARTS=1 (bench_many_users --no-charts) sends every Plotly chart of
    a page as a one-line placeholder with its JSON's size, and leaves every figure as it is."""
    import streamlit as st
    from apptest_support import NavigationOnly, run_app
    from streamlit.delta_generator import DeltaGenerator
    from streamlit.testing.v1 import app_test

    from funnelcast.ui import run_log

    monkeypatch.setattr(app_test, "PagesManager", NavigationOnly)
    drawn = run_app(monkeypatch, demo_db)
    assert drawn.get("plotly_chart")
    # put back whatever the switch changes once the test ends
    monkeypatch.setattr(DeltaGenerator, "plotly_chart", DeltaGenerator.plotly_chart)
    monkeypatch.setattr(st, "plotly_chart", st.plotly_chart)
    monkeypatch.setenv(run_log.NO_CHARTS_ENV, "1")
    placeheld = run_app(monkeypatch, demo_db)
    assert not placeheld.get("plotly_chart")
    notes = [c.value for c in placeheld.caption if "not drawn" in c.value]
    assert len(notes) == len(drawn.get("plotly_chart"))
    assert all(int(n.split("(")[1].split(" ")[0].replace(",", "")) > 1000 for n in notes)
    assert [m.value for m in placeheld.metric] == [m.value for m in drawn.metric]
