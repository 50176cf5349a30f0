"""The Threshold Lab's history kept beside its database, so that a second start reads it back.

Materialising reads every event (a minute at 10M leads); a server restarted on the same data
opens the history kept from the last time instead: the arrays of a Materialised as .npy files,
memory-mapped (np.load, copy-on-write: the file is never written through them, and the compiled
loops see the same array types as a fresh history's, so nothing is compiled again), in
DB.lab/KEY/ beside the database file DB.
KEY is the data's version (data_version): a hash of this module's format, the event types
materialised, the file's and its write-ahead log's size, modification time and inode, and the
rows of every table and the meta settings (queries/lab_data_version.sql). An import or a
definition change writes the file, so the key changes; files under any other key are never
opened, and the newest write removes the older folders. A folder is written under a temporary
name and renamed into place whole, and only when the key read after materialising is the key
read before it (nothing was written meanwhile), so a half-written or stale folder is never read.
A writer that crashed or was killed leaves its temporary folder (.writing-PID-...): the next
write removes those of processes no longer running, and an open those older than LEFT_AFTER_S.

What is kept: every array the history holds, its fit values and event types, and its
half-life's decay factors (another half-life recomputes them, lab.with_half_life). Not kept:
the calendar, read again from the database (its cohort maturity moves with today), and nothing
of any scoring. The lead fields fit rules read on demand (lab.fields) are kept in KEY/fields/
as they are first read, each written whole, so a restart reads them from there too. Where the folder
cannot be written (a read-only directory, a full disk) the history lives in memory only.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import mmap
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Final, NamedTuple

import duckdb
import numpy as np
import polars as pl

from funnelcast.data import db
from funnelcast.lab.budget import WHOLE, Sample
from funnelcast.lab.history import Materialised, Progress, materialise
from funnelcast.lab.quarters import calendar_from

# Bump when what is written changes: a folder of another format is never read.
FORMAT = 4
SUFFIX = ".lab"
META = "meta.json"
# numba compiles its loops again for read-only arrays: mapped copy-on-write, they are not
MAPPED: Final = "c"
LEAD_IDS = "lead_id.arrow"
VOCABULARY = "vocabulary-"  # + the data's version: kept_vocabulary
FIELDS = "fields"  # the lead fields fit rules read, kept as they are read (lab.fields)
# the Materialised fields that are one array each (the dicts of arrays are kept per key)
ARRAYS = (
    "created_us",
    "recorded_mql_us",
    "reached_sql_us",
    "reached_customer_us",
    "check_start",
    "check_at",
    "check_groups",
    "group_start",
    "group_type",
    "group_count",
    "early_start",
    "early_type",
    "early_count",
    "early_age",
    "decay",
    "early_weight",
)
DICTS = ("codes", "stage_totals", "reached_quarter")
MOMENTS = ("created_us", "recorded_mql_us", "reached_sql_us", "reached_customer_us")
# a folder being written is named WRITING + its writer's pid + a random part; one a writer left
# (it crashed, or was killed) is removed by the next write, and by an open once this old
WRITING = ".writing-"
LEFT_AFTER_S = 15 * 60  # a write takes seconds (13 s at 10M leads): this one is long dead


class Kept(NamedTuple):
    """A history, and where it came from: 'read' (the kept files), 'written' (materialised and
    kept) or 'memory' (materialised; not kept: the folder could not be written, or the data
    changed while materialising)."""

    history: Materialised
    source: str


def folder_of(path: str | Path) -> Path:
    """Return the folder beside the database file at path where its histories are kept."""
    return Path(f"{os.path.abspath(path)}{SUFFIX}")


def _stat(path: Path) -> list[int] | None:
    """Return a file's size, modification time (ns) and inode; None when there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def data_stamp(cur: duckdb.DuckDBPyConnection, path: str | Path) -> dict:
    """Return what changes when the database file at path, its write-ahead log or any table's
    rows or meta setting does (what every key here is made from)."""
    file = Path(path).resolve()
    rows = db.run(cur, "lab_data_version")
    return {
        "format": FORMAT,
        "file": _stat(file),
        "wal": _stat(Path(f"{file}.wal")),
        "rows": [list(r) for r in rows.rows()],
    }


def _hash(stamp: dict) -> str:
    """Return a key for a stamp."""
    return hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:32]


def data_version(
    cur: duckdb.DuckDBPyConnection,
    path: str | Path,
    event_types: tuple,
    stamp: dict | None = None,
) -> str:
    """Return the key a history of these event types from the database at path is kept under:
    it changes when the file, its write-ahead log or any table's rows or meta setting does
    (stamp: data_stamp's, when it was just read)."""
    stamp = data_stamp(cur, path) if stamp is None else stamp
    return _hash({**stamp, "event_types": list(event_types)})


