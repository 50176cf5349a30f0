"""Each dashboard page's server-side compute on a database, the first time and cached.

Run from the repository root:
    python3 -m uv run python benchmarks/bench_pages.py --db PATH [--runs 3] [--pages overview ...]

Each run of a page is a fresh process: Streamlit's AppTest runs app.py (the shell every page
opens in: the sidebar's quarter and channel, what the data holds) on that page, once with empty
caches (what the first visitor of a server waits for on the server, Python's imports done
before) and then again (the cached rerun a scope change back or a second visitor gets), and
times each script run: every query, figure and chart the page computes and serialises, not the
browser's drawing. The database is opened read-only, as the dashboard always does. As a server
does at its start, the Lab engine's loops (which the Planner uses) are first compiled into
numba's on-disk cache (`python -m funnelcast.lab.warm`, not timed); the background warm-up of
each app.py run is not started, so that no niced compile shares the cores with a page measured.
The Threshold Lab page is measured by bench_lab_page.py. It writes its section of
benchmarks/RESULTS.md (without --no-write).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results import machine, replace_section

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Dashboard pages: server-side compute per page"
PAGES = ("overview", "funnel", "handoff", "roi", "planner", "data")
FIRST_TARGET, CACHED_TARGET = 2.0, 0.3


def measure_one(page: str, database: Path) -> dict:
    """Return one page's first and cached script-run seconds in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    os.environ["FUNNELCAST_DB"] = str(database)
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    import funnelcast.lab.warm
    import funnelcast.planner  # noqa: F401  (the pages' imports, before any timing)
    import funnelcast.ui.dashboard  # noqa: F401
    import funnelcast.ui.data_page  # noqa: F401
    import funnelcast.ui.funnel_page  # noqa: F401
    import funnelcast.ui.planner_page  # noqa: F401
    import funnelcast.ui.roi_page  # noqa: F401

    class NavigationOnly(PagesManager):
        """Never fall back to the legacy pages/ mode (see tests/apptest_support.py)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = NavigationOnly
    funnelcast.lab.warm.start_in_background = lambda *a, **k: None
    app = app_test.AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    if page != "overview":
        app.switch_page(f"pages/{page}.py")
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
        if app.exception:
            raise SystemExit(f"{page}: {app.exception[0].message}")
        errors = [e.value for e in app.error]
        if errors:
            raise SystemExit(f"{page}: {errors}")
    return {"page": page, "first": seconds[0], "cached": seconds[1]}


def run_page(page: str, database: Path) -> dict:
    """Return measure_one's figures from a fresh process, with the load average around it."""
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, __file__, "--one", page, "--db", str(database)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"{page} failed:\n{out.stderr[-3000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {**figures, "load": (load_before, os.getloadavg()[0])}


def spread(values: list[float]) -> str:
    """Return the median and the range of a few timings, in seconds."""
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def table(database: Path, results: dict[str, list[dict]], leads: int, events: int) -> str:
    """Return the results as a markdown table row per page."""
    rows = [
        f"| {leads:,} leads, {events:,} events: page | first run | cached rerun | "
        "load before / after |",
        "|---|---:|---:|---:|",
    ]
    for page, runs in results.items():
        first = [r["first"] for r in runs]
        cached = [r["cached"] for r in runs]
        loads = [r["load"] for r in runs]
        ok = (
            ""
            if statistics.median(first) <= FIRST_TARGET
            and statistics.median(cached) <= CACHED_TARGET
            else " ✗"
        )
        rows.append(
            f"| {page}{ok} | {spread(first)} | {spread(cached)} | "
            f"{loads[0][0]:.1f} / {loads[-1][1]:.1f} |"
        )
    return "\n".join(rows)


def main() -> None:
    """Measure every page (or those asked) runs times each, print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES))
    parser.add_argument("--one", choices=PAGES, help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one, args.db)))
        return
    from funnelcast.data import db

    con = db.connect(args.db, read_only=True)
    [(leads, events)] = con.execute(
        "select (select count(*) from leads), (select count(*) from events)"
    ).fetchall()
    con.close()
    # what a server does once at its start: the Lab engine's loops (the Planner uses them)
    # compiled into numba's on-disk cache, so that no page's first run measures the compiler
    subprocess.run([sys.executable, "-m", "funnelcast.lab.warm"], check=True, cwd=ROOT)
    results: dict[str, list[dict]] = {}
    for page in args.pages:
        results[page] = [run_page(page, args.db) for _ in range(args.runs)]
        print(page, [(round(r["first"], 2), round(r["cached"], 3)) for r in results[page]])
    text = table(args.db, results, leads, events)
    print(text)
    if not args.no_write:
        body = (
            f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}.\n"
            f"Rerun: `python3 -m uv run python benchmarks/bench_pages.py --db {args.db}`. "
            f"Each page runs {args.runs} times, each in a fresh process (Streamlit's AppTest "
            "running app.py on the page: the script run's wall time, first with empty caches, "
            "then cached); median (range). Target: first run ≤ "
            f"{FIRST_TARGET:g} s, cached ≤ {CACHED_TARGET:g} s (✗: missed).\n\n" + text
        )
        replace_section(SECTION, [SECTION, "", body])


if __name__ == "__main__":
    main()
