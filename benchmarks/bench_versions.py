"""Time the same benchmark part in several checkouts of Funnelcast, in one run, interleaved.

Run from the repository root, with each checkout set up (`python3 -m uv sync --locked` in it):
    git worktree add --detach ../before 035e7b2 && git worktree add --detach ../after a302577
    python3 -m uv run python benchmarks/bench_versions.py --tree before=../before \
        --tree after=../after --tree main=. --bench import --rounds 5 --workdir /tmp/versions

A restructuring should leave the figures where they were; two runs on different days on a
shared machine differ by more than the change does, so this runs each checkout's own benchmark
part (`benchmarks/bench_import.py --part importer`, `benchmarks/bench_lab.py --part engine`)
with that checkout's own Python environment, round by round (every checkout once per round, in
turn), each run in a fresh process on a fresh copy of the same data:

- import: 20M events from the CSV bench_import.py writes, into a database of 1M leads built by
  each checkout's bench_import (its own schema); the straightforward load (`--part straight`)
  runs beside them each round, as the yardstick of how loaded the machine was.
- lab: the Threshold Lab engine on one demo database (--db, e.g. a 1M-lead demo made by the
  oldest checkout), which each checkout first opens once with its own `db.connect` (migrating
  the copy to its schema if it is newer).

It prints, per checkout and figure, the median over the rounds and the range, and writes them
as a Markdown table to --out (default: stdout only). It writes nothing to RESULTS.md itself:
the section a comparison belongs to quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

IMPORT_FIGURES = ("seconds", "cpu")
LAB_FIGURES = (
    "materialise_s",
    "first_score_s",
    "weights_ms",
    "fit_points_ms",
    "page_weights_ms",
    "threshold_ms",
    "who_moves_ms",
    "curve_ms",
    "half_life_s",
)
# what the dashboard sets (funnelcast.DUCKDB_ALLOCATOR_ENV / _PROMPT), as bench_lab runs it
DASHBOARD_ENV = {
    "DUCKDB_JE_MALLOC_CONF": "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0"
}


def python_of(tree: Path) -> str:
    """Return the Python of a checkout's own environment."""
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{tree}: no .venv (run `python3 -m uv sync --locked` there)")
    return str(python)


