"""Time the Threshold Lab engine at 10M leads beside 1M: materialise, peak memory, the moves a
page answers, and a second start that reads the history kept beside the database.

Run from the repository root (a 10M run may pass 4 GiB: under the shared lock):
    flock /tmp/big.lock python3 -m uv run python benchmarks/bench_lab10m.py \
        --db /tmp/lab1m.duckdb --db /tmp/d10m/demo10m.duckdb [--runs 3] [--workdir DIR]

Each database is linked into --workdir (a symlink: the history is kept beside the link,
DB.lab/, never beside a database that is not ours to write). Each part runs in processes of its
own, --runs times, and reports the median and the spread:
- cold: a first start, nothing kept: materialise every event type the data holds (as the
  dashboard), keep it beside the database, then score, move the threshold, change a weight with
  all the page's recomputes, change the half-life; the process's peak RSS;
- second: a restart on the same data: the kept history read back, the first scoring and the
  figures the page shows first; the whole process's wall time, imports included.
It writes its section of benchmarks/RESULTS.md and leaves the others as they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()

import numpy as np  # noqa: E402  (the process's start is timed from above the imports)
from bench_lab import peak_rss_mib, reweighted, timed  # noqa: E402
from results import machine, replace_section  # noqa: E402

from funnelcast import definitions, lab  # noqa: E402
from funnelcast.data import db  # noqa: E402
from funnelcast.lab import stored, warm  # noqa: E402

SECTION = "## Threshold Lab engine at 10M leads"
TARGETS = {"materialise_s": 60, "peak_gib": 12, "threshold_ms": 5, "page_weights_s": 1.0}
TARGETS |= {"half_life_s": 5, "second_start_s": 10}


def _open(path: str, kept: bool = False):
    """Return a read-only cursor on the database, its current definition and the event types
    the dashboard materialises (every type the data holds, and the definition's; kept: those
    of the vocabulary kept beside the database, as the dashboard reads them on a restart)."""
    cur = db.connect(path, read_only=True).cursor()
    current = definitions.current(cur)
    held = stored.event_types_of(stored.kept_vocabulary(cur, path)) if kept else None
    types = sorted(
        set(held or warm.db_event_types(cur)) | {r.event_type for r in current.behaviour_rules}
    )
    return cur, current, tuple(types)


def _quarters(m: lab.Materialised) -> list[str]:
    """Return the last four quarters ended by the data's today (the page's backtest)."""
    today = (m.calendar.as_of or dt.datetime.now()).date()
    return [q.label for q in m.calendar.quarters if q.end <= today][-4:]


def cold(path: str) -> dict:
    """Return a first start's figures: materialise, keep, and the moves of the page."""
    cur, current, types = _open(path)
    shutil.rmtree(stored.folder_of(path), ignore_errors=True)
    out: dict = {"events": cur.sql("select count(*) from events").fetchall()[0][0]}
    key = stored.data_version(cur, path, types)
    out["materialise_s"], m = timed(lambda: lab.materialise(cur, current.half_life_days, types))
    out["materialise_peak_mib"] = peak_rss_mib()
    say = lambda: print(json.dumps(out), flush=True)  # noqa: E731  (what a killed run leaves)
    out["leads"], out["checks"], out["groups"] = m.n_leads, m.n_checks, len(m.group_type)
    out["early"] = len(m.early_type)
    out["history_mib"] = m.nbytes / 2**20
    out["arrays"] = {
        name: [str(v.dtype), v.nbytes]
        for name, v in vars(m).items()
        if isinstance(v, np.ndarray) and v.nbytes
    }
    out["write_s"], out["written"] = timed(lambda: stored.write(m, path, key))
    m.field_store.folder = stored.folder_of(path) / key / stored.FIELDS  # as kept_history
    stored.kept_vocabulary(cur, path)  # as the dashboard's first start keeps it
    say()
    lab.read_fields_for(m, cur, current)
    quarters = _quarters(m)
    out["first_score_s"], scores = timed(lambda: lab.score(m, current))
    out["first_score_peak_mib"] = peak_rss_mib()
    say()
    lab.tradeoff_curve(m, scores, quarters)
    moments = lab.mql_moments(m, current)
    thresholds = np.random.default_rng(0).uniform(20, 120, 30).round(1)
    lab.backtest(m, scores, current.threshold, quarters, 2000)  # the first ask sorts nothing
    lab.backtest(m, scores, current.threshold + 1, quarters, 2000)  # the second sorts
    moves = [
        timed(lambda t=t: lab.backtest(m, scores, float(t), quarters, 2000))[0] for t in thresholds
    ]
    out["threshold_ms"] = statistics.median(moves) * 1e3
    out["who_moves_ms"] = (
        statistics.median(
            timed(lambda t=t: lab.who_moves(m, moments, scores, float(t)))[0]
            for t in thresholds[:10]
        )
        * 1e3
    )

    def page_after_weights(factor: float) -> None:
        """Recompute what the page shows after a weight move (the scoring then released, as
        the dashboard's cache evicts one per new scoring)."""
        moved = lab.score(m, reweighted(current, factor))
        lab.tradeoff_curve(m, moved, quarters)
        lab.who_moves(m, moments, moved, current.threshold)
        lab.backtest(m, moved, current.threshold, quarters, sales_capacity_per_week=2000)
        moved.release()

    page = [timed(lambda f=f: page_after_weights(f))[0] for f in (1.3, 0.7, 1.15, 0.85, 1.05)]
    out["page_weights_s"] = statistics.median(page)
    out["page_weights_all_s"] = page
    out["page_weights_peak_mib"] = peak_rss_mib()
    say()
    halves = []
    for half_life in (45.0, 20.0, 60.0):
        other = dataclasses.replace(current, half_life_days=half_life)
        took, slower = timed(lambda o=other: lab.score(lab.with_half_life(m, o.half_life_days), o))
        slower.release()
        halves.append(took)
    out["half_life_s"] = statistics.median(halves)
    out["peak_rss_mib"] = peak_rss_mib()
    out["mqls"] = int(np.count_nonzero(moments != lab.NEVER))
    return out


