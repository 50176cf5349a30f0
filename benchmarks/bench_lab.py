"""Time the Threshold Lab engine (funnelcast.lab) at 1M leads against a plain re-score.

Run from the repository root:
    python3 -m uv run python benchmarks/bench_lab.py [--db PATH] [--leads 1000000] [--moves 200]
        [--repeat 3]

Without --db it builds a demo database (`funnelcast demo`) in a temporary directory. Each part
runs in its own process, so that no part's memory counts in another's peak, and each timed part
(engine, baseline) --repeat times, each in a fresh process: the figures are the median of the
runs, with their range (the load average before each run is reported beside them):
- engine: materialise, weight and fit-point changes, threshold moves (everything the page shows
  for one setting), who moves, the trade-off curve, half-life changes, explain a score; wall
  times, medians of many in each run. It also checks, in the same run, that the engine's MQLs at the
  current threshold are those of funnelcast.scoring (held equal to the SQL by the tests);
- memory: materialise and score under tracemalloc (the engine's own arrays) and the process's
  peak RSS, once with DuckDB's allocator as the dashboard sets it (freed memory handed back
  within a quarter second: funnelcast.DUCKDB_ALLOCATOR_PROMPT) and once as it comes, keeping
  what its queries freed for seconds; the engine part also runs as the dashboard does;
- baseline: the straightforward approach, a plain pandas re-score of the raw events for one
  threshold move, checked to find the same MQLs.
It writes its section of benchmarks/RESULTS.md and leaves the other sections as they are.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from results import RESULTS, machine, replace_section

import funnelcast
from funnelcast import definitions, lab
from funnelcast.data import db
from funnelcast.definitions import BehaviourRule, FitRule, fields, operators, scoring

HERE = Path(__file__).resolve().parent
SECTION = "## Threshold Lab engine"
# peak_gib: the "1.5 GB", read as 1.5e9 bytes (the stricter of GB and GiB)
TARGETS = {"threshold_ms": 5, "weights_ms": 100, "half_life_s": 1.5, "peak_gib": 1.5}
# the process as the dashboard runs it: app.py sets DuckDB's allocator to hand freed memory back
DASHBOARD = {funnelcast.DUCKDB_ALLOCATOR_ENV: funnelcast.DUCKDB_ALLOCATOR_PROMPT}


def peak_rss_mib() -> float:
    """Return this process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn) -> tuple[float, object]:
    """Return fn's wall time in seconds and its result."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median_ms(times: list[float]) -> float:
    """Return the median of times in seconds, in milliseconds."""
    return statistics.median(times) * 1e3


def combined(runs: list[dict]) -> tuple[dict, dict]:
    """Return the median of each number over runs (the fresh processes of one part), and per
    number its range (min, max); anything else as the first run has it."""
    median, span = dict(runs[0]), {}
    for key, value in runs[0].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values = [run[key] for run in runs]
            median[key] = statistics.median(values)
            span[key] = (min(values), max(values))
    return median, span


def rescore_s(m: lab.Materialised, definition: definitions.Definition) -> float:
    """Return the wall time of a rescore, then release it, as the dashboard's cache does with
    the scoring it evicts: its arrays go to the next rescore (lab.scores)."""
    took, scores = timed(lambda: lab.score(m, definition))
    scores.release()
    return took


def reweighted(definition: definitions.Definition, factor: float) -> definitions.Definition:
    """Return the definition with one behaviour weight moved, as a slider would."""
    return dataclasses.replace(
        definition,
        behaviour_rules=tuple(
            BehaviourRule(r.event_type, r.points * factor, r.cap)
            if r.event_type == "webinar_attended"
            else r
            for r in definition.behaviour_rules
        ),
    )


def refitted(definition: definitions.Definition, points: float) -> definitions.Definition:
    """Return the definition with one fit rule's points moved."""
    return dataclasses.replace(
        definition,
        fit_rules=tuple(
            FitRule(r.attribute, r.value, points, r.is_disqualifier)
            if (r.attribute, r.value) == ("seniority", "director")
            else r
            for r in definition.fit_rules
        ),
    )


# =====================================================================================
# the parts, each in its own process
# =====================================================================================


