"""How the importer's statements run: progress reports, and the settings an import holds.

Progress runs the long statements (reading, checking, writing), reporting DuckDB's own query
progress to a callback; in_utc and insertion_order hold a session setting for the span of an
import or a statement and put it back after, whatever happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from collections.abc import Mapping as AbcMapping
from contextlib import contextmanager
from typing import Any

import duckdb

import funnelcast.importer.sql as sql


class Progress:
    """Reports how far an import is: stage name and a fraction (None: not known).

    With a callback, long queries run on a worker thread while this one polls DuckDB's own
    query progress; without one they simply run.
    """

    def __init__(
        self, callback: Callable[[str, float | None], None] | None = None, interval: float = 0.2
    ):
        self.callback = callback
        self.interval = interval

    def stage(self, name: str, fraction: float | None = None) -> None:
        """Tell the callback that the import is at this stage."""
        if self.callback is not None:
            self.callback(name, fraction)

    def run(self, cur, statement: str, params: AbcMapping[str, Any], stage: str) -> list[tuple]:
        """Run one statement, reporting its progress under a stage name; return its rows."""
        self.stage(stage, 0.0)
        if self.callback is None:
            return cur.execute(statement, params).fetchall()
        for setting in sql.PROGRESS_ON:
            cur.execute(setting)
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["rows"] = cur.execute(statement, params).fetchall()
            except BaseException as exc:  # handed to the caller's thread below
                outcome["error"] = exc

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(self.interval)
            done = cur.query_progress()
            if worker.is_alive() and done >= 0:
                self.stage(stage, min(done / 100, 1.0))
        if "error" in outcome:  # before any other statement: a failed one aborts the transaction
            raise outcome["error"]
        cur.execute(sql.PROGRESS_OFF)
        self.stage(stage, 1.0)
        return outcome["rows"]


@contextmanager
def in_utc(cur) -> Iterator[None]:
    """Within it, the session's time zone is UTC: texts with an offset are moved to UTC."""
    previous = cur.execute(sql.TIME_ZONE).fetchall()[0][0]
    cur.execute(sql.UTC)
    try:
        yield
    finally:
        cur.execute(sql.SET_TIME_ZONE, {"zone": previous})


@contextmanager
def insertion_order(cur, keep: bool) -> Iterator[None]:
    """Within it, statements keep (True) or need not keep (False) the order of their input."""
    previous = bool(cur.execute(sql.INSERTION_ORDER).fetchall()[0][0])
    cur.execute(sql.SET_INSERTION_ORDER, {"keep": keep})
    try:
        yield
    finally:
        try:
            cur.execute(sql.SET_INSERTION_ORDER, {"keep": previous})
        except duckdb.TransactionException:
            pass  # the statement failed and aborted the transaction: its error follows
