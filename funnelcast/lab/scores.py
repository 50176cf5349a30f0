"""A definition's scores over the history: every lead's record highs, kept for any threshold.

A lead becomes an MQL at the first check whose rounded score reaches the threshold, so the
record high at check i (its score above every earlier one) is the MQL moment for exactly the
thresholds in (previous record, score_i]. `score` finds every lead's records in one compiled
pass (lab._fast.kernels: a lead's decayed sums are carried from check to check in registers, so
nothing per check and event type is ever stored, and a rescore reads each check once; two
threads score half the leads each) and keeps them two ways (Records):
- record keys, a pair per day's run of a lead's records: a threshold move counts each day's MQLs
  with two binary searches (funnelcast.lab.thresholds) once the keys are sorted, and the first
  threshold asked of a scoring with one pass over them as they are (a rule change's recompute
  then sorts nothing);
- the records of the leads that reached SQL, each with what precision and capture count of it,
  in buckets by upper bound: a threshold move scans only the records that reach it.

Who owns the memory. Records live in arrays taken from the history's BufferPool and held by the
Scores' Lease (lab._fast.buffers) until the Scores' owner calls `Scores.release`: the dashboard's
cache when it evicts the scoring, a loop that rescores before its next rescore. The next scoring
then writes over them. The engine reads records only inside `with scores.records(m) as r:`
(a release meanwhile waits for the block to end); a released scoring read again with its
history m is scored again first, into fresh arrays of its own, so a session that still holds
it gets the same answers. What a Scores hands out never aliases pooled memory: lead_max is an
array of its own (read-only), and key_lo, sql_lo and the like are copies.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from funnelcast.definitions import Definition
from funnelcast.lab import _fast, history
from funnelcast.lab._fast import NEVER
from funnelcast.lab.history import Materialised
from funnelcast.lab.weights import Weights, compile_weights

# The SQL leads' records are sorted into this many buckets by upper bound (see Records).
SQL_BUCKET_BITS = 10
# indexes of the SQL records kept per scoring, one per choice of quarters (see Records)
SQL_INDEXES = 2


class _Behaviour(NamedTuple):
    """A scoring's behaviour records (lab._fast.kernels._records: each lead's checks whose
    behaviour points beat every earlier one's), kept on its history for the next scoring, and
    the lease on their arrays. key: its behaviour points (see _behaviour_key); per_type: what
    each event type's points are (see _per_type)."""

    key: bytes
    per_type: np.ndarray
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray]
    lease: _fast.Lease


# per history, the behaviour records of its last full scoring (one set, about 12 bytes per
# record: 90 MiB at 1M leads / 20M events); sessions share it, readers under its lease
_BEHAVIOUR: weakref.WeakKeyDictionary[Materialised, _Behaviour] = weakref.WeakKeyDictionary()
# per history, a bit per event type each lead has (see kernels.type_masks)
_TYPE_MASKS: weakref.WeakKeyDictionary[Materialised, np.ndarray] = weakref.WeakKeyDictionary()
_BEHAVIOUR_LOCK = threading.Lock()
MASKED_TYPES = 64


def _behaviour_key(weights: Weights) -> bytes:
    """Return what a scoring's behaviour points depend on besides the history: the per-type
    kinds, points, capped slots and caps (not the fit)."""
    arrays = [np.ascontiguousarray(a) for a in weights.arrays[1:6]]
    # + 0.0 makes -0.0 points 0.0: they score alike, bit for bit, so they share a key
    return b"|".join((a + 0.0 if a.dtype.kind == "f" else a).tobytes() for a in arrays)


def _per_type(weights: Weights) -> np.ndarray:
    """Return per event type (columns) its kind, points, slot, cap over points and capped
    points: a lead with no event of a type where two scorings' differ has the same
    behaviour points under both, bit for bit (the capped lanes are added in slot order)."""
    capped = weights.slot >= 0
    cap_over_points = np.zeros(len(weights.kind))
    capped_points = np.zeros(len(weights.kind))
    cap_over_points[capped] = weights.cap_over_points[weights.slot[capped]]
    capped_points[capped] = weights.capped_points[weights.slot[capped]]
    return np.stack([weights.kind, weights.points, weights.slot, cap_over_points, capped_points])


