"""Calibrate the MQL planner: backtest it on demo histories of several seeds and write the hit
rates of its 80% and 90% ranges and the error of its point forecast to benchmarks/RESULTS.md.

Run from the repository root:
    python3 -m uv run python benchmarks/bench_planner.py [--seeds 8] [--leads 20000]

For each seed it builds a demo database (`funnelcast.demo`) in a temporary directory and runs
funnelcast.planner.backtest: every past quarter with at least two mature quarters before it is
planned with only the data recorded before its first day (its own MQLs given), and the customers
it then won are compared with the predicted range. It also times the whole `plan` (what the CLI
and the page compute) on the seed-7 database, and on its own the Monte Carlo plan (the binomial
tails of the odds searched for each level: scipy's work). It writes its section of RESULTS.md
and leaves the other sections as they are (`--print-only`: it prints the section and writes
nothing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
from results import machine, replace_section

from funnelcast import planner
from funnelcast.core import formats
from funnelcast.core.stats import rate
from funnelcast.data import db
from funnelcast.data.context import load_context
from funnelcast.demo import build_demo

SECTION = "## MQL planner: calibration backtest"


PLAN_RUNS = 5  # the Monte Carlo plan alone is timed this many times (the median is kept)


def run_seed(path: Path, leads: int, seed: int) -> tuple[pl.DataFrame, tuple[float, float] | None]:
    """Return the backtest of one seed's demo and, for seed 7, the time of one whole plan and
    the median time of the Monte Carlo plan alone (history loaded once)."""
    con = db.connect(path, create=True)
    try:
        build_demo(con, leads=leads, seed=seed)
        con.execute("checkpoint")
        cur = con.cursor()
        frame = planner.backtest(cur).with_columns(pl.lit(seed).alias("seed"))
        seconds = None
        if seed == 7:
            started = time.perf_counter()
            planner.make_plan(cur)
            whole = time.perf_counter() - started
            history = planner.load_history(cur, load_context(cur))
            target = planner.stored_target(cur, planner.default_quarter(history))
            assert target is not None  # the demo stores targets for the next two quarters
            runs = []
            for _ in range(PLAN_RUNS):
                started = time.perf_counter()
                planner.plan(history, target)
                runs.append(time.perf_counter() - started)
            seconds = (whole, statistics.median(runs))
    finally:
        con.close()
    return frame, seconds


def rate_text(successes: int, n: int) -> str:
    """Return a hit rate with its n and Wilson interval."""
    r = rate(successes, n)
    return (
        f"{formats.share(r.value)} ({successes}/{n}; 95% CI {formats.interval(r.low, r.high, 0)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8, help="demo seeds 1..N (default 8)")
    parser.add_argument("--leads", type=int, default=20_000, help="leads per demo (default 20,000)")
    parser.add_argument(
        "--print-only", action="store_true", help="print the section, leave RESULTS.md as it is"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    frames, plan_seconds = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            frame, seconds = run_seed(Path(tmp) / f"demo{seed}.duckdb", args.leads, seed)
            frames.append(frame)
            plan_seconds = seconds if seconds is not None else plan_seconds
            print(f"seed {seed}: {frame.height} quarters backtested", flush=True)
    every = pl.concat(frames)
    total_seconds = time.perf_counter() - started

    per_seed = []
    for seed_frame in frames:
        s = planner.backtest_summary(seed_frame)
        per_seed.append(
            f"| {seed_frame['seed'][0]} | {s['quarters']} | {s['hit_rate_80']['successes']}/{s['quarters']} "
            f"| {s['hit_rate_90']['successes']}/{s['quarters']} | {s['mean_absolute_error']:.1f} "
            f"| {formats.share(s['mean_absolute_percentage_error'])} | {s['bias']:+.1f} "
            f"| {s['mean_actual']:.1f} |"
        )
    pooled = planner.backtest_summary(every)
    n = pooled["quarters"]
    seven = every.filter(pl.col("seed") == 7) if args.seeds >= 7 else frames[0]
    lines = [
        SECTION,
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Rerun: `python3 -m uv run python benchmarks/bench_planner.py --seeds {args.seeds} "
        f"--leads {args.leads}`. Demo seeds 1–{args.seeds}, {args.leads:,} leads each; every "
        f"past quarter with at least {planner.MIN_HISTORY} mature quarters before it is planned "
        f"with only the data recorded before its first day (rates from up to "
        f"{planner.DEFAULT_WINDOW} mature quarters, lags, customers without an MQL, the earlier "
        f"cohorts as they then stood), given the MQLs the quarter then had, and its predicted "
        f"customers compared with those it won. 5,000 simulations per quarter. Whole run: "
        f"{total_seconds:.0f} s"
        + (
            f"; one whole plan (`funnelcast plan`'s work: history, plan, the definition "
            f"replayed by the Threshold Lab engine, qualified leads) on seed 7: "
            f"{plan_seconds[0]:.2f} s; the Monte Carlo plan alone (10,000 simulations, the "
            f"odds searched for each level, and again for the steady state), median of "
            f"{PLAN_RUNS}: {plan_seconds[1]:.3f} s."
            if plan_seconds is not None
            else "."
        ),
        "",
        "| | claimed | hit rate |",
        "|---|---:|---:|",
        f"| 80% range holds what happened | 80% | {rate_text(int(every['in_80'].sum()), n)} |",
        f"| 90% range holds what happened | 90% | {rate_text(int(every['in_90'].sum()), n)} |",
        "",
        f"Point forecast (the median): mean absolute error {pooled['mean_absolute_error']:.1f} "
        f"customers a quarter ({formats.share(pooled['mean_absolute_percentage_error'])} of what "
        f"happened; quarters won {pooled['mean_actual']:.1f} customers on average), bias "
        f"{pooled['bias']:+.1f} (negative: forecasts fell short).",
        "",
        "| seed | quarters | in 80% range | in 90% range | mean abs. error | MAPE | bias | mean customers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *per_seed,
        "",
        f"Seed {seven['seed'][0]} quarter by quarter:",
        "",
        "| quarter | rates from | MQLs | forecast | 80% range | 90% range | won |",
        "|---|---|---:|---:|---:|---:|---:|",
        *[
            f"| {r['quarter']} | {r['history']} | {r['mqls']:,} | {r['predicted']:.0f} "
            f"| {r['low_80']:.0f}–{r['high_80']:.0f} | {r['low_90']:.0f}–{r['high_90']:.0f} "
            f"| {r['actual']}{'' if r['in_90'] else ' ✗'} |"
            for r in seven.iter_rows(named=True)
        ],
        "",
        "What the ranges hold: the uncertainty of the rates (Beta posteriors from the counts), "
        "of the lag shares (Dirichlet), of the run rate of customers without an MQL "
        "(Gamma-Poisson) and binomial outcomes. What they leave out: drift — a rate that moves "
        "between the history window and the quarter planned (the window lags the quarter by a "
        "year or more), which is where misses and the bias come from.",
    ]
    if not args.print_only:
        replace_section(SECTION, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
