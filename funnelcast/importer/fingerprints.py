"""Fingerprints: a multiset of rows in brief, to tell a re-import from new rows, and checksums.

Matching 20M events against 20M stored ones field by field costs more than loading them, so
a file imported into a table that already has events is first fingerprinted: how many rows,
and the sum of their row hashes, as they would be stored. When that is the events table's own
fingerprint, the table holds exactly the file's rows (a re-import after a first load); when
the table still has the fingerprint recorded in meta (import_fingerprint_events) right after
an import of rows with this very fingerprint, the table holds what that import left, which
holds every row of the file. Either way nothing is new and no row is matched. Anything else
(another file since, an event deleted or edited by hand, another mapping) falls back to
matching every row, and an import that adds rows that way records the two fingerprints for
next time. The fingerprints are content, not history: a table changed and changed back still
matches, rightly. They can mislead only through a 64-bit hash collision between two different
tables (the standard content_checksum keeps too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

import funnelcast.importer.sql as sql
from funnelcast.data import db

# meta key: the events fingerprint of the last file that added events, and of the events
# table right after it did
EVENTS_FINGERPRINT = "import_fingerprint_events"


@dataclass(frozen=True)
class Fingerprint:
    """A multiset of rows in brief: how many, and the sum of their row hashes.

    Sums add up, so the fingerprint of a table after an insert is the table's before plus the
    inserted rows'. Two different multisets share one only by a 64-bit hash collision.
    """

    rows: int
    hash_sum: int

    def __add__(self, other: Fingerprint) -> Fingerprint:
        return Fingerprint(self.rows + other.rows, self.hash_sum + other.hash_sum)


def table_fingerprint(cur, table: str, names: Sequence[str]) -> Fingerprint:
    """Return the fingerprint of the rows a table holds now, hashed over the named columns."""
    return Fingerprint(*cur.execute(sql.fingerprint(table, names)).fetchall()[0])


def recorded_fingerprints(cur) -> tuple[Fingerprint, Fingerprint] | None:
    """Return the (file, table) fingerprints recorded by the last import that added events."""
    text = db.get_meta(cur, EVENTS_FINGERPRINT)
    try:
        data = json.loads(text) if text else None
        if data is None:
            return None
        return Fingerprint(*data["file"]), Fingerprint(*data["table"])
    except (ValueError, TypeError, KeyError):
        return None


def record_fingerprints(cur, file: Fingerprint, table: Fingerprint) -> None:
    """Record the fingerprints of a file that added events and of the table right after."""
    recorded = {"file": [file.rows, file.hash_sum], "table": [table.rows, table.hash_sum]}
    db.set_meta(cur, EVENTS_FINGERPRINT, json.dumps(recorded))


def forget_fingerprints(cur) -> None:
    """Drop the recorded fingerprints (a first load: the table is the file)."""
    cur.execute(sql.DELETE_META, {"k": EVENTS_FINGERPRINT})


def content_checksum(cur: duckdb.DuckDBPyConnection) -> str:
    """Return a hash of every canonical table's rows (order-free): equal when content is equal."""
    digest = hashlib.sha256()
    for table in db.CANONICAL_TABLES:
        rows = cur.execute(sql.fingerprint(table)).fetchall()
        digest.update(f"{table}:{rows[0][0]}:{rows[0][1]};".encode())
    return digest.hexdigest()