def engine(path: str, moves: int) -> dict:
    """Return the engine's timings on the database at path."""
    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    out: dict = {"definition": current.name, "threshold": current.threshold}
    out["materialise_s"], m = timed(lambda: lab.materialise_for(cur, current))
    out["checks"], out["leads"] = m.n_checks, m.n_leads
    out["materialised_mib"] = m.nbytes / 2**20
    today = (m.calendar.as_of or dt.datetime.now()).date()
    quarters = [q.label for q in m.calendar.quarters if q.end <= today][-4:]
    out["quarters"] = quarters
    current_mql_us = lab.mql_moments(m, current)

    # The first scorings after materialising also pay for memory the process has not used
    # yet (page faults are dear on this VM); a dashboard pays that on its first moves only.
    out["first_score_s"], scores = timed(lambda: lab.score(m, current))
    out["records"] = scores.n_records
    factors = (1.0, 1.2, 0.8, 1.5, 0.5, 1.1, 0.9)
    out["weights_cold_ms"] = median_ms([rescore_s(m, reweighted(current, f)) for f in factors])
    out["fit_points_ms"] = median_ms(
        [rescore_s(m, refitted(current, p)) for p in (10, 20, 5, 25, 15, 12, 18)]
    )
    out["weights_ms"] = median_ms([rescore_s(m, reweighted(current, f)) for f in factors])

    def page_after_weights(factor: float) -> None:
        """Recompute what a page shows after a weight move: scores, curve, movers, figures
        (and the scoring released, as the dashboard's cache evicts one per new scoring)."""
        moved = lab.score(m, reweighted(current, factor))
        lab.tradeoff_curve(m, moved, quarters)
        lab.who_moves(m, current_mql_us, moved, current.threshold)
        lab.backtest(m, moved, current.threshold, quarters, sales_capacity_per_week=2000)
        moved.release()

    out["page_weights_ms"] = median_ms(
        [
            timed(lambda f=f: page_after_weights(f))[0]
            for f in (1.3, 0.7, 1.05, 1.4, 0.6, 1.15, 0.85)
        ]
    )

    # the first threshold asked of a new scoring counts the chosen quarters' keys as they are,
    # in one pass (page_weights_ms includes it); the second sorts them, for binary searches
    first_asks, second_asks = [], []
    for f in (1.3, 0.7, 1.05, 1.4, 0.6):
        fresh = lab.score(m, reweighted(current, f))
        for asks in (first_asks, second_asks):
            asks.append(
                timed(lambda s=fresh: lab.backtest(m, s, current.threshold, quarters, 2000))[0]
            )
        fresh.release()
    out["first_ask_ms"] = median_ms(first_asks)
    out["second_ask_ms"] = median_ms(second_asks)
    lab.tradeoff_curve(m, scores, quarters)  # as the page, after every scoring

    # a threshold move: the figures, and who moves, for one setting
    thresholds = np.random.default_rng(0).uniform(20, 120, moves).round(1)
    move_times = [
        timed(
            lambda t=t: lab.backtest(m, scores, float(t), quarters, sales_capacity_per_week=2000)
        )[0]
        for t in thresholds
    ]
    out["threshold_ms"] = median_ms(move_times)
    out["threshold_p95_ms"] = float(np.percentile(move_times, 95) * 1e3)
    out["who_moves_ms"] = median_ms(
        [
            timed(lambda t=t: lab.who_moves(m, current_mql_us, scores, float(t)))[0]
            for t in thresholds[:50]
        ]
    )
    out["page_threshold_ms"] = median_ms(
        [
            timed(
                lambda t=t: (
                    lab.backtest(m, scores, float(t), quarters, sales_capacity_per_week=2000),
                    lab.who_moves(m, current_mql_us, scores, float(t)),
                )
            )[0]
            for t in thresholds[:50]
        ]
    )
    out["curve_ms"] = median_ms(
        [timed(lambda: lab.tradeoff_curve(m, scores, quarters))[0] for _ in range(5)]
    )
    out["current_backtest_ms"] = median_ms(
        [
            timed(
                lambda: lab.backtest_moments(m, current_mql_us, current.threshold, quarters, 2000)
            )[0]
            for _ in range(5)
        ]
    )

    out["half_life_only_ms"] = median_ms(
        [timed(lambda h=h: lab.with_half_life(m, h))[0] for h in (45.0, 20.0, 60.0)]
    )
    half_life_times = []
    for half_life in (45.0, 20.0, 60.0):
        other = dataclasses.replace(current, half_life_days=half_life)
        took, slower = timed(lambda o=other: lab.score(lab.with_half_life(m, o.half_life_days), o))
        slower.release()
        half_life_times.append(took)
    out["half_life_s"] = statistics.median(half_life_times)

    lead_id = m.lead_id[int(np.flatnonzero(current_mql_us != lab.NEVER)[0])]
    out["explain_ms"] = median_ms(
        [
            timed(lambda: lab.explain_score(cur, current, lead_id, m.calendar.as_of))[0]
            for _ in range(5)
        ]
    )

    # the same run checks the answers: the engine against the linear-time scorer
    reference = scoring.computed_mql_moments(cur, current.definition_id)
    mine = lab.moments_frame(m, current_mql_us)
    assert mine["lead_id"].to_list() == reference["lead_id"].to_list()
    assert mine["mql_at"].to_list() == reference["mql_at"].to_list()
    assert lab.backtest(m, scores, current.threshold).totals["mqls"] == reference.height
    out["mqls_at_current_threshold"] = reference.height
    out["moment_checksum"] = int(current_mql_us[current_mql_us != lab.NEVER].sum() % (1 << 61))

    con.close()
    return out


