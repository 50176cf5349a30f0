"""The Threshold Lab's memory budget: never an OOM kill, a sample of leads instead.

Before materialising, the engine predicts the process's peak from the counts it grows with
(queries/lab_counts.sql, one query: leads, events of the scored types, stage changes, custom
attribute values) times bytes per row measured by benchmarks/bench_lab_memory.py, and sets
what it adds to a fresh process against the memory the process may still take
(available_memory: the cgroup's limit less its use where there is a limit, else the machine's
MemAvailable; FUNNELCAST_LAB_MEMORY overrides). Where it will not fit, plan() chooses the
largest whole-percent share of leads that does; `--sample` asks for a share outright.

A Sample picks its leads by a seeded hash of each lead's position in lead_id order (the
order every Lab query numbers them in): the same data, share and seed always give the same
leads, with no random state. A sampled history holds only those leads and their events;
funnelcast.lab.sampled scales its volumes back up by the leads' ratio (rates stay as sampled).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from funnelcast.data import db
from funnelcast.definitions.fields import BUILTIN_FIELDS

MEMORY_ENV = "FUNNELCAST_LAB_MEMORY"
SEED = 7
# Bytes per counted row, fitted by benchmarks/bench_lab_memory.py --fit to the peak RSS of
# fresh processes materialising (then scoring once) 20k, 200k and 1M-lead demos, whole and
# sampled at 50% and 25% (DuckDB's allocator as the dashboard sets it). BASE: the process
# before materialising, with DuckDB's working memory for the queries. Every lead is read whole
# before the sample is taken, and so are its stage changes (the milestones) and the custom
# attribute values of the fields rules name; per lead held and per event of the scored types
# held, the history and one scoring. EVENT_BYTES was fitted at 23 when the history held each
# check's day (2 bytes a check, gone since): 21, which bench_lab_memory.py checks again.
BASE_BYTES = 430_000_000
LEAD_WHOLE_BYTES = 240
STAGE_CHANGE_BYTES = 60
VALUE_BYTES = 40
LEAD_SAMPLED_BYTES = 80
EVENT_BYTES = 21
# What the prediction may miss by: the plan keeps that much room beside it.
MARGIN = 1.25
# An unlimited cgroup reports a number near 2^63.
NO_LIMIT = 1 << 60
# The fields a history holds without reading them (lab.history.FIT_ATTRIBUTES, created_at).
MATERIALISED_FIELDS = frozenset(
    ("channel", "industry", "company_size_band", "country", "region", "seniority", "created_at")
)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


@dataclass(frozen=True)
class Counts:
    """What the Lab's memory grows with (see queries/lab_counts.sql)."""

    leads: int
    events: int
    stage_changes: int
    attribute_values: int
    builtin_fields: int = 0  # named built-in fields beyond the six materialised: a value a lead


@dataclass(frozen=True)
class Prediction:
    """A materialisation's predicted peak RSS: base + whole + share x sampled bytes."""

    counts: Counts
    base: int
    whole: int
    sampled: int

    def peak(self, share: float = 1.0) -> int:
        """Return the predicted peak RSS of a fresh process materialising a share of leads."""
        return self.base + self.added(share)

    def added(self, share: float = 1.0) -> int:
        """Return what materialising a share of leads adds to the process."""
        return self.whole + math.ceil(share * self.sampled)