def _type_masks(m: Materialised) -> np.ndarray:
    """Return per lead a bit per event type it has (once per history)."""
    masks = _TYPE_MASKS.get(m)
    if masks is None:
        masks = np.empty(m.n_leads, dtype=np.uint64)
        _fast.type_masks(
            m.check_start, m.group_start, m.early_start, m.group_type, m.early_type, masks
        )
        _TYPE_MASKS[m] = masks  # writeable, as the scratch the kernel is compiled for
    return masks


def _kept_behaviour(m: Materialised) -> _Behaviour | None:
    """Return m's kept behaviour records with a reader counted in (call its lease's done
    after), or None: none kept, or released meanwhile."""
    with _BEHAVIOUR_LOCK:
        kept = _BEHAVIOUR.get(m)
    if kept is not None and kept.lease.acquire():
        return kept
    return None


def with_half_life(m: Materialised, half_life_days: float) -> Materialised:
    """Return the history decayed by another half-life (lab.history.with_half_life), having
    first dropped the behaviour records kept on every history of m's pool: the copy's decay
    factors (8 bytes a check, 1.5 GiB at 10M leads) are made while no kept set is alive (1 GiB
    a set there), which was the Lab's peak. A weight change after it scores in full once."""
    _drop_kept(m, others_only=False)  # returns before the copy is made: nothing refers to them
    return history.with_half_life(m, half_life_days)


def _drop_kept(m: Materialised, others_only: bool = True) -> None:
    """Drop the behaviour records kept on the histories that share m's pool (its half-life
    copies, or the history it is a copy of; others_only=False: m's own too), freed rather
    than pooled: a scoring of m then writes its own while no other set than the pool's spare
    is alive (1 GiB a set at 10M leads). They are of no use to m (another decay), and the pool
    keeps one set at most besides its spare, so a half-life change holds two sets, not three."""
    with _BEHAVIOUR_LOCK:
        histories = [h for h in _BEHAVIOUR.keys() if h.pool is m.pool]
        dropped = [_BEHAVIOUR.pop(h) for h in histories if h is not m or not others_only]
    for kept in dropped:
        kept.lease.release(keep=False)


def _keep_behaviour(m: Materialised, kept: _Behaviour) -> None:
    """Keep a scoring's behaviour records on m in place of the last; the last go back to the
    pool once its readers are done."""
    with _BEHAVIOUR_LOCK:
        last = _BEHAVIOUR.get(m)
        _BEHAVIOUR[m] = kept
    if last is not None:
        last.lease.release()


