"""The server's own time per script run, for measuring many sessions on one server.

With FUNNELCAST_RUN_LOG set to a file, every run of app.py (one per user action: a widget
change, a page switch, an open) appends one JSON line: when it ended (Unix time), the session,
the page, the wall seconds from the run's start to its end on the server, and the CPU seconds
of the run's own thread (what the session cost the server, without the browsers' drawing).
A fragment's own reruns (st.fragment: the Threshold Lab's threshold slider) do not run app.py;
`timed_fragment` logs them the same way, under the page's name. Unset, nothing is measured or
written. benchmarks/bench_many_users.py reads the file.

With FUNNELCAST_BENCH_NO_CHARTS=1 (a measurement switch, for benchmarks only) every Plotly chart
is built and serialised as usual, then sent as a one-line placeholder: twenty browsers drawing
every chart on a two-core machine otherwise measure the drawing, not the server.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RUN_LOG_ENV = "FUNNELCAST_RUN_LOG"
NO_CHARTS_ENV = "FUNNELCAST_BENCH_NO_CHARTS"
_WRITE = threading.Lock()


@dataclass(frozen=True)
class Run:
    """A script run under way: when it began, on the wall clock and its thread's CPU clock."""

    wall: float
    cpu: float


def start() -> Run | None:
    """Return the run's start when runs are logged, else None."""
    if not os.environ.get(RUN_LOG_ENV):
        return None
    return Run(time.perf_counter(), time.thread_time())


def finish(run: Run | None, page: str, completed: bool) -> None:
    """Append the run's line to the log (nothing when runs are not logged).

    completed: the run reached its end (False: stopped or cut short by a newer run).
    """
    path = os.environ.get(RUN_LOG_ENV)
    if run is None or not path:
        return
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    line = json.dumps(
        {
            "t": time.time(),
            "session": ctx.session_id if ctx is not None else None,
            "page": page,
            "seconds": round(time.perf_counter() - run.wall, 6),
            "cpu": round(time.thread_time() - run.cpu, 6),
            "completed": completed,
        }
    )
    with _WRITE, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def timed_fragment(page: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Return a decorator (put under @st.fragment) that logs the fragment's own reruns as runs
    of the page; within a whole run of the page it adds nothing (app.py logs that run)."""

    def decorate(body: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(body)
        def timed(*args: Any, **kwargs: Any) -> Any:
            from streamlit.runtime.scriptrunner import get_script_run_ctx

            ctx = get_script_run_ctx()
            alone = bool(ctx is not None and ctx.fragment_ids_this_run)
            run = start() if alone else None
            completed = False
            try:
                result = body(*args, **kwargs)
                completed = True
                return result
            finally:
                finish(run, page, completed)

        return timed

    return decorate


def charts_off_if_asked() -> None:
    """Under FUNNELCAST_BENCH_NO_CHARTS=1, make st.plotly_chart (and every container's) build
    the figure's JSON, as Streamlit does, and send a placeholder with its size instead."""
    if os.environ.get(NO_CHARTS_ENV) != "1":
        return
    import streamlit as st
    from streamlit.delta_generator import DeltaGenerator

    if getattr(DeltaGenerator.plotly_chart, "_placeholder", False):
        return

    def placeholder(self: DeltaGenerator, figure_or_data: Any, *args: Any, **kwargs: Any) -> Any:
        size = len(figure_or_data.to_json()) if hasattr(figure_or_data, "to_json") else 0
        return self.caption(f"chart ({size:,} bytes, not drawn: {NO_CHARTS_ENV})")

    placeholder._placeholder = True  # type: ignore[attr-defined]
    DeltaGenerator.plotly_chart = placeholder  # type: ignore[method-assign,assignment]
    st.plotly_chart = functools.partial(placeholder, st._main)