@dataclass(frozen=True)
class Sample:
    """Which leads a history holds: a share of them (1: all), chosen by seed.

    needed and free: the bytes the whole would have added and the bytes the process could take
    when the share was chosen for memory (None: the share was asked for, or all fit)."""

    share: float = 1.0
    seed: int = SEED
    needed: int | None = None
    free: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.share) and 0 < self.share <= 1):
            raise db.FunnelcastError(
                f"the sample must be a share of leads above 0 and at most 1, not {self.share:g}"
            )

    @property
    def is_whole(self) -> bool:
        """Return whether every lead is held."""
        return self.share >= 1

    @property
    def percent(self) -> str:
        """Return the share as a percentage: '25%', '2.5%'."""
        return f"{self.share * 100:.3g}%"

    def chosen(self, n_leads: int) -> np.ndarray:
        """Return per lead (in lead_id order) whether the sample holds it."""
        if self.is_whole:
            return np.ones(n_leads, dtype=bool)
        return _hash(np.arange(n_leads, dtype=np.uint64), self.seed) < np.uint64(
            int(self.share * 2**53)
        )

    def sentence(self) -> str | None:
        """Return the one sentence a page shows of a sample (None: every lead)."""
        if self.is_whole:
            return None
        if self.needed is None or self.free is None:
            return (
                f"The Lab works on a {self.percent} random sample of leads, as asked; volumes "
                "are scaled up, rates are as sampled."
            )
        return (
            "This database is too large for the memory this server may use "
            f"({gb(self.needed)} needed, {gb(self.free)} free), so the Lab works on a "
            f"{self.percent} random sample of leads; volumes are scaled up, rates are as sampled."
        )

    @property
    def mark(self) -> str:
        """Return what marks a figure from the sample: ' (from a 25% sample)', or ''."""
        return "" if self.is_whole else f" (from a {self.percent} sample)"


WHOLE = Sample()


def _hash(x: np.ndarray, seed: int) -> np.ndarray:
    """Return splitmix64 of x + seed's offset, shifted to 53 bits (uint64, wrapping)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64((seed * 0x9E3779B97F4A7C15) & (2**64 - 1))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) >> np.uint64(11)


def gb(n_bytes: int) -> str:
    """Return bytes as GB with one decimal (two under 1 GB), as MB under 10 MB, where two
    decimals of a GB would read 0.00: '3.2 GB', '0.45 GB', '4.7 MB'."""
    value = n_bytes / 1e9
    if value < 0.01:
        return f"{n_bytes / 1e6:.1f} MB"
    return f"{value:.1f} GB" if value >= 1 else f"{value:.2f} GB"


def counts(
    cur: duckdb.DuckDBPyConnection, event_types: Iterable[str], fields: Iterable[str] = ()
) -> Counts:
    """Return what the Lab's memory grows with, in one query; fields: those fit rules name
    beyond the six materialised (a built-in one holds a value per lead)."""
    names = sorted(set(fields) - MATERIALISED_FIELDS)
    row = db.run(cur, "lab_counts", event_types=sorted(set(event_types)), fields=names).row(
        0, named=True
    )
    return Counts(
        leads=int(row["leads"] or 0),
        events=int(row["events"] or 0),
        stage_changes=int(row["stage_changes"] or 0),
        attribute_values=int(row["attribute_values"] or 0),
        builtin_fields=sum(1 for n in names if n in BUILTIN_FIELDS),
    )


def predict(c: Counts) -> Prediction:
    """Return the predicted peak of materialising (and scoring once) from the counts."""
    return Prediction(
        counts=c,
        base=BASE_BYTES,
        whole=c.leads * LEAD_WHOLE_BYTES
        + c.stage_changes * STAGE_CHANGE_BYTES
        + (c.attribute_values + c.builtin_fields * c.leads) * VALUE_BYTES,
        sampled=c.leads * LEAD_SAMPLED_BYTES + c.events * EVENT_BYTES,
    )


def predict_peak(
    cur: duckdb.DuckDBPyConnection, event_types: Iterable[str], fields: Iterable[str] = ()
) -> int:
    """Return the predicted peak RSS, in bytes, of a fresh process materialising these event
    types and fields of the whole database and scoring them once."""
    return predict(counts(cur, event_types, fields)).peak()


def sample_share(prediction: Prediction, free: int) -> float:
    """Return the largest share of leads whose materialisation fits in free bytes with MARGIN
    to spare: 1 when the whole fits, else a whole percent (down to 1%); FunnelcastError when
    not even 1% fits."""
    if prediction.added(1.0) * MARGIN <= free:
        return 1.0
    room = free / MARGIN - prediction.whole
    percent = math.floor(100 * room / prediction.sampled) if prediction.sampled else 0
    if percent < 1:
        raise db.FunnelcastError(
            f"The Threshold Lab needs {gb(int(prediction.added(0.01) * MARGIN))} even for a 1% "
            f"sample of leads and this server may use {gb(free)}: give it more memory "
            f"({MEMORY_ENV} says how much it may use)."
        )
    return min(percent, 99) / 100


def plan(
    cur: duckdb.DuckDBPyConnection,
    event_types: Iterable[str],
    fields: Iterable[str] = (),
    share: float | None = None,
    seed: int = SEED,
) -> Sample:
    """Return the sample to materialise: the share asked for, else the whole when it fits in
    the memory the process may use, else the largest share that does."""
    if share is not None:
        return Sample(share=share, seed=seed)
    prediction = predict(counts(cur, event_types, fields))
    free = available_memory()
    chosen = sample_share(prediction, free)
    if chosen >= 1:
        return Sample(seed=seed)
    return Sample(share=chosen, seed=seed, needed=prediction.added(), free=free)


# ===== the memory the process may use =====


def parse_size(text: str) -> int:
    """Return a size such as '2G', '512 MiB', '1.5gb' or '3000000000' in bytes (K, M, G, T
    are powers of 1024); FunnelcastError for anything else."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not found or float(found[1]) <= 0:
        raise db.FunnelcastError(f"{MEMORY_ENV} must be a size such as 8G or 512M, not {text!r}")
    return int(float(found[1]) * _UNITS[found[2]])