def second(path: str) -> dict:
    """Return a second start's figures: the kept history read, then the page's first answers."""
    out: dict = {"imports_s": time.perf_counter() - STARTED}
    cur, current, types = _open(path, kept=True)
    half_life = current.half_life_days
    out["read_s"], kept = timed(lambda: stored.kept_history(cur, path, half_life, types))
    out["source"] = kept.source
    m = kept.history
    if m.half_life_days != current.half_life_days:
        m = lab.with_half_life(m, current.half_life_days)
    lab.read_fields_for(m, cur, current)
    quarters = _quarters(m)
    out["first_score_s"], scores = timed(lambda: lab.score(m, current))
    out["first_figures_s"], _ = timed(
        lambda: (
            lab.tradeoff_curve(m, scores, quarters),
            lab.backtest(m, scores, current.threshold, quarters, 2000),
            lab.who_moves(m, lab.mql_moments(m, current), scores, current.threshold),
        )
    )
    out["opened_s"] = time.perf_counter() - STARTED
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def run_part(part: str, path: str) -> dict:
    """Return the JSON a part prints, run in a process of its own, with its wall time."""
    took, done = timed(
        lambda: subprocess.run(
            [sys.executable, __file__, "--part", part, "--db", path],
            stdout=subprocess.PIPE,
            text=True,
        )
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode and not lines:
        raise RuntimeError(f"part {part} ended with {done.returncode} before any figure")
    # a part killed (out of memory, the benchmark's watchdog) leaves the figures it had
    return {**json.loads(lines[-1]), "process_s": took, "returncode": done.returncode}


def load() -> float:
    """Return the one-minute load average."""
    return os.getloadavg()[0]


def spread(runs: list[dict], name: str, scale: float = 1.0, digits: int = 1) -> str:
    """Return the median of a figure over runs, and every run's value in brackets."""
    values = [r[name] * scale for r in runs if name in r]
    if not values:
        return "not run"
    each = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{statistics.median(values):.{digits}f} ({each})"


def write_results(result: dict) -> None:
    """Replace this benchmark's section of RESULTS.md, leaving the others as they are."""

    def verdict(value: float, target: float) -> str:
        return "met" if value <= target else f"**missed** ({value / target:.1f}x)"

    sizes = list(result["sizes"])
    head = " | ".join(f"{r['cold'][0]['leads']:,} leads" for r in result["sizes"].values())
    rows = [
        ("materialise, every event type the data holds (s)", "cold", "materialise_s", 1, 1),
        (
            "peak RSS of that process: materialise, score, the moves below (GiB)",
            "cold",
            "peak_rss_mib",
            1 / 1024,
            2,
        ),
        ("peak RSS once materialised (GiB)", "cold", "materialise_peak_mib", 1 / 1024, 2),
        ("history held (GiB)", "cold", "history_mib", 1 / 1024, 2),
        ("keep it beside the database, once (s)", "cold", "write_s", 1, 1),
        ("first scoring (s)", "cold", "first_score_s", 1, 2),
        ("threshold move: the figures for one setting (ms)", "cold", "threshold_ms", 1, 1),
        ("who moves, per threshold move (ms)", "cold", "who_moves_ms", 1, 1),
        ("weight change with all the page recomputes (s)", "cold", "page_weights_s", 1, 2),
        ("half-life change: decay recomputed, rescore (s)", "cold", "half_life_s", 1, 2),
        (
            "second start: the whole process, imports to the page's first figures (s)",
            "second",
            "opened_s",
            1,
            1,
        ),
        ("second start: the kept history read back (s)", "second", "read_s", 1, 2),
        ("second start: first scoring (s)", "second", "first_score_s", 1, 2),
        ("second start: peak RSS (GiB)", "second", "peak_rss_mib", 1 / 1024, 2),
    ]
    targets = {
        "materialise_s": "60 s",
        "peak_rss_mib": "12 GB",
        "threshold_ms": "5 ms",
        "page_weights_s": "1 s",
        "half_life_s": "5 s",
        "opened_s": "10 s",
    }
    big = result["sizes"][sizes[-1]]
    lines = [
        SECTION,
        "",
        f"Run {result['when']} UTC on {machine()}; load average {result['load_before']:.1f} "
        f"before, {result['load_after']:.1f} after (other engineers' benchmarks share the two "
        "cores: times vary with them).",
        "Rerun: `flock /tmp/big.lock python3 -m uv run python benchmarks/bench_lab10m.py --db "
        + " --db ".join(sizes)
        + f" --cold-runs {result['cold_runs']} --runs {result['runs']}`. Each figure is the median "
        "of the first starts (nothing kept) or of the second starts, each in a fresh process, "
        "every run in brackets. Events: "
        + ", ".join(f"{r['cold'][0]['events']:,}" for r in result["sizes"].values())
        + "; check moments: "
        + ", ".join(f"{r['cold'][0]['checks']:,}" for r in result["sizes"].values())
        + ".",
        "",
        f"| what | {head} | target at 10M | |",
        "|---|" + "---:|" * len(sizes) + "---:|---|",
    ]
    for label, part, name, scale, digits in rows:
        cells = [spread(r[part], name, scale, digits) for r in result["sizes"].values()]
        target = targets.get(name, "")
        mark = ""
        if target and big[part]:
            value = statistics.median(r.get(name, float("inf")) for r in big[part])
            limit = {"peak_rss_mib": 12e9 / 2**20, "threshold_ms": 5}.get(name)
            mark = verdict(value, limit if limit else float(target.split()[0]))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} | {mark} |")
    arrays = big["cold"][0]["arrays"]
    checks = big["cold"][0]["checks"]
    lines += [
        "",
        f"What the history holds at {big['cold'][0]['leads']:,} leads, array by array (bytes per "
        "check moment: the array's bytes over the check moments):",
        "",
        "| array | type | MiB | bytes per check | holds |",
        "|---|---|---:|---:|---|",
    ]
    for name, (dtype, nbytes) in sorted(arrays.items(), key=lambda kv: -kv[1][1]):
        lines.append(
            f"| {name} | {dtype} | {nbytes / 2**20:,.0f} | {nbytes / checks:.2f} | "
            f"{MEANINGS.get(name, '')} |"
        )
    total = sum(nbytes for _, nbytes in arrays.values())
    lines.append(f"| all | | {total / 2**20:,.0f} | {total / checks:.2f} | |")
    lines.append("")
    lines.extend(result.get("notes", []))
    replace_section(SECTION, lines)