def rss(path: str) -> dict:
    """Return the process's peak RSS after materialising and two scorings, untraced
    (tracemalloc's own bookkeeping adds to the RSS it would measure)."""
    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    m = lab.materialise_for(cur, current)
    scores = lab.score(m, current)
    other = lab.score(m, reweighted(current, 1.3))  # a second one while the first is alive
    out = {"peak_rss_mib": peak_rss_mib(), "records": scores.n_records + 0 * other.n_records}
    con.close()
    return out


def memory(path: str) -> dict:
    """Return the memory materialising and scoring take: the engine's arrays and the process."""
    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    tracemalloc.start()
    m = lab.materialise_for(cur, current)
    materialise_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    scores = lab.score(m, current)
    scores = lab.score(m, reweighted(current, 1.3))  # a second one while the first is alive
    _, score_peak = tracemalloc.get_traced_memory()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    out = {
        "traced_materialise_peak_mib": materialise_peak / 2**20,
        "traced_score_peak_mib": score_peak / 2**20,
        "traced_held_mib": held / 2**20,
        "peak_rss_mib": peak_rss_mib(),
        "records": scores.n_records,
    }
    con.close()
    return out


def baseline(path: str, threshold: float) -> dict:
    """Return the time a plain pandas re-score of the raw events takes for one threshold move."""
    import pandas as pd

    con = db.connect(path, read_only=True)
    cur = con.cursor()
    current = definitions.current(cur)
    load_s, (leads, events) = timed(
        lambda: (
            cur.sql(
                (HERE / "baseline_leads.sql").read_text(),
                params={"fields": sorted({r.attribute for r in current.fit_rules})},
            )
            .pl()
            .to_pandas(),
            cur.sql((HERE / "baseline_events.sql").read_text()).pl().to_pandas(),
        )
    )
    field_types = fields.lead_fields(cur)
    con.close()
    rescore_s, moments = timed(
        lambda: pandas_mql_moments(pd, leads, events, current, threshold, field_types)
    )
    return {
        "events": len(events),
        "load_s": load_s,
        "rescore_s": rescore_s,
        "mqls": len(moments),
        "moment_checksum": int(moments.sum() % (1 << 61)),
        "peak_rss_mib": peak_rss_mib(),
    }