@dataclass(frozen=True, eq=False)
class Records:
    """A scoring's record highs, in arrays from the pool: read them inside Scores.records only.

    key_lo / key_hi: per day's run of records of a lead, day << SCORE_BITS | (bound + BIAS);
    the run holds the lead's MQL moment for thresholds in (lo, hi] (micro-points). They come
    in pieces, one per half of the leads and quarter (key_quarter), as the compiled pass wrote
    them: the first threshold asked of a quarter counts its pieces as they are, in one pass;
    threshold_pieces sorts them when a second is asked (threshold moves then take binary
    searches). A rescore so sorts none, the page's recompute after it neither, and threshold
    moves sort only the quarters they show. A piece not yet sorted is read under its lock
    (sort_piece sorts it in place under the same lock); a sorted one stays so.
    sql_lo, sql_hi, sql_code and sql_lag repeat every record of the leads that reached SQL,
    with what precision and capture count of each (as lab._fast.kernels.records writes them;
    see thresholds._sql_facts for the same of MQL moments). They are in buckets by hi: bucket b
    holds the records sql_start[b]:sql_start[b + 1], whose hi >> sql_shift is b (the last
    bucket: or more), so the records reaching a threshold start at its bucket. A counting sort
    into buckets costs a tenth of an argsort and gather.
    """

    key_lo: tuple[np.ndarray, ...]
    key_hi: tuple[np.ndarray, ...]
    key_quarter: tuple[int, ...]  # each piece's quarter
    sql_lo: np.ndarray
    sql_hi: np.ndarray
    sql_code: np.ndarray  # the records' cohort, won, SQL and customer quarters (see records)
    sql_lag: np.ndarray  # the records' days to SQL and to customer (see records)
    sql_start: np.ndarray  # where each bucket of SQL records starts, plus the end
    sql_shift: int
    # which pieces are sorted; each is sorted under its lock (sessions share scorings)
    key_sorted: list[bool] = field(default_factory=list, repr=False)
    # how many thresholds asked of each piece (counted without a lock: a miscount only moves
    # the sort one ask earlier or later)
    key_asked: list[int] = field(default_factory=list, repr=False)
    sort_locks: tuple[threading.Lock, ...] = field(default=(), repr=False)
    # per choice of quarters, how many thresholds asked of it and its index of the SQL records
    # (built when a second is asked: lab._fast.stabbing), the last SQL_INDEXES kept
    sql_asked: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)
    sql_indexes: dict[tuple[int, ...], _fast.SqlIndex] = field(default_factory=dict, repr=False)
    sql_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pieces_of(self, quarters: np.ndarray) -> list[int]:
        """Return the pieces of keys of the given quarters, the longest first."""
        wanted = {int(q) for q in quarters}
        pieces = [i for i, q in enumerate(self.key_quarter) if q in wanted]
        return sorted(pieces, key=lambda i: -len(self.key_lo[i]))

    def sort_piece(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Return piece i's (quarter, key_lo, key_hi), sorted: in place, the first time it is
        asked for, under the piece's lock. It stays so: no reader sees a piece being sorted."""
        if not self.key_sorted[i]:
            with self.sort_locks[i]:
                if not self.key_sorted[i]:
                    _fast.sort_keys(self.key_lo[i])
                    _fast.sort_keys(self.key_hi[i])
                    self.key_sorted[i] = True
        return self.key_quarter[i], self.key_lo[i], self.key_hi[i]

    def threshold_pieces(self, quarters: np.ndarray) -> list[int]:
        """Return the pieces of keys of the given quarters, for a threshold: counted as asked,
        and those asked before sorted first (on two threads); the rest are read as they are
        (under their lock: see reading)."""
        pieces = self.pieces_of(quarters)
        again = [i for i in pieces if not self.key_sorted[i] and self.key_asked[i] > 0]
        for i in pieces:
            self.key_asked[i] += 1
        if len(again) > 1:
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(self.sort_piece, again))
        elif again:
            self.sort_piece(again[0])
        return pieces

    def sql_index_for(self, quarters: np.ndarray, n_quarters: int) -> _fast.SqlIndex | None:
        """Return the index of the SQL records of these quarters for a threshold, built the
        second time they are asked for (None the first: the threshold scans the records, as a
        rescore's recompute then builds nothing)."""
        key = tuple(int(q) for q in quarters)
        index = self.sql_indexes.get(key)
        if index is not None or not key:
            return index
        with self.sql_lock:
            index = self.sql_indexes.get(key)
            if index is not None:
                return index
            self.sql_asked[key] = self.sql_asked.get(key, 0) + 1
            if self.sql_asked[key] < 2:
                return None
            place = np.full(n_quarters + 1, -1, dtype=np.int64)  # [q + 1]: -1 is no quarter
            place[np.array(key) + 1] = np.arange(len(key))
            index = _fast.sql_index(self.sql_lo, self.sql_hi, self.sql_code, self.sql_lag, place)
            while len(self.sql_indexes) >= SQL_INDEXES:
                self.sql_indexes.pop(next(iter(self.sql_indexes)))
            self.sql_indexes[key] = index
            return index

    @contextmanager
    def reading(self, i: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, bool]]:
        """Hold piece i for reading: yield (quarter, key_lo, key_hi, sorted); a piece not yet
        sorted is held under its lock, so no sort moves its keys meanwhile."""
        if self.key_sorted[i]:
            yield self.key_quarter[i], self.key_lo[i], self.key_hi[i], True
            return
        with self.sort_locks[i]:
            yield self.key_quarter[i], self.key_lo[i], self.key_hi[i], self.key_sorted[i]


class _Holding(NamedTuple):
    """A Scores' records now, and the lease on their arrays."""

    records: Records
    lease: _fast.Lease


class _Held:
    """A Scores' holding, replaced (under the lock) when a released scoring is read again."""

    def __init__(self, holding: _Holding) -> None:
        self.now = holding
        self.lock = threading.Lock()


def _copied(name: str, doc: str) -> Any:
    """Return a property that reads records' array (or tuple of arrays) `name` as a copy."""

    def read(self: Scores) -> Any:
        with self.records() as records:
            value = getattr(records, name)
            return tuple(a.copy() for a in value) if isinstance(value, tuple) else value.copy()

    return property(read, doc=doc)