def run_json(tree: Path, args: list[str], env: dict | None = None) -> dict:
    """Run a checkout's script in its own process; return the JSON of its last line."""
    out = subprocess.run(
        [python_of(tree), *args],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if out.returncode:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare_import(trees: dict[str, Path], workdir: Path, leads: int, events: int) -> dict:
    """Return per checkout its (base database, csv), built by its own bench_import."""
    made = {}
    for name, tree in trees.items():
        own = workdir / f"import-{name}"
        own.mkdir(parents=True, exist_ok=True)
        code = (
            "import json, sys; from pathlib import Path; sys.path.insert(0, 'benchmarks'); "
            "from bench_import import build; "
            f"b, c = build(Path({str(own)!r}), {leads}, {events}); "
            "print(json.dumps([str(b), str(c)]))"
        )
        base, csv = run_json(tree, ["-c", code])
        made[name] = (Path(base), Path(csv))
    return made


def prepare_lab(trees: dict[str, Path], workdir: Path, source: Path) -> dict:
    """Return per checkout a copy of the source database opened once by that checkout."""
    made = {}
    for name, tree in trees.items():
        copy = workdir / f"lab-{name}.duckdb"
        if not copy.exists():
            shutil.copy(source, copy)
            code = (
                "import json\n"
                "try:\n    from funnelcast.data import db\n"
                "except ImportError:\n    from funnelcast import db\n"
                f"db.connect({str(copy)!r}).close(); print(json.dumps({{}}))"
            )
            run_json(tree, ["-c", code])
        made[name] = copy
    return made


def one_import(tree: Path, base: Path, csv: Path, workdir: Path, part: str) -> dict:
    """Return one import part's figures, on a fresh copy of the base database."""
    fresh = workdir / "fresh.duckdb"
    shutil.copy(base, fresh)
    try:
        return run_json(
            tree,
            [
                "benchmarks/bench_import.py",
                "--part",
                part,
                "--database",
                str(fresh),
                "--csv",
                str(csv),
            ],
        )
    finally:
        fresh.unlink(missing_ok=True)


def one_lab(tree: Path, database: Path, workdir: Path, moves: int) -> dict:
    """Return one engine part's figures, on a fresh copy of the checkout's database."""
    fresh = workdir / "fresh-lab.duckdb"
    shutil.copy(database, fresh)
    try:
        return run_json(
            tree,
            [
                "benchmarks/bench_lab.py",
                "--part",
                "engine",
                "--db",
                str(fresh),
                "--moves",
                str(moves),
            ],
            env=DASHBOARD_ENV,
        )
    finally:
        fresh.unlink(missing_ok=True)


def summary(runs: dict[str, list[dict]], figures: tuple[str, ...]) -> str:
    """Return the Markdown table of each checkout's median (and range) per figure."""
    head = "| checkout | " + " | ".join(figures) + " |"
    lines = [head, "|---|" + "---:|" * len(figures)]
    for name, results in runs.items():
        cells = []
        for f in figures:
            values = [r[f] for r in results if f in r]
            if not values:
                cells.append("–")
                continue
            cells.append(f"{statistics.median(values):.3g} ({min(values):.3g}–{max(values):.3g})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the rounds and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--tree", action="append", required=True, help="NAME=PATH of a checkout")
    ap.add_argument("--bench", choices=("import", "lab"), required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path, required=True, help="kept: data is reused next time")
    ap.add_argument("--db", type=Path, help="lab: the demo database every checkout scores")
    ap.add_argument("--moves", type=int, default=200, help="lab: threshold moves timed")
    ap.add_argument("--leads", type=int, default=1_000_000, help="import: leads in the base")
    ap.add_argument("--events", type=int, default=20_000_000, help="import: events in the CSV")
    ap.add_argument("--out", type=Path, help="also write the table (and the runs) here")
    args = ap.parse_args()
    trees = {}
    for spec in args.tree:
        name, _, path = spec.partition("=")
        trees[name] = Path(path).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    loads = []
    if args.bench == "import":
        data = prepare_import(trees, args.workdir, args.leads, args.events)
        first = next(iter(trees))
        runs["straightforward (" + first + ")"] = []
    else:
        if args.db is None:
            raise SystemExit("--bench lab needs --db (a demo database the oldest checkout reads)")
        data = prepare_lab(trees, args.workdir, args.db)
    for r in range(args.rounds):
        for name, tree in trees.items():
            before = os.getloadavg()[0]
            started = time.perf_counter()
            if args.bench == "import":
                base, csv = data[name]
                result = one_import(tree, base, csv, args.workdir, "importer")
            else:
                result = one_lab(tree, data[name], args.workdir, args.moves)
            result["load"] = (before, os.getloadavg()[0])
            runs[name].append(result)
            loads.append(before)
            shown = {
                k: round(result[k], 3)
                for k in (IMPORT_FIGURES if args.bench == "import" else LAB_FIGURES)
                if k in result
            }
            print(
                f"round {r + 1} {name}: {shown} load {before:.1f} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        if args.bench == "import":
            base, csv = data[first]
            result = one_import(trees[first], base, csv, args.workdir, "unsorted")
            runs["straightforward (" + first + ")"].append(result)
            print(f"round {r + 1} straightforward: {result['seconds']:.2f} s", flush=True)
    table = summary(runs, IMPORT_FIGURES if args.bench == "import" else LAB_FIGURES)
    span = f"{min(loads):.1f} to {max(loads):.1f}" if loads else "–"
    text = f"{table}\n\nload average before each run: {span}\n"
    print(text)
    if args.out:
        args.out.write_text(text + "\n" + json.dumps(runs, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