def pandas_fit(pd, leads, definition, field_types: dict[str, str]):
    """Return per lead its fit points and whether a rule disqualifies it, every rule applied to
    the lead's value of its field with the rule's operator (funnelcast.definitions.operators,
    what the SQL's fit_rule_matches does)."""
    people = leads.drop_duplicates("lead_id")[["lead_id", "created_us"]]
    parts = []
    for rule in definition.fit_rules:
        field_type = field_types[rule.attribute]
        compiled = operators.compile_rule(field_type, rule.op, rule.value)
        values = leads[leads["field"] == rule.attribute]
        if rule.op == operators.UNKNOWN:
            hit = people[~people["lead_id"].isin(values["lead_id"])][["lead_id"]]
            parts.append(hit.assign(points=rule.points, disqualified=rule.is_disqualifier))
            continue
        numbers = values["number_value"].to_numpy(dtype=float, na_value=np.nan)
        matched = operators.matches(
            compiled,
            numbers=None if field_type == operators.TEXT else numbers,
            texts=values["text_value"].to_numpy(dtype=object)
            if field_type == operators.TEXT
            else None,
            known=np.ones(len(values), dtype=bool),
            created_s=values["created_us"].to_numpy(dtype=float) / 1e6,
        )
        points = np.full(len(values), rule.points)
        if rule.op == operators.PER_UNIT:
            points = rule.points * numbers
            if rule.cap is not None:
                points = np.minimum(points, rule.cap)
        hit = values[["lead_id"]].assign(points=points, disqualified=rule.is_disqualifier)
        parts.append(hit[matched])
    fit = (
        pd.concat(parts)
        .groupby("lead_id")
        .agg(fit_points=("points", "sum"), disqualified=("disqualified", "any"))
    )
    return people.merge(fit, on="lead_id", how="left")


def pandas_mql_moments(pd, leads, events, definition, threshold: float, field_types):
    """Return each MQL lead's moment (us) at a threshold, re-scored from the raw events."""
    half_life_us = definition.half_life_days * lab.DAY_US
    people = pandas_fit(pd, leads, definition, field_types)
    people = people[~people["disqualified"].fillna(False).astype(bool)]
    people = people.assign(fit_points=people["fit_points"].fillna(0.0))
    rules = pd.DataFrame(
        [(r.event_type, r.points, r.cap) for r in definition.behaviour_rules],
        columns=["event_type", "points", "cap"],
    )
    scored = events.merge(rules, on="event_type").merge(
        people[["lead_id", "created_us"]], on="lead_id"
    )
    # checked at creation and at every scoring event at or after it
    later = scored[scored["occurred_us"] >= scored["created_us"]]
    checks = (
        pd.concat(
            [
                people[["lead_id", "created_us"]].rename(columns={"created_us": "t"}),
                later[["lead_id", "occurred_us"]].rename(columns={"occurred_us": "t"}),
            ]
        )
        .drop_duplicates()
        .merge(people[["lead_id", "fit_points"]], on="lead_id")
    )
    checks = checks.sort_values("t", kind="stable").reset_index(drop=True)
    total = checks["fit_points"].to_numpy().copy()
    for _, of_type in scored.groupby("event_type"):
        points, cap = of_type["points"].iloc[0], of_type["cap"].iloc[0]
        of_type = of_type.sort_values("occurred_us", kind="stable")
        first = of_type.groupby("lead_id")["occurred_us"].transform("min")
        if points < 0:  # penalties count, undecayed
            running = of_type.groupby("lead_id").cumcount() + 1.0
        else:
            running = (
                (2.0 ** ((of_type["occurred_us"] - first) / half_life_us))
                .groupby(of_type["lead_id"])
                .cumsum()
            )
        of_type = of_type.assign(running=running, first=first)
        joined = pd.merge_asof(
            checks[["t", "lead_id"]],
            of_type[["occurred_us", "lead_id", "running", "first"]],
            left_on="t",
            right_on="occurred_us",
            by="lead_id",
            direction="backward",
        )
        decay = 1.0 if points < 0 else 2.0 ** (-(joined["t"] - joined["first"]) / half_life_us)
        value = points * joined["running"] * decay
        if not pd.isna(cap):
            value = value.clip(upper=cap)
        total += value.fillna(0.0).to_numpy()
    reached = np.round(total, 6) >= threshold
    return checks[reached].groupby("lead_id")["t"].min()


# =====================================================================================
# the run and its report
# =====================================================================================


