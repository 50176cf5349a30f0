"""The Threshold Lab's slow first open, shown as it goes: the engine made ready, the history
materialised, the draft scored and the definitions in force replayed, with a progress bar that
follows the real steps (funnelcast.lab.warm's and funnelcast.lab.materialise's reports).

The work runs in a thread of its own, on its own cursor, while the page's script thread draws
the bar: a progress element updated from inside a cached function would be replayed by
Streamlit's cache on every later hit. What needs no engine (the current definition's rules and
the SQL's MQL counts) is shown beside the bar meanwhile. A run whose work is cached draws
nothing: the bar appears only after SHOW_AFTER_S.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as Pending
from typing import Any

import streamlit as st

from funnelcast import lab
from funnelcast.definitions import Definition
from funnelcast.lab import page as tl
from funnelcast.lab import warm
from funnelcast.ui import dashboard, lab_figures

ENGINE = "Compiling the scoring engine (once per install)…"
MATERIALISE = {
    "leads": "Reading {leads:,} leads…",
    "events": "Reading {leads:,} leads' history…",
    "layout": "Laying out {leads:,} leads' history by moment…",
    "decay": "Decaying the history by the half-life…",
}
SCORING = "Scoring the draft over the history…"
REPLAYING = "Replaying the definitions in force…"
SHOW_AFTER_S = 0.4
POLL_S = 0.2
THREAD = "lab-prepare"


class _QuietThread(logging.Filter):
    """Drops Streamlit's 'missing ScriptRunContext' warning for the work's thread: it has no
    script context on purpose (the cached functions' spinners then draw nothing from it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
    _QuietThread()
)


@dataclasses.dataclass
class _Shown:
    """What the work is doing now: its step (1-based, of steps), words and share done."""

    steps: int
    step: int = 1
    text: str = ""
    done: float = 0.0

    def at(self, step: int, text: str, done: float = 0.0) -> None:
        """Note the step under way."""
        self.step, self.text, self.done = step, text, min(1.0, max(0.0, done))


def _own_cursor(database: dashboard.Database) -> tuple[dashboard.Database, Callable[[], None]]:
    """Return the database on a cursor of the work's own (DuckDB: one thread a cursor), and
    what closes it."""
    if database.engine != "duckdb":
        return database, lambda: None
    cursor = database.cursor.cursor()
    return dataclasses.replace(database, cursor=cursor), cursor.close


def _work(
    database: dashboard.Database,
    current: Definition,
    draft: Definition | None,
    shown: _Shown,
    leads: int,
) -> lab.Scores | None:
    """Make the engine ready, materialise, score the draft and replay the current definitions,
    noting each step in shown; return the draft's scores (None: no draft to score)."""
    database, close = _own_cursor(database)
    try:
        step = shown.steps - 2  # 2 with the engine to make ready first, else 1
        if step == 2:
            warm.ready(lambda _, done: shown.at(1, ENGINE, done))
        shown.at(step, MATERIALISE["leads"].format(leads=leads))
        dashboard.lab_materialised(
            database,
            draft or current,
            lambda name, done: shown.at(step, MATERIALISE[name].format(leads=leads), done),
        )
        shown.at(step + 1, SCORING)
        scores = dashboard.lab_scores(database, draft) if draft is not None else None
        shown.at(step + 2, REPLAYING)
        lab_figures.lab_current_moments(database, current)
        return scores
    finally:
        close()


def _in_thread(fn: Callable[[], Any]) -> Future:
    """Return the future of fn run in a new thread (it goes on if the page's run stops)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the page's run, which raises it
            future.set_exception(exc)

    threading.Thread(target=run, name=THREAD, daemon=True).start()
    return future


def prepare(
    database: dashboard.Database, current: Definition, draft: Definition | None
) -> lab.Scores | None:
    """Return the draft's scores (None for no draft), the engine and history made ready
    first; while that takes more than SHOW_AFTER_S, show its steps, the current definition's
    rules and the SQL's MQL counts."""
    ctx = dashboard.context(database)
    leads = int(ctx.extent.get("leads", {}).get("count_rows") or 0)
    shown = _Shown(steps=3 if warm.is_ready() else 4)
    future = _in_thread(lambda: _work(database, current, draft, shown, leads))
    box = st.empty()
    started = time.monotonic()
    bar = None
    try:
        while True:
            try:
                return future.result(timeout=POLL_S)
            except Pending:
                pass
            if time.monotonic() - started < SHOW_AFTER_S:
                continue
            if bar is None:
                bar = _draw(box.container(), database, current, ctx)
            bar.progress(
                shown.done,
                text=f"Step {shown.step} of {shown.steps}: {shown.text} {shown.done:.0%}",
            )
    finally:
        box.empty()


def _draw(where: Any, database: dashboard.Database, current: Definition, ctx: Any) -> Any:
    """Draw what waits for the engine and what needs none; return the progress bar."""
    with where:
        st.markdown("**Getting the Lab ready** (the first open after the server started)")
        bar = st.progress(0.0, text="Starting…")
        rules, counts = st.columns([3, 2])
        rules.markdown(
            f"**The current definition** (version {current.definition_id}, "
            f"{current.name}):\n" + "\n".join(f"- {line}" for line in tl.rule_lines(current))
        )
        quarters = tl.default_quarters(ctx)
        with counts:
            st.markdown("**Its MQLs in the default quarters** (counted by SQL)")
            st.dataframe(
                tl.mqls_by_quarter(dashboard.funnel_by_quarter(database, None), quarters),
                hide_index=True,
                column_config={
                    "quarter": st.column_config.TextColumn("Quarter"),
                    "mqls": st.column_config.NumberColumn("MQLs"),
                    "reached_sql": st.column_config.NumberColumn("→ SQL"),
                },
            )
    return bar