@dataclass(frozen=True, eq=False)
class Scores:
    """A definition's record highs over a history, arranged so that any threshold is answered
    fast (see Records), and each lead's best score.

    The arrays of its records are the pool's until release: read them with `records(m)` inside
    the engine, or as copies (key_lo, key_hi, sql_lo, sql_hi, sql_code, sql_lag, key_sorted).
    """

    definition: Definition
    half_life_days: float
    weights: Weights
    lead_max: np.ndarray  # per lead: highest score in micro-points (-BIAS when disqualified)
    key_quarter: tuple[int, ...]  # each piece of keys' quarter
    sql_start: np.ndarray  # where each bucket of SQL records starts, plus the end
    sql_shift: int
    # the number of (lead, day) record runs that are an MQL moment for some threshold >= 0
    n_records: int
    _held: _Held = field(repr=False)

    key_lo = _copied("key_lo", "Return a copy of the record keys' lower bounds, piece by piece.")
    key_hi = _copied("key_hi", "Return a copy of the record keys' upper bounds, piece by piece.")
    key_sorted = _copied("key_sorted", "Return which pieces of keys are sorted (a copy).")
    sql_lo = _copied("sql_lo", "Return a copy of the SQL leads' records' lower bounds.")
    sql_hi = _copied("sql_hi", "Return a copy of the SQL leads' records' upper bounds.")
    sql_code = _copied("sql_code", "Return a copy of the SQL leads' records' quarters and won.")
    sql_lag = _copied("sql_lag", "Return a copy of the SQL leads' records' days to the stages.")

    @contextmanager
    def records(self, m: Materialised | None = None) -> Iterator[Records]:
        """Hold the records for reading inside the block; keep nothing of them past it.

        A released scoring is first scored again on m (its own history, or a half-life copy of
        the same) into fresh arrays no pool has; without m it raises lab.Released.
        """
        holding = self._hold(m)
        try:
            yield holding.records
        finally:
            holding.lease.done()

    def release(self) -> None:
        """Give the records' arrays back to the history's pool, for the next scoring to write
        over (once the reads in progress are done). Its owner calls it when it will read
        the scoring no more: the dashboard's cache evicting it, a rescoring loop. lead_max
        and the copies it handed out stay as they are."""
        self._held.now.lease.release()

    @property
    def released(self) -> bool:
        """Return whether the records' arrays were given back (and not scored again since)."""
        return self._held.now.lease.released

    def pieces_of(self, quarters: np.ndarray) -> list[int]:
        """Return the pieces of keys of the given quarters, the longest first."""
        with self.records() as records:
            return records.pieces_of(quarters)

    def _hold(self, m: Materialised | None) -> _Holding:
        """Return the holding with a reader counted in, scoring again first if released."""
        while True:
            holding = self._held.now
            if holding.lease.acquire():
                return holding
            if m is None:
                raise _fast.Released(
                    "this scoring was released: its arrays hold another scoring's by now"
                )
            with self._held.lock:
                if self._held.now is holding:  # no other reader scored it again meanwhile
                    if m.half_life_days != self.half_life_days or m.n_leads != len(self.lead_max):
                        raise ValueError("a scoring can be scored again on its own history only")
                    lead_max = np.empty(m.n_leads, dtype=np.int64)  # as self.lead_max
                    self._held.now = _scored(m, self.weights, lead_max, pool=None)


def score(m: Materialised, definition: Definition) -> Scores:
    """Return a definition's record highs over the materialised history.

    The definition's half-life must be the materialisation's (see with_half_life). Two threads
    score half the leads each, then put the SQL leads' records in buckets at once. The records
    are written into arrays from m's pool: release the Scores when done with it (see the module
    docstring) and the next scoring reuses them.
    """
    weights = compile_weights(m, definition)
    lead_max = np.empty(m.n_leads, dtype=np.int64)
    holding = _scored(m, weights, lead_max, m.pool)
    lead_max.flags.writeable = False
    records = holding.records
    return Scores(
        definition=definition,
        half_life_days=m.half_life_days,
        weights=weights,
        lead_max=lead_max,
        key_quarter=records.key_quarter,
        sql_start=records.sql_start,
        sql_shift=records.sql_shift,
        n_records=sum(len(piece) for piece in records.key_lo),
        _held=_Held(holding),
    )


