"""Check the Threshold Lab's predicted peak memory (funnelcast.lab.budget) against the measured.

Run from the repository root:
    python3 -m uv run python benchmarks/bench_lab_memory.py --db PATH [--db PATH ...]
        [--share 1 --share 0.5 ...] [--big PATH --big-share 0.1] [--runs FILE] [--fit] [--write]

For each database and share, a fresh process (DuckDB's allocator as the dashboard sets it)
materialises the history as the dashboard does (every event type the data holds, the fields
the definitions name) of that share of leads, scores the definition in force once, and reports
its peak RSS beside the prediction the budget made from the counts before materialising.
--big runs one more, under the shared lock (`flock /tmp/big.lock`), only when its prediction
fits in the memory free. --fit prints the least-squares bytes per row of the runs (what
budget's constants come from). --runs adds earlier runs (the JSON lines it printed). --write puts
the table in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from results import machine, replace_section

import funnelcast
from funnelcast.lab import budget

HERE = Path(__file__).resolve().parent
SECTION = "## Threshold Lab memory budget"
TOLERANCE = 0.25
LOCK = "/tmp/big.lock"


def rss_bytes() -> int:
    """Return this process's resident memory now."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def child(path: str, share: float) -> dict:
    """Materialise and score once in this process; return the prediction and the peak."""
    from funnelcast import definitions, lab
    from funnelcast.data import db

    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    vocabulary = db.run(cur, "scoring_vocabulary")
    types = sorted(
        set(vocabulary.filter(vocabulary["kind"] == "behaviour")["value"].to_list())
        | {r.event_type for r in current.behaviour_rules}
    )
    fields = lab.named_fields([current])
    counted = lab.budget.counts(cur, types, fields)
    prediction = lab.budget.predict(counted)
    free = lab.budget.available_memory()
    if prediction.added(share) * lab.budget.MARGIN > free:  # never run what would not fit
        return {"db": path, "share": share, "skipped": f"{free / 2**30:.1f} GiB free"}
    before = rss_bytes()
    started = time.perf_counter()
    m = lab.materialise(
        cur,
        current.half_life_days,
        types,
        fields,
        sample=lab.Sample(share=share),
    )
    scores = lab.score(m, current)
    seconds = time.perf_counter() - started
    mqls = lab.sampled.backtest(m, lab.backtest(m, scores, current.threshold)).totals["mqls"]
    return {
        "db": path,
        "share": share,
        "counts": vars(counted),
        "predicted": prediction.peak(share),
        "before": before,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "seconds": seconds,
        "held_leads": m.n_leads,
        "mqls_scaled": mqls,
    }


def run_child(path: str, share: float, lock: bool = False) -> dict:
    """Return child()'s answer from a fresh process."""
    env = {**os.environ, funnelcast.DUCKDB_ALLOCATOR_ENV: funnelcast.DUCKDB_ALLOCATOR_PROMPT}
    cmd = [sys.executable, str(Path(__file__)), "--child", path, "--share", str(share)]
    if lock:
        cmd = ["flock", LOCK, *cmd]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def fit(runs: list[dict]) -> None:
    """Print the least-squares bytes per row the runs' peaks give (whole and sampled parts)."""
    rows, peaks = [], []
    for r in (r for r in runs if "skipped" not in r):
        c, s = r["counts"], r["share"]
        rows.append([1.0, c["leads"], s * c["events"]])
        peaks.append(r["peak"])
    x, *_ = np.linalg.lstsq(np.array(rows), np.array(peaks, dtype=float), rcond=None)
    names = ("base", "lead (whole, with its stage changes and values)", "event (sampled)")
    for name, value in zip(names, x):
        print(f"{name}: {value:,.1f} bytes")


def table(runs: list[dict], before: str, after: str) -> list[str]:
    """Return the RESULTS.md section."""
    lines: list[str] = [
        SECTION,
        "",
        f"Machine: {machine()}. `benchmarks/bench_lab_memory.py`: each row a fresh process "
        "materialising the history as the dashboard does (every event type, the definitions' "
        "fields) of a share of leads, then scoring once; peak RSS against the budget's "
        f"prediction from one count query made before (funnelcast/lab/budget.py). Target: "
        f"within {TOLERANCE:.0%}. Load average before: {before}; after: {after}.",
        "",
        "| database | leads | events | share | predicted peak | measured peak | off by | "
        "materialise + score | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "skipped" in r:
            lines.append(f"| {Path(r['db']).name} | | | {r['share']:g} | skipped: {r['skipped']} |")
            continue
        off = r["predicted"] / r["peak"] - 1
        lines.append(
            f"| {Path(r['db']).name} | {r['counts']['leads']:,} | {r['counts']['events']:,} | "
            f"{r['share']:g} | {r['predicted'] / 2**30:.2f} GiB | {r['peak'] / 2**30:.2f} GiB | "
            f"{off:+.0%} | {r['seconds']:.1f} s | "
            f"{'met' if abs(off) <= TOLERANCE else 'NOT met'} |"
        )
    lines += [
        "",
        f"The prediction (funnelcast/lab/budget.py): {budget.BASE_BYTES / 1e6:.0f} MB for the "
        f"process and DuckDB's working memory, {budget.LEAD_WHOLE_BYTES} B per lead, "
        f"{budget.STAGE_CHANGE_BYTES} B per stage change and {budget.VALUE_BYTES} B per custom "
        "attribute value the rules name (all read whole before the sample is taken), and per "
        f"lead held {budget.LEAD_SAMPLED_BYTES} B and per event of the scored types held "
        f"{budget.EVENT_BYTES} B (the history and one scoring). The dashboard sets what "
        "materialising adds (the prediction less the process) against the memory the process "
        f"may still take, with {budget.MARGIN:g}x room; where it does not fit the Lab takes "
        "the largest whole percent of leads that does. The seconds are wall time under the "
        "load given, niced: a memory benchmark, not a timing one.",
    ]
    return lines


def load() -> str:
    """Return the load average over 1, 5 and 15 minutes."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", action="append", default=[])
    parser.add_argument("--share", action="append", type=float)
    parser.add_argument("--child")
    parser.add_argument("--big", help="a large database, run under the shared lock")
    parser.add_argument("--big-share", type=float, default=0.1)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--runs", action="append", default=[], help="JSON lines of earlier runs")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, (args.share or [1.0])[0])))
        return
    before = load()
    runs = [json.loads(line) for f in args.runs for line in Path(f).read_text().splitlines()]
    for path in args.db:
        for share in args.share or [1.0]:
            runs.append(run_child(path, share))
            print(json.dumps(runs[-1]), flush=True)
    if args.big:
        from funnelcast.data import db

        con = db.connect(args.big, read_only=True)
        counted = budget.counts(con.cursor(), ["email_open"], ())  # sized again in the child
        con.close()
        free = budget.available_memory()
        print(f"big: {counted.leads:,} leads; {free / 2**30:.1f} GiB free", flush=True)
        runs.append(run_child(args.big, args.big_share, lock=True))
        print(json.dumps(runs[-1]), flush=True)
    after = load()
    if args.fit:
        fit(runs)
    lines = table(runs, before, after)
    print("\n".join(lines))
    if args.write:
        replace_section(SECTION, lines)


if __name__ == "__main__":
    main()