def kept_vocabulary(
    cur: duckdb.DuckDBPyConnection, path: str | Path | None, stamp: dict | None = None
) -> pl.DataFrame:
    """Return queries/scoring_vocabulary.sql's rows for the database file at path (the event
    types the data holds, the values fit rules can match: 1.5 s at 10M leads), kept beside it
    under the data's version like a history: read back while the data is as it was, queried
    (and kept in place of any older) once it is not. Without a path (another engine's data),
    or where it cannot be kept, it is queried."""
    if path is None:
        return db.run(cur, "scoring_vocabulary")
    folder = folder_of(path)
    key = _hash(stamp or data_stamp(cur, path))
    name = f"{VOCABULARY}{key}.arrow"
    try:
        return pl.read_ipc(folder / name)
    except (OSError, ValueError, pl.exceptions.PolarsError):
        pass
    words = db.run(cur, "scoring_vocabulary")
    if _hash(data_stamp(cur, path)) != key:  # written meanwhile: the words may be either's
        return words
    temporary = folder / f"{WRITING}{os.getpid()}-{uuid.uuid4().hex}.arrow"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        words.write_ipc(temporary, compression="uncompressed")
        os.replace(temporary, folder / name)
    except OSError:
        return words
    finally:
        temporary.unlink(missing_ok=True)
    for other in folder.glob(f"{VOCABULARY}*"):
        if other.name != name:
            other.unlink(missing_ok=True)
    return words


def event_types_of(words: pl.DataFrame) -> tuple[str, ...]:
    """Return the event types a vocabulary (kept_vocabulary's) holds, in its order."""
    return tuple(words.filter(pl.col("kind") == "behaviour")["value"].to_list())


def kept_history(
    cur: duckdb.DuckDBPyConnection,
    path: str | Path | None,
    half_life_days: float,
    event_types: tuple[str, ...],
    progress: Progress | None = None,
    sample: Sample = WHOLE,
) -> Kept:
    """Return the history of these event types from the database file at path: read from the
    folder beside it when one is kept under the data's current version (decayed by the
    half-life it was kept with), else materialised (lab.materialise) and kept there. Without a
    path (another engine's data), or of a sample of the leads (lab.budget: only whole
    histories are kept, so a folder never holds a sample), it is materialised in memory."""
    types = tuple(dict.fromkeys(event_types))
    if path is None or not sample.is_whole:
        return Kept(
            materialise(cur, half_life_days, types, progress=progress, sample=sample), "memory"
        )
    key = data_version(cur, path, types)
    clear_left(folder_of(path), older_than_s=LEFT_AFTER_S)
    m = read(path, key)
    if m is not None:
        if progress is not None:
            progress("decay", 1.0)
        m.field_store.folder = folder_of(path) / key / FIELDS
        return Kept(m, "read")
    m = materialise(cur, half_life_days, types, progress=progress)
    if data_version(cur, path, types) != key:  # written meanwhile: what was read may be either
        return Kept(m, "memory")
    if not write(m, path, key):
        return Kept(m, "memory")
    m.field_store.folder = folder_of(path) / key / FIELDS  # the fields read later kept there
    return Kept(m, "written")


def read(path: str | Path, key: str) -> Materialised | None:
    """Return the history kept under key beside the database at path, its arrays mapped
    (copy-on-write); None when there is none. One there that is of another format or key, or
    cannot be read whole, is removed (and None returned), so that the history materialised
    next can take its place. Nothing is read from the database: what the key covers (the
    data's rows and settings) is kept whole, the calendar's parts too (its cohorts' maturity,
    which moves with today, is judged again: quarters.calendar_from)."""
    where = folder_of(path) / key
    if not where.exists():
        return None
    m = _read(where, key)
    if m is None:
        shutil.rmtree(where, ignore_errors=True)
        return None
    threading.Thread(
        target=populate, args=([getattr(m, name) for name in SCANNED],), daemon=True
    ).start()
    return m


# The arrays a scoring reads check by check (m.history's that are per check or per group):
# mapped, each page faults in on its first read, a 4 KiB page at a time; populate maps them
# all at once, on the other core, while this one goes on (imports, fields, loading kernels).
SCANNED = ("check_at", "check_groups", "group_type", "group_count", "decay")
# madvise: map the file's pages in now (Linux 5.14), else at least read them ahead
MADV_POPULATE_READ = 22
# the C library's symbols, madvise among them, as the process has them loaded (no lookup)
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def populate(arrays: list[np.ndarray]) -> None:
    """Map the pages of arrays mapped from files in now, in the caller's thread (the GIL is
    let go meanwhile: ctypes calls release it). Nothing is raised: at worst the pages fault
    in as they are first read, as without this."""
    if _libc is None:
        return
    for array in arrays:
        if not array.nbytes:
            continue
        start = array.ctypes.data - array.ctypes.data % mmap.PAGESIZE
        length = array.ctypes.data + array.nbytes - start
        for advice in (MADV_POPULATE_READ, getattr(mmap, "MADV_WILLNEED", None)):
            if advice is None:
                break
            done = _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), advice)
            if done == 0:
                break