class _Outputs(NamedTuple):
    """The arrays a scoring writes and its records keep: record keys as long as the checks, SQL
    records as many as the SQL leads' checks (only the pages written are ever touched)."""

    key_lo: np.ndarray
    key_hi: np.ndarray
    sql_bound: np.ndarray
    sql_code: np.ndarray
    sql_lag: np.ndarray


def _new_outputs(m: Materialised) -> _Outputs:
    """Return fresh output arrays for a scoring of m."""
    n_sql = int(np.diff(m.check_start)[m.reached_sql_us != NEVER].sum())
    return _Outputs(
        key_lo=np.empty(m.n_checks, dtype=np.int64),
        key_hi=np.empty(m.n_checks, dtype=np.int64),
        sql_bound=np.empty((2, n_sql), dtype=np.int64),
        sql_code=np.empty((4, n_sql), dtype=np.int16),
        sql_lag=np.empty((2, n_sql)),
    )


def _new_scratch(m: Materialised, first: int, stop: int) -> tuple[np.ndarray, ...]:
    """Return fresh scratch for the SQL records of leads first..stop-1: bound, code and lag rows
    as many as the SQL leads' checks, and each record's place in its bucket."""
    of_sql = m.reached_sql_us[first:stop] != NEVER
    n_sql = int(np.diff(m.check_start[first : stop + 1])[of_sql].sum())
    return (
        np.empty((2, n_sql), dtype=np.int64),
        np.empty((4, n_sql), dtype=np.int16),
        np.empty((2, n_sql)),
        np.empty(n_sql, dtype=np.int64),
    )


def _take_scratch(
    m: Materialised, pool: _fast.BufferPool | None, leads: tuple[int, int]
) -> tuple[np.ndarray, ...]:
    """Return scratch for the SQL records of a half of the leads: from pool, or fresh."""
    if pool is None:
        return _new_scratch(m, *leads)
    return pool.take(("scratch", leads), lambda: _new_scratch(m, *leads))


