"""Twenty users at once on one served dashboard, and how long their page actions take.

Run from the repository root (Debian's chromium at /usr/bin/chromium):
    python3 -m uv run python benchmarks/bench_many_users.py [--db PATH] [--users 20] [--seconds 60]
        [--no-charts]

Without --db it builds the 20,000-lead demo (seed 7) in a temporary folder. It serves
`streamlit run app.py` on the database and runs tests/many_users_support.py: first one user
alone visits every choice (the expected figures), then the users work at once for the given
time, each choosing quarters and channels on the Overview, moving the Threshold Lab's threshold
with the keyboard and switching pages. Each action is timed from the input to the page having
finished its rerun in the browser (the server's script run, the websocket and the drawing of
every chart, on the same machine as the browsers). It writes its section of benchmarks/RESULTS.md
and leaves the others as they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

from results import machine, replace_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from many_users_support import ACTIONS, Choices, run_users  # noqa: E402

from funnelcast.data import db  # noqa: E402
from funnelcast.demo import build_demo  # noqa: E402
from funnelcast.ui.run_log import NO_CHARTS_ENV, RUN_LOG_ENV  # noqa: E402

SECTION = "## Many users at once: 20 browser sessions on one server"
CHOICES = Choices(
    scopes=(
        ("2026Q3", "All channels"),
        ("2026Q3", "search"),
        ("2026Q2", "social"),
        ("2025Q4", "email"),
        ("2026Q1", "events"),
        ("All history", "All channels"),
    ),
    thresholds=(62, 63, 64, 65, 66, 67, 68),
)


def percentile(values: list[float], p: float) -> float:
    """Return the p-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def server_table(runs: list[dict], many_from: float, users: int) -> list[str]:
    """Return the table rows of the server's run times per page, alone and with the users."""
    rows = []
    for who, phase in (("alone", lambda r: r["t"] < many_from), (f"{users} at once", None)):
        chosen = [r for r in runs if (phase(r) if phase else r["t"] >= many_from)]
        for page in sorted({r["page"] for r in chosen}):
            of_page = [r for r in chosen if r["page"] == page]
            done = [r for r in of_page if r["completed"]]
            if not done:
                continue
            wall = [r["seconds"] for r in done]
            cpu = [r["cpu"] for r in done]
            rows.append(
                f"| {page} | {who} | {len(done)} | {len(of_page) - len(done)} | "
                f"{percentile(wall, 50):.2f} | {percentile(wall, 90):.2f} | {max(wall):.2f} | "
                f"{percentile(cpu, 50):.2f} | {percentile(cpu, 90):.2f} |"
            )
    return rows


def main() -> int:
    """Run the benchmark and write its section of RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="database to serve (default: a fresh demo)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--shared-cpus",
        action="store_true",
        help="let the browsers share the server's CPU (default: server on CPU 0, browsers on "
        "the others, so the server's figures are its own)",
    )
    parser.add_argument(
        "--no-charts",
        action="store_true",
        help="the server builds and serialises every chart but sends a placeholder (FUNNELCAST_"
        "BENCH_NO_CHARTS=1), so the browsers draw no Plotly figure and the users act as fast "
        "as the server answers",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        database = args.db
        if database is None:
            database = Path(folder) / "demo.duckdb"
            con = db.connect(database, create=True)
            try:
                build_demo(con, leads=20_000, seed=7)
                con.execute("checkpoint")
            finally:
                con.close()
        leads = db.connect(database, read_only=True)
        try:
            n_leads = leads.execute("select count(*) from leads").fetchall()[0][0]
        finally:
            leads.close()
        run_log = Path(folder) / "runs.jsonl"
        expected, outcome = run_users(
            database,
            Path(folder) / "streamlit.log",
            args.users,
            args.seconds,
            CHOICES,
            env={RUN_LOG_ENV: str(run_log), NO_CHARTS_ENV: "1" if args.no_charts else None},
            split_cpus=not args.shared_cpus,
        )
        runs = [json.loads(line) for line in run_log.read_text().splitlines() if line]
    server_rows = server_table(runs, outcome.many_from, args.users)
    per_session = (outcome.rss_peak_mib - outcome.rss_start_mib) / max(args.users, 1)

    rows = []
    for who, timings in ((f"{args.users} at once", outcome.timings), ("alone", outcome.alone)):
        for action in ACTIONS:
            times = timings.get(action)
            if times:
                rows.append(
                    f"| {action} | {who} | {len(times)} | {percentile(times, 50):.2f} | "
                    f"{percentile(times, 90):.2f} | {percentile(times, 99):.2f} | "
                    f"{max(times):.2f} |"
                )
    lines = [
        SECTION,
        "",
        f"Run {dt.date.today().isoformat()} on {machine()}, browsers and server on the same "
        f"machine. {args.users} users (headless Chromium contexts) on {n_leads:,} demo leads "
        f"for {outcome.seconds:.0f} s, after one user alone visited each of the "
        f"{len(expected)} choices. `python3 -m uv run python benchmarks/bench_many_users.py"
        f"{' --db PATH' if args.db else ''}{' --no-charts' if args.no_charts else ''}`.",
        "",
        "Seconds from the input to the page having finished its rerun in the browser. "
        + (
            "The server built and serialised every chart but sent a placeholder "
            "(`--no-charts`): the browsers drew no Plotly figure, so the users acted as fast as "
            "the server answered. "
            if args.no_charts
            else f"The {args.users} Chromium renderers share the machine's cores with the "
            "server, so drawing the pages' charts takes much of this; users on their own "
            "machines wait less. "
        )
        + "'alone': the single user's pass, before the others start.",
        "",
        "| action | users | count | p50 | p90 | p99 | max |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"- figures checked against the single user's: {outcome.checked}; different: "
        f"{len(outcome.wrong)}; errors, exceptions or console errors: {len(outcome.problems)}",
        f"- server memory (RSS): {outcome.rss_start_mib:,.0f} MiB before the users, peak "
        f"{outcome.rss_peak_mib:,.0f} MiB, {outcome.rss_end_mib:,.0f} MiB at the end: "
        f"{per_session:,.1f} MiB per extra session",
        "",
        "The server's own share: seconds from the start to the end of each script run on the "
        "server (one per action: a widget change, a page switch, an open), and the CPU seconds "
        "of the run's thread, from FUNNELCAST_RUN_LOG (funnelcast/ui/run_log.py). "
        + (
            "The browsers shared the server's CPUs."
            if args.shared_cpus
            else "The server ran on CPU 0 alone, the browsers on the other CPUs."
        ),
        "",
        "| page | users | runs | cut short | wall p50 | wall p90 | wall max | CPU p50 | CPU p90 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *server_rows,
    ]
    for text in (outcome.problems + outcome.wrong)[:5]:
        lines.append(f"- {text}")
    replace_section(SECTION, lines)
    print("\n".join(lines))
    return 1 if outcome.problems or outcome.wrong else 0


if __name__ == "__main__":
    sys.exit(main())