def _read(where: Path, key: str) -> Materialised | None:
    """Return the history in the folder where, or None when it is not one of key, whole."""
    try:
        meta = json.loads((where / META).read_text())
        if meta.get("format") != FORMAT or meta.get("key") != key:
            return None
        arrays = {name: np.load(where / f"{name}.npy", mmap_mode=MAPPED) for name in ARRAYS}
        dicts = {
            group: {
                name: np.load(where / f"{group}.{name}.npy", mmap_mode=MAPPED)
                for name in meta[group]
            }
            for group in DICTS
        }
        lead_id = pl.read_ipc(where / LEAD_IDS)["lead_id"]
        calendar = calendar_from(meta["calendar"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(lead_id) != meta["n_leads"] or len(arrays["check_at"]) != meta["n_checks"]:
        return None
    if str(calendar.day0) != meta["day0"] or calendar.n_days != meta["n_days"]:
        return None
    m = Materialised(
        half_life_days=float(meta["half_life_days"]),
        event_types=tuple(meta["event_types"]),
        calendar=calendar,
        lead_id=lead_id,
        values={name: tuple(v) for name, v in meta["values"].items()},
        epoch_us=int(meta["epoch_us"]),
        tick_us=int(meta["tick_us"]),
        codes=dicts["codes"],
        stage_totals=dicts["stage_totals"],
        reached_quarter=dicts["reached_quarter"],
        all_leads=len(lead_id),
        **arrays,
    )
    halves = [(int(a), int(b)) for a, b in meta["halves"]]
    vars(m)["halves"] = halves
    vars(m)["key_stretches"] = {
        h: np.array(stretch, dtype=np.int64) for h, stretch in zip(halves, meta["key_stretches"])
    }
    return m


def write(m: Materialised, path: str | Path, key: str) -> bool:
    """Keep the history beside the database at path under key; return whether it was kept.

    Written under a temporary name, renamed into place whole; then the folders of other keys
    are removed. Nothing is raised when the folder cannot be written: the Lab then works
    from memory."""
    folder = folder_of(path)
    clear_left(folder)
    temporary = folder / f"{WRITING}{os.getpid()}-{uuid.uuid4().hex}"
    try:
        temporary.mkdir(parents=True)
        for name in ARRAYS:
            np.save(temporary / f"{name}.npy", getattr(m, name))
        for group in DICTS:
            for name, array in getattr(m, group).items():
                np.save(temporary / f"{group}.{name}.npy", array)
        pl.DataFrame({"lead_id": m.lead_id}).write_ipc(
            temporary / LEAD_IDS, compression="uncompressed"
        )
        meta = {
            "format": FORMAT,
            "key": key,
            "half_life_days": m.half_life_days,
            "event_types": list(m.event_types),
            "values": {name: list(v) for name, v in m.values.items()},
            "epoch_us": m.epoch_us,
            "tick_us": m.tick_us,
            "day0": str(m.calendar.day0),
            "n_days": m.calendar.n_days,
            "calendar": m.calendar.parts,
            "n_leads": m.n_leads,
            "n_checks": m.n_checks,
            # what the first scoring works out from the layout (seconds at 10M), kept with it
            "halves": [list(h) for h in m.halves],
            "key_stretches": [m.key_stretches[h].tolist() for h in m.halves],
            **{group: list(getattr(m, group)) for group in DICTS},
        }
        (temporary / META).write_text(json.dumps(meta))
        os.rename(temporary, folder / key)
    except OSError:  # no room, no right to write, or kept already by another process
        return (folder / key / META).exists()
    finally:  # whatever stopped the write (a MemoryError too), nothing half-written stays
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    for other in folder.iterdir():
        if other.name != key and other.is_dir() and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)
    return True


def clear_left(folder: Path, older_than_s: float | None = None) -> list[str]:
    """Remove the folders writes left half-written in folder (their writer crashed or was
    killed) and return their names. With older_than_s, those last modified longer ago than
    that, whoever wrote them (what an open clears: a writer on another machine sharing the
    folder has a pid that means nothing here); without, those whose writer's process is no
    longer running (what a write clears)."""
    removed: list[str] = []
    try:
        left = [p for p in folder.iterdir() if p.name.startswith(WRITING)]
    except OSError:  # no folder yet, or not one
        return removed
    now = time.time()
    for where in left:
        try:
            age = now - where.stat().st_mtime
        except OSError:  # renamed into place or removed meanwhile
            continue
        if age > older_than_s if older_than_s is not None else not _running(where.name):
            if where.is_dir():
                shutil.rmtree(where, ignore_errors=True)
            else:
                where.unlink(missing_ok=True)
            removed.append(where.name)
    return removed


def _running(name: str) -> bool:
    """Return whether the process a WRITING folder is named after is running (a write that
    fails in a running process removes its own folder: see write)."""
    try:
        pid = int(name[len(WRITING) :].split("-", 1)[0])
    except ValueError:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