def run_part(part: str, path: str, *extra: str, env: dict | None = None) -> dict:
    """Return the JSON a part prints, run in a process of its own (env: its allocator setting;
    None: DuckDB's defaults)."""
    base = {k: v for k, v in os.environ.items() if k != funnelcast.DUCKDB_ALLOCATOR_ENV}
    done = subprocess.run(
        [sys.executable, __file__, "--part", part, "--db", path, *extra],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        env={**base, **(env or {})},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_results(result: dict) -> None:
    """Replace this benchmark's section of RESULTS.md, leaving the others as they are."""
    e, mem, base = (result[k] for k in ("engine", "memory", "baseline"))
    rss, default = result["rss"], result["rss_default"]
    e_span, base_span = result["engine_span"], result["baseline_span"]

    def runs(key: str, digits: int = 1, scale: float = 1.0) -> str:
        """Return an engine figure's range over the runs, e.g. '(5.1–6.3)'."""
        low, high = e_span[key]
        return f"({low * scale:.{digits}f}–{high * scale:.{digits}f})"

    def verdict(value: float, target: float) -> str:
        return "met" if value <= target else f"**missed** ({value / target:.1f}x)"

    peak_gib, default_gib = rss["peak_rss_mib"] / 1024, default["peak_rss_mib"] / 1024
    low, high = base_span["rescore_s"]
    per_move = f"{base['rescore_s']:.1f} s ({low:.1f}–{high:.1f})"
    loads = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in result["loads"])
    lines = [
        SECTION,
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; load average "
        f"{result['load_before']:.1f} before, {result['load_after']:.1f} after (other "
        "processes share the 2 cores, so times vary from run to run). Each timed part ran "
        f"{result['repeat']} times, each in a fresh process: every figure is the median of "
        "the runs, with their range in brackets; one-minute load average before/after each "
        f"engine run: {loads}.",
        "Rerun: `python3 -m uv run python benchmarks/bench_lab.py [--db PATH] [--repeat 3]`. "
        f"Data: {e['leads']:,} leads, {result['events']:,} events, {e['checks']:,} check moments "
        f"(creation and each later moment with a scoring event), {e['records']:,} record runs "
        "(a lead's record highs of one day); "
        f"definition {e['definition']!r}, threshold {e['threshold']:g}; backtest quarters "
        f"{', '.join(e['quarters'])}. Each part runs in its own process. In the same run the "
        f"engine's MQLs at the current threshold ({e['mqls_at_current_threshold']:,}) were "
        "checked equal to funnelcast.scoring's, lead by lead and moment by moment, and the "
        f"pandas re-score found {base['mqls']:,} with the same moments: "
        f"{'yes' if base['same_as_engine'] else '**NO**'}.",
        "",
        "| what | engine | target | | plain pandas re-score from raw events |",
        "|---|---:|---:|---|---:|",
        f"| threshold move: the figures for one setting (volume, precision, capture, days "
        f"earlier, cost per MQL, weekly load) | {e['threshold_ms']:.1f} ms {runs('threshold_ms')} "
        f"median of {result['moves']} moves per run, {e['threshold_p95_ms']:.1f} ms p95 | "
        f"{TARGETS['threshold_ms']} ms | {verdict(e['threshold_ms'], TARGETS['threshold_ms'])} | "
        f"{per_move} per move, after {base['load_s']:.1f} s loading the raw tables once |",
        f"| threshold move with who moves (counts by channel and persona, a sample) | "
        f"{e['page_threshold_ms']:.1f} ms {runs('page_threshold_ms')} | "
        f"{TARGETS['threshold_ms']} ms | "
        f"{verdict(e['page_threshold_ms'], TARGETS['threshold_ms'])} | {per_move} |",
        f"| weight change: rescore (one behaviour weight) | {e['weights_ms']:.0f} ms "
        f"{runs('weights_ms', 0)} (the first seven after materialising: "
        f"{e['weights_cold_ms']:.0f} ms {runs('weights_cold_ms', 0)}) | "
        f"{TARGETS['weights_ms']} ms | {verdict(e['weights_ms'], TARGETS['weights_ms'])} | "
        f"{per_move} |",
        f"| fit-point change: rescore | {e['fit_points_ms']:.0f} ms "
        f"{runs('fit_points_ms', 0)} | "
        f"{TARGETS['weights_ms']} ms | {verdict(e['fit_points_ms'], TARGETS['weights_ms'])} | "
        f"{per_move} |",
        f"| weight change, all the page recomputes (rescore, curve, movers, figures) | "
        f"{e['page_weights_ms']:.0f} ms {runs('page_weights_ms', 0)} | "
        f"{TARGETS['weights_ms']} ms | "
        f"{verdict(e['page_weights_ms'], TARGETS['weights_ms'])} | {per_move} |",
        f"| half-life change: the decay between checks recomputed (a new copy), rescore | "
        f"{e['half_life_s']:.2f} s {runs('half_life_s', 2)} | {TARGETS['half_life_s']} s | "
        f"{verdict(e['half_life_s'], TARGETS['half_life_s'])} | {per_move} |",
        f"| peak memory of the process (materialise, then two scorings alive), with DuckDB's "
        f"allocator as the dashboard sets it, untraced | {rss['peak_rss_mib']:,.0f} MiB RSS "
        f"({peak_gib:.2f} GiB, {rss['peak_rss_mib'] * 2**20 / 1e9:.2f} GB) | "
        f"{TARGETS['peak_gib']} GB | {verdict(rss['peak_rss_mib'] * 2**20 / 1e9, TARGETS['peak_gib'])} "
        f"| {base['peak_rss_mib'] / 1024:.2f} GiB |",
        f"| the same with DuckDB's allocator defaults (it keeps freed memory for seconds) | "
        f"{default['peak_rss_mib']:,.0f} MiB ({default_gib:.2f} GiB, "
        f"{default['peak_rss_mib'] * 2**20 / 1e9:.2f} GB) | | | |",
        "",
        "| also measured | |",
        "|---|---:|",
        f"| materialise, once per data load (queries, layout, decay factors) | "
        f"{e['materialise_s']:.1f} s {runs('materialise_s')} |",
        f"| first scoring after materialising (touches fresh memory) | "
        f"{e['first_score_s']:.2f} s {runs('first_score_s', 2)} |",
        f"| materialised history held in memory | {e['materialised_mib']:.0f} MiB |",
        f"| engine allocations, traced peak (includes scratch never touched): materialise / "
        f"two scorings | {mem['traced_materialise_peak_mib']:.0f} / "
        f"{mem['traced_score_peak_mib']:.0f} MiB (that process's peak RSS, tracemalloc's "
        f"bookkeeping included: {mem['peak_rss_mib']:,.0f} MiB) |",
        f"| who moves alone, per threshold move | {e['who_moves_ms']:.1f} ms "
        f"{runs('who_moves_ms')} |",
        f"| half-life change alone: the decay between checks, recomputed | "
        f"{e['half_life_only_ms']:.0f} ms {runs('half_life_only_ms', 0)} |",
        f"| trade-off curve over all thresholds, once per scoring and quarter choice (keys "
        f"sorted or not: histograms) | {e['curve_ms']:.0f} ms {runs('curve_ms', 0)} |",
        f"| the first threshold asked of a new scoring: one pass over the chosen quarters' "
        f"keys as they are (on the page, in the weight change's time) | "
        f"{e['first_ask_ms']:.0f} ms {runs('first_ask_ms', 0)} |",
        f"| the second, which sorts those keys first (a threshold move after a rescore) | "
        f"{e['second_ask_ms']:.0f} ms {runs('second_ask_ms', 0)} |",
        f"| the current definition's figures, once per quarter choice | "
        f"{e['current_backtest_ms']:.1f} ms {runs('current_backtest_ms')} |",
        f"| explain a score (one lead, SQL) | {e['explain_ms']:.0f} ms {runs('explain_ms', 0)} |",
        "",
        "How: materialising streams the scored events out of DuckDB unsorted and sorts them per "
        "lead in compiled code (a counting sort by lead, then each lead's few events), so no "
        "database ORDER BY holds every event, and then lets DuckDB drop the table blocks it kept; "
        "the history then holds, per lead, its check moments and the events at each (type and "
        "count), and per half-life the decay factor between checks. A compiled loop per lead "
        "(funnelcast/lab/_fast/kernels.py, numba) carries the lead's decayed sums from check to check "
        "(up to eight capped types as the lanes of one vector register, funnelcast/lab/_fast/simd.py), "
        "finds its record highs in the same loop, without a branch, and writes each day's run of "
        "them as a key pair to the pieces of its quarter and, for leads that reached SQL, each "
        "record's facts (what precision and capture count of it); two threads take half the "
        "leads each. A rescore therefore reads every check once, then puts the SQL leads' "
        "records in buckets by upper bound (a counting sort, a column at a time) and reuses the "
        "arrays of the scoring released last (fresh pages cost more than the pass). It "
        f"sorts none of the {e['records'] / 1e6:.1f}M keys: the curve histograms them as they "
        "are, the first threshold asked of a quarter counts its keys in one pass, and the "
        "second sorts them (by radix, on the bits a quarter's keys use), so threshold moves "
        "sort only the quarters they show (about 40% of the keys here), on two threads. "
        "The score at a check is fit + behaviour points (as the SQL adds them), so a check whose "
        "score beats every earlier one also beats them in behaviour points: each scoring keeps "
        "those behaviour records (points and check, 12 bytes each; one set per history, "
        "about 90 MiB here, a second while the next is written) and a change of fit alone "
        "finds every lead's records from them, reading no check; a behaviour change reads "
        "again only the checks of the leads with an event of a type whose points changed "
        "(webinar_attended here: a third of the leads, half the checks) and copies the others' "
        "behaviour records; both bit for bit a full rescore (tests/test_lab_refit.py)"
        + (
            "; the compiled pass over the checks still read is most of a weight change's "
            "rescore, and the weight target is missed"
            if max(e["weights_ms"], e["page_weights_ms"]) > TARGETS["weights_ms"]
            else ""
        )
        + ".",
        "",
    ]
    replace_section(SECTION, lines)