# what each array of the history holds (RESULTS.md's table of bytes per check moment)
MEANINGS = {
    "decay": "per check: 0.5^(gap since the lead's previous check / half-life), float64 so "
    "that thresholds are decided as the SQL decides them (a half-life change recomputes it)",
    "check_at": "per check: its moment, in seconds since the first quarter's first day",
    "check_groups": "per check: how many event groups (one moment, one type) it holds",
    "group_type": "per event group: its event type, a code",
    "group_count": "per event group: how many events of that type at that moment",
    "check_start": "per lead: where its checks start (offsets, no per-lead objects)",
    "group_start": "per lead: where its event groups start",
    "early_start": "per lead: where its events before creation start",
    "created_us": "per lead: its creation, us since the Unix epoch",
    "recorded_mql_us": "per lead: its recorded MQL moment (or NEVER)",
    "reached_sql_us": "per lead: when it reached SQL (or NEVER)",
    "reached_customer_us": "per lead: when it was won (or NEVER)",
    "early_type": "per early event group: its type",
    "early_count": "per early event group: its events",
    "early_age": "per early event group: its age at the lead's creation, in seconds",
    "early_weight": "per early event group: count x 0.5^(age / half-life)",
}


def main() -> None:
    """Run each part in its own processes and write the results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", action="append", required=True)
    parser.add_argument("--runs", type=int, default=3, help="second starts per database")
    parser.add_argument("--cold-runs", type=int, default=2, help="first starts per database")
    parser.add_argument("--workdir", default="/tmp/bench_lab10m")
    parser.add_argument("--part", choices=("cold", "second"), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md")
    parser.add_argument("--from-json", help="write RESULTS.md from a run's result.json")
    args = parser.parse_args()
    if args.part:
        print(json.dumps((cold if args.part == "cold" else second)(args.db[0])))
        return
    if args.from_json:
        write_results(json.loads(Path(args.from_json).read_text()))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result: dict = {"load_before": load(), "runs": args.runs, "sizes": {}}
    result["cold_runs"] = args.cold_runs
    result["when"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}"
    for given in args.db:
        link = workdir / Path(given).name
        if not link.exists():
            link.symlink_to(Path(given).resolve())
        runs: dict[str, list] = {"cold": [], "second": []}
        result["sizes"][given] = runs  # saved after every part: a run cut short keeps its parts
        for _ in range(args.cold_runs):
            runs["cold"].append(run_part("cold", str(link)))
            print(given, "cold", json.dumps(runs["cold"][-1]), flush=True)
            (workdir / "result.json").write_text(json.dumps(result, indent=1))
        for _ in range(args.runs):
            runs["second"].append(run_part("second", str(link)))
            print(given, "second", json.dumps(runs["second"][-1]), flush=True)
            (workdir / "result.json").write_text(json.dumps(result, indent=1))
        assert all(r.get("source") == "read" for r in runs["second"])
    result["load_after"] = load()
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    if not args.no_write:
        write_results(result)


if __name__ == "__main__":
    main()
