"""The Threshold Lab engine compiled ahead: the first user of a server does not wait for numba.

numba compiles the engine's loops (lab._fast, cache=True) on their first call in a Python
install and keeps the machine code on disk (__pycache__ beside lab/_fast, or $NUMBA_CACHE_DIR);
later processes load it. warm_up runs the engine end to end, as the Lab page does, on a small
demo history built in memory, so that every loop is compiled, or loaded, for the argument types
real histories give it; each of STEPS is reported to a callback with the share done.

A server starts it in a separate process (start_in_background, once per process): numba's
compiler holds the GIL for long stretches, and a thread doing it would stall the pages the
server is drawing meanwhile. The process is niced, reports its steps on its stdout
(`python -m funnelcast.lab.warm`), and leaves the compiled loops in numba's cache; the server's
own warm_up then only loads them (ready, once per process); a background warm-up still
running when a user first needs the engine is stopped, and the server compiles the rest itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import duckdb

from funnelcast import definitions
from funnelcast.data import db
from funnelcast.lab import explain, history, moving, scores, thresholds, versions

# The warm-up's steps, in order: the engine's loops that each first runs.
STEPS = (
    "a small demo history",
    "laying out events",
    "scoring",
    "replaying the definitions in force",
    "counting a threshold",
    "who moves",
)
WARM_LEADS = 400
# Called with the step under way and the share of the whole warm-up done, in [0, 1].
Report = Callable[[str, float], None]


def _silent(step: str, done: float) -> None:
    """Report nothing."""


def warm_up(report: Report | None = None) -> None:
    """Run every loop of the engine once on a small in-memory demo, as the Lab page does; report
    each step (see STEPS) with the share done before it, and 1.0 at the end."""
    say = report or _silent

    def step(i: int) -> None:
        say(STEPS[i], i / len(STEPS))

    step(0)
    from funnelcast.demo import build_demo  # the generator: needed here only, not at import

    con = db.connect(":memory:", create=True)
    try:
        build_demo(con, leads=WARM_LEADS, seed=1)
        cur = con.cursor()
        current = definitions.current(cur)
        if current is None:  # the demo always saves one; nothing to warm up without it
            return
        ids = definitions.list_versions(cur)["definition_id"].to_list()
        kept = [definitions.load(cur, i) for i in ids]
        types = sorted(
            {r.event_type for d in kept for r in d.behaviour_rules} | set(db_event_types(cur))
        )
        step(1)
        m = history.materialise(cur, current.half_life_days, types)
        history.read_fields_for(m, cur, current, *kept)
        step(2)
        s = scores.score(m, current)
        step(3)
        in_force = [kept[-1]] * len(m.calendar.quarters)
        spans = versions.versions_in_force(m, in_force)
        moments = versions.mql_moments_in_force(m, spans)
        labels = [q.label for q in m.calendar.quarters]
        step(4)
        thresholds.backtest_moments(m, moments, current.threshold, labels, 50.0)
        thresholds.backtest(m, s, current.threshold, labels, 50.0)
        # the second threshold asked of a scoring builds and reads the records' index
        thresholds.backtest(m, s, current.threshold + 1, labels, 50.0)
        thresholds.tradeoff_curve(m, s, tuple(labels))
        step(5)
        moving.who_moves(m, moments, s, current.threshold + 5)
        # and the second who moves (read-only moments: these are) builds and reads its index
        moving.who_moves(m, moments, s, current.threshold + 6)
        moving.movers(m, moments, s, current.threshold + 5)
        explain.lead_checks(m, s.weights, 0)
        s.release()
    finally:
        con.close()
    say(STEPS[-1], 1.0)


def db_event_types(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the event types the demo's events hold."""
    words = db.run(cur, "scoring_vocabulary")
    return [w for w, kind in zip(words["value"], words["kind"]) if kind == "behaviour"]


# ===== in the background, at server start =====


class Background:
    """A warm-up process and what it last reported (read from its stdout by a thread)."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.step = STEPS[0]
        self.done = 0.0
        self.started = time.monotonic()
        self.seconds: float | None = None  # how long it ran, once it has ended
        self._reader = threading.Thread(target=self._read, name="lab-warm-up", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Note each step the process reports ('<share> <step>' lines) until it ends."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            share, _, step = line.strip().partition(" ")
            try:
                self.done = float(share)
            except ValueError:
                continue
            self.step = step
        self.process.wait()
        self.seconds = time.monotonic() - self.started

    @property
    def running(self) -> bool:
        """Return whether the process has not ended yet."""
        return self.seconds is None

    def wait(self, report: Report, timeout: float = 600.0, poll: float = 0.25) -> None:
        """Report its progress until it ends, or for timeout seconds at most."""
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            report(self.step, self.done)
            time.sleep(poll)


_lock = threading.Lock()
_background: Background | None = None
_ready = False


def start_in_background() -> Background | None:
    """Start the warm-up process once per Python process (the first call; later calls return
    the same one); None where it could not start (the engine then compiles when first used)."""
    global _background
    with _lock:
        if _background is None and not _ready:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-m", "funnelcast.lab.warm"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            except OSError:
                return None
            _background = Background(process)
        return _background


def ready(report: Report | None = None) -> None:
    """Make the engine ready in this process, once: warm up here, loading what a background
    warm-up compiled and compiling what it did not. Later calls return at once.

    A background warm-up still running when a user needs the engine is stopped first: it is
    niced and began from nothing, so waiting for it took longer than compiling here at once
    (measured under load: 43.7 s against 26.1 s for a click 15 s after the server started);
    what it already compiled is in numba's cache (each kernel's file is written whole, then
    renamed) and is loaded, not compiled again."""
    global _ready
    say = report or _silent
    if _ready:
        return
    stop_background()
    with _lock:
        if not _ready:
            warm_up(say)
            _ready = True


def stop_background(timeout: float = 5.0) -> None:
    """Stop a background warm-up still running (a no-op once it has ended)."""
    background = _background
    if background is None or not background.running:
        return
    background.process.terminate()
    try:
        background.process.wait(timeout)
    except subprocess.TimeoutExpired:
        background.process.kill()
        background.process.wait()


def is_ready() -> bool:
    """Return whether this process's engine is ready (ready has run)."""
    return _ready


def main() -> None:
    """Warm up, niced, printing each step as '<share> <step>' (what Background reads)."""
    if hasattr(os, "nice"):
        os.nice(10)
    warm_up(lambda step, done: print(f"{done:.4f} {step}", flush=True))


if __name__ == "__main__":
    main()
