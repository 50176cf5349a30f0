"""The Funnel page's server-side compute for each choice a user makes on it, each the first time.

Run from the repository root:
    python3 -m uv run python benchmarks/bench_funnel_choices.py --db PATH [--runs 3]

Each run is a fresh process: Streamlit's AppTest runs app.py on the Funnel page (as
bench_pages.py does: the database opened read-only, the Lab's background warm-up not started),
first in its default scope with empty caches, then changes one choice at a time, each change a
script run whose report nothing cached yet (another breakdown, month cohorts, a channel, an
older quarter, all history), and last goes back to the default (the cached rerun). Each script
run's wall time is printed; with several runs, the median and range of each. Nothing is written
to RESULTS.md: the Funnel paragraph of its "Dashboard pages" section quotes these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(database: Path) -> list[tuple[str, float]]:
    """Return each step's script-run seconds in this (fresh) process."""
    sys.path.insert(0, str(ROOT))
    os.environ["FUNNELCAST_DB"] = str(database)
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    import funnelcast.lab.warm
    import funnelcast.ui.dashboard  # noqa: F401  (the page's imports, before any timing)
    import funnelcast.ui.funnel_page  # noqa: F401

    class NavigationOnly(PagesManager):
        """Never fall back to the legacy pages/ mode (see tests/apptest_support.py)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    app_test.PagesManager = NavigationOnly
    funnelcast.lab.warm.start_in_background = lambda *a, **k: None
    app = app_test.AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    app.switch_page("pages/funnel.py")
    out: list[tuple[str, float]] = []

    def timed(step: str, run) -> None:
        started = time.perf_counter()
        run()
        out.append((step, time.perf_counter() - started))
        if app.exception:
            raise SystemExit(f"{step}: {app.exception[0].message}")

    timed("default (first)", app.run)
    channel = app.selectbox(key="channel").options[2]  # the second channel (first: all)
    older = app.selectbox(key="quarter").options[3]  # three quarters back
    default_quarter = app.selectbox(key="quarter").value
    timed("by campaign", lambda: app.selectbox(key="funnel_by").set_value("campaign").run())
    timed("by industry", lambda: app.selectbox(key="funnel_by").set_value("industry").run())
    timed("month cohorts", lambda: app.radio(key="funnel_grain").set_value("month").run())
    timed(f"channel {channel}", lambda: app.selectbox(key="channel").set_value(channel).run())
    timed(f"quarter {older}", lambda: app.selectbox(key="quarter").set_value(older).run())
    timed("all history", lambda: app.selectbox(key="quarter").set_value("All history").run())

    def back() -> None:
        app.selectbox(key="quarter").set_value(default_quarter)
        app.selectbox(key="channel").set_value("All channels")
        app.selectbox(key="funnel_by").set_value("channel")
        app.radio(key="funnel_grain").set_value("quarter").run()

    timed("default again (cached)", back)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.db)))
        return
    subprocess.run([sys.executable, "-m", "funnelcast.lab.warm"], check=True, cwd=ROOT)
    runs = []
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        done = subprocess.run(
            [sys.executable, __file__, "--one", "--db", str(args.db)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        steps = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(steps)
        print(f"load {load:.2f} / {os.getloadavg()[0]:.2f}:", [(s, round(t, 2)) for s, t in steps])
    for i, (step, _) in enumerate(runs[0]):
        times = [r[i][1] for r in runs]
        print(f"{step:28s} {statistics.median(times):6.2f} s ({min(times):.2f}–{max(times):.2f})")


if __name__ == "__main__":
    main()
