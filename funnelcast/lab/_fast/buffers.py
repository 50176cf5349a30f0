"""The memory a history's scorings write: lent out by a pool, given back by an explicit call.

Fresh memory is dear: its pages fault in as they are first written, a 4 KiB page at a time when
the system has no huge page to spare, and that took a rescore at 1M leads from 80 to over 200 ms.
So each history (lab.Materialised, shared with its half-life copies) owns a BufferPool, and a
scoring writes into arrays it takes from it:
- its scratch (the SQL leads' records of each half of the leads, before they go into buckets)
  it gives back itself, before it returns;
- its outputs (the record keys and the SQL leads' records) stay with its Scores, held by a
  Lease, until the Scores' owner calls release: the dashboard's cache when it evicts the
  scoring (st.cache_resource's on_release, funnelcast.ui.dashboard), a loop that rescores
  before its next rescore (benchmarks/bench_lab.py). A scoring nobody releases keeps its
  arrays, and they go to the garbage collector with it, never to another scoring.

Nobody outside the engine sees the outputs: what a Scores hands out are copies, or arrays the
pool never had. The engine reads them between Lease.acquire and Lease.done. A release while
reads are in progress gives the arrays back when the last of them ends, and a read after the
release is refused (acquire returns False: lab.Scores then scores itself again, into fresh
arrays). So what a release gives back is written over only once nothing can read it through
the released scoring: no reference counting, no finalizers, a release is a call its owner makes.

The pool keeps one set per key (a set of outputs is 100-150 MB at 1M leads). With the fast path
off (FUNNELCAST_LAB_FAST=0, switch.py), take makes fresh arrays every time and give_back keeps
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from funnelcast.lab._fast.switch import enabled

T = TypeVar("T")


class Released(RuntimeError):
    """A scoring's arrays were given back to the pool: another scoring may have written them."""


class BufferPool:
    """Arrays a history's scorings write, kept between scorings: one set per key, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: dict[Hashable, Any] = {}

    def take(self, key: Hashable, make: Callable[[], T]) -> T:
        """Return the set last given back under key, now the caller's alone, or make() a new
        one (always a new one with the fast path off)."""
        if enabled():
            with self._lock:
                spare = self._spare.pop(key, None)
            if spare is not None:
                return spare
        return make()

    def give_back(self, key: Hashable, arrays: Any) -> None:
        """Keep a set for the next take(key), in place of any kept before. The caller gives up
        the arrays: neither it nor anything it handed them to may read them again."""
        if enabled():
            with self._lock:
                self._spare[key] = arrays


class Lease:
    """A scoring's hold on the arrays it took from a pool (None: fresh ones, for no pool).

    Readers count themselves in (acquire) and out (done); release gives the arrays back once,
    when the last reader is out.
    """

    def __init__(self, pool: BufferPool | None, key: Hashable, arrays: Any) -> None:
        self._pool = pool
        self._key = key
        self._arrays = arrays
        self._lock = threading.Lock()
        self._readers = 0
        self._released = False
        self._keep = True

    @property
    def released(self) -> bool:
        """Return whether release has been called."""
        return self._released

    def acquire(self) -> bool:
        """Count a reader in and return True; False once released (read nothing then)."""
        with self._lock:
            if self._released:
                return False
            self._readers += 1
            return True

    def done(self) -> None:
        """Count a reader out (after an acquire that returned True)."""
        with self._lock:
            self._readers -= 1
            last = self._released and self._readers == 0
        if last:
            self._give_back()

    def release(self, keep: bool = True) -> None:
        """Give the arrays back to the pool: now, or when the readers in progress are done
        (keep=False: to no pool, for the garbage collector to free). Idempotent: only the
        first call counts."""
        with self._lock:
            if self._released:
                return
            self._released = True
            self._keep = keep
            idle = self._readers == 0
        if idle:
            self._give_back()

    def _give_back(self) -> None:
        """Hand the arrays to the pool and forget them (called once: see done and release)."""
        arrays, self._arrays = self._arrays, None
        if self._pool is not None and arrays is not None and self._keep:
            self._pool.give_back(self._key, arrays)