def _scored(
    m: Materialised, weights: Weights, lead_max: np.ndarray, pool: _fast.BufferPool | None
) -> _Holding:
    """Score every lead: write each one's best into lead_max and return the records, in arrays
    taken from pool (None: fresh ones, given back to no pool) and held by a lease on them."""
    w = weights.arrays
    outcomes = (
        m.check_moments,
        m.calendar.quarter_of_day,
        m.reached_sql_us,
        m.reached_customer_us,
        m.reached_quarter["sql"],
        m.reached_quarter["customer"],
    )
    # Each half's keys go to its own stretch of two arrays as long as the checks, each quarter's
    # to its own part of that (Materialised.key_stretches): only the pages written are ever
    # touched, and each part is one piece of keys.
    outputs = _new_outputs(m) if pool is None else pool.take("outputs", lambda: _new_outputs(m))
    key_lo, key_hi = outputs.key_lo, outputs.key_hi
    # as many SQL records as the SQL leads' checks at most: pages never written are never touched
    scratch = {leads: _take_scratch(m, pool, leads) for leads in m.halves}

    # a change of fit alone (the behaviour points of the last full scoring) finds the records
    # again from that scoring's behaviour records, reading no check (kernels.refit_records);
    # any other scoring reads the checks of the leads with an event of a type whose points
    # changed, copies the others' behaviour records from the last, and keeps its own
    key, per_type = _behaviour_key(weights), _per_type(weights)
    reuse = pool is not None and _fast.enabled()
    kept = _kept_behaviour(m) if reuse else None
    refit = kept is not None and kept.key == key
    if not refit:
        if reuse and kept is None:
            _drop_kept(m)
        made = _fast.new_behaviour
        behaviour = (
            pool.take("behaviour", lambda: made(m.n_checks))
            if reuse and pool is not None
            else made(m.n_checks)
        )
        partly = kept is not None and len(m.event_types) <= MASKED_TYPES
        if partly:
            assert kept is not None
            changed_types = np.flatnonzero((kept.per_type != per_type).any(axis=0))
            changed = np.uint64(
                np.bitwise_or.reduce(
                    np.uint64(1) << changed_types.astype(np.uint64), initial=np.uint64(0)
                )
            )
            since = (*kept.arrays, _type_masks(m), changed, True)
        else:
            since = (*behaviour, np.zeros(1, dtype=np.uint64), np.uint64(0), False)

    def half(leads: tuple[int, int]) -> tuple[list, tuple[np.ndarray, ...], np.ndarray]:
        first, stop = leads
        at, end = int(m.check_start[first]), int(m.check_start[stop])
        stretch = m.key_stretches[leads]
        fill = stretch[:-1].copy()
        bound, code, lag, places = scratch[leads]
        written = (key_lo[at:end], key_hi[at:end], fill, bound, code, lag, lead_max)
        if refit:
            assert kept is not None
            n_sql = _fast.refit_highs(
                first, stop, m.check_start, w[0], outcomes, *written, *kept.arrays
            )
        else:
            n_sql = _fast.record_highs(
                first,
                stop,
                m.history,
                w,
                outcomes,
                *written,
                *behaviour,
                *since,
                most=m.most_checks,
            )
        pieces = [
            (q, key_lo[at + a : at + b], key_hi[at + a : at + b])
            for q, (a, b) in enumerate(zip(stretch[:-1], fill))
        ]
        return pieces, (bound[:, :n_sql], code[:, :n_sql], lag[:, :n_sql]), places[:n_sql]

    try:
        with ThreadPoolExecutor(2) as threads:
            halves = list(threads.map(half, m.halves))
            # by upper bound, so that a threshold move scans only the records that reach it
            start, shift, bound, code, lag = _bucketed(
                [h[1] for h in halves], [h[2] for h in halves], outputs, threads
            )
    finally:
        if kept is not None:
            kept.lease.done()
    if not refit and reuse:
        lease = _fast.Lease(pool, "behaviour", behaviour)
        _keep_behaviour(m, _Behaviour(key, per_type, behaviour, lease))
    pieces = [piece for h in halves for piece in h[0]]
    del halves
    if pool is not None:  # the scratch is all in the outputs now
        for leads, arrays in scratch.items():
            pool.give_back(("scratch", leads), arrays)
    records = Records(
        key_lo=tuple(p[1] for p in pieces),
        key_hi=tuple(p[2] for p in pieces),
        key_quarter=tuple(p[0] for p in pieces),
        sql_lo=bound[0],
        sql_hi=bound[1],
        sql_code=code,
        sql_lag=lag,
        sql_start=start,
        sql_shift=shift,
        key_sorted=[False] * len(pieces),
        key_asked=[0] * len(pieces),
        sort_locks=tuple(threading.Lock() for _ in pieces),
    )
    return _Holding(records, _fast.Lease(pool, "outputs", outputs))


def _bucketed(
    parts: list[tuple[np.ndarray, ...]],
    places: list[np.ndarray],
    outputs: _Outputs,
    threads: ThreadPoolExecutor,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Return SQL records given in parts of (bound, code, lag) columns in buckets by upper
    bound (see Records): where each bucket starts, the shift, and the bound, code and lag
    (in outputs' arrays). Each part is placed on a thread of threads'; places: scratch, one
    per record of each part."""
    # each part's largest bound, then its bucket counts, on the threads (a pass each)
    highs = [bound[1] for bound, _, _ in parts]
    top = max((int(h) for h in threads.map(np.max, [h for h in highs if len(h)])), default=0)
    shift = max(0, top.bit_length() - SQL_BUCKET_BITS)
    counts = [np.zeros((1 << SQL_BUCKET_BITS) + 1, dtype=np.int64) for _ in parts]
    list(threads.map(lambda h, c: _fast.count_buckets(h, shift, c), highs, counts))
    start = np.cumsum(sum(counts))
    start.flags.writeable = False  # the Scores hands it out: no pool has it
    n = int(start[-1])
    out = (outputs.sql_bound[:, :n], outputs.sql_code[:, :n], outputs.sql_lag[:, :n])
    # each part's records take its places in each bucket after the earlier parts'
    fills = np.cumsum([start[:-1], *(c[1:] for c in counts[:-1])], axis=0)

    def move(part: tuple[np.ndarray, ...], fill: np.ndarray, place: np.ndarray) -> None:
        _fast.bucket_places(part[0][1], shift, fill, place)
        for rows, target in zip(part, out, strict=True):
            _fast.scatter(rows, place, target)

    list(threads.map(move, parts, fills, places))
    return start, shift, *out