def available_memory(
    environ: Mapping[str, str] = os.environ,
    proc: Path = Path("/proc"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """Return the bytes this process may still take: FUNNELCAST_LAB_MEMORY when set; else the
    least of the machine's MemAvailable and, for each cgroup limit over the process (v2
    memory.max, v1 memory.limit_in_bytes, the process's own group and its parents), the limit
    less what the group uses (its inactive file cache counts as free, as the kernel reclaims
    it first)."""
    if environ.get(MEMORY_ENV, "").strip():
        return parse_size(environ[MEMORY_ENV])
    free = [_mem_available(proc / "meminfo")]
    for group in _cgroup_dirs(proc / "self" / "cgroup", cgroup_root):
        headroom = _headroom(group)
        if headroom is not None:
            free.append(headroom)
    known = [f for f in free if f is not None]
    return max(0, min(known)) if known else NO_LIMIT


def _mem_available(meminfo: Path) -> int | None:
    """Return /proc/meminfo's MemAvailable in bytes (None: not there)."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(found[1]) * 1024 if found else None


def _cgroup_dirs(self_cgroup: Path, root: Path) -> list[Path]:
    """Return the memory cgroup directories over the process, its own first, then parents."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return []
    dirs = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2's unified hierarchy
            base = root
        elif "memory" in controllers.split(","):
            base = root / "memory"
        else:
            continue
        here = base / path.lstrip("/")
        while True:
            dirs.append(here)
            if here == base or base not in here.parents:
                break
            here = here.parent
    return dirs


def _read_int(path: Path) -> int | None:
    """Return the whole number a cgroup file holds (None: absent, 'max' or not a number)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _headroom(group: Path) -> int | None:
    """Return a cgroup's limit less its use (None: no limit there)."""
    for limit_file, usage_file, inactive_key in (
        ("memory.max", "memory.current", "inactive_file"),
        ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
    ):
        limit = _read_int(group / limit_file)
        if limit is None or limit >= NO_LIMIT:
            continue
        usage = _read_int(group / usage_file) or 0
        inactive = 0
        try:
            for line in (group / "memory.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == inactive_key and value.strip().isdigit():
                    inactive = int(value)
        except OSError:
            pass
        return limit - max(0, usage - inactive)
    return None