def main() -> None:
    """Run each part in its own process and write the results."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--db", help="an existing Funnelcast database (default: build a demo)")
    ap.add_argument("--leads", type=int, default=1_000_000, help="demo size when building one")
    ap.add_argument(
        "--engagement",
        type=float,
        default=1.7,
        help="demo events per lead when building one (1.7: about 20M events at 1M)",
    )
    ap.add_argument("--moves", type=int, default=200, help="threshold moves to time")
    ap.add_argument(
        "--repeat", type=int, default=3, help="fresh processes per timed part (median, range)"
    )
    ap.add_argument(
        "--part", choices=("engine", "memory", "rss", "baseline"), help=argparse.SUPPRESS
    )
    ap.add_argument("--threshold", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        if args.part == "engine":
            print(json.dumps(engine(args.db, args.moves)))
        elif args.part == "memory":
            print(json.dumps(memory(args.db)))
        elif args.part == "rss":
            print(json.dumps(rss(args.db)))
        else:
            print(json.dumps(baseline(args.db, args.threshold)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db
        if path is None:
            path = str(Path(tmp) / "demo.duckdb")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "funnelcast",
                    "demo",
                    "--db",
                    path,
                    "--leads",
                    str(args.leads),
                    "--engagement",
                    str(args.engagement),
                ],
                check=True,
            )
        result: dict = {"moves": args.moves, "repeat": args.repeat}
        result["load_before"] = os.getloadavg()[0]
        engine_runs, loads = [], []
        for _ in range(args.repeat):  # each in a fresh process
            before = os.getloadavg()[0]
            engine_runs.append(run_part("engine", path, "--moves", str(args.moves), env=DASHBOARD))
            loads.append((before, os.getloadavg()[0]))
            print("engine", json.dumps(engine_runs[-1]), flush=True)
        result["engine"], result["engine_span"] = combined(engine_runs)
        result["engine_runs"], result["loads"] = engine_runs, loads
        result["memory"] = run_part("memory", path, env=DASHBOARD)  # traced
        result["rss"] = run_part("rss", path, env=DASHBOARD)
        result["rss_default"] = run_part("rss", path)
        baseline_runs = [
            run_part("baseline", path, "--threshold", str(result["engine"]["threshold"]))
            for _ in range(args.repeat)
        ]
        result["baseline"], result["baseline_span"] = combined(baseline_runs)
        result["load_after"] = os.getloadavg()[0]
    result["events"] = result["baseline"]["events"]
    result["baseline"]["same_as_engine"] = (
        result["baseline"]["mqls"] == result["engine"]["mqls_at_current_threshold"]
        and result["baseline"]["moment_checksum"] == result["engine"]["moment_checksum"]
    )
    print(json.dumps(result, indent=2))
    write_results(result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
