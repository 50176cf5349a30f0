"""The lead fields the Threshold Lab's fit rules read, beyond the six it materialises.

A fit rule may name any built-in lead field or custom attribute with any operator
(definitions.operators). The history materialises the six persona fields as codes (the fast
path for `is` rules, and the movers' breakdowns); every other field a definition names is read
on demand (queries/lab_field_values.sql) into the history's field store, once per field and
data load, and kept beside it (shared by sessions: loaded under a lock, never changed after);
a history kept beside its database (lab.stored) keeps them there too, read back on a restart.
`fit_values` hands lab.weights each rule's field as definitions.values.FieldValues: the persona
fields from their codes, created_at from the creation moments, the rest from the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from funnelcast.data import db
from funnelcast.definitions import Definition, operators
from funnelcast.definitions.fields import lead_fields
from funnelcast.definitions.values import FieldValues, one_field

HITS_KEPT = 48  # rules' match masks kept per history (one byte a lead each)
FIELD_ARRAYS = ("known", "numbers", "codes")  # a FieldValues' arrays, as a kept field's files


class FieldNotLoaded(ValueError):
    """A fit rule names a field the history has not read (call load_fields first)."""


@dataclass(eq=False)
class FieldStore:
    """The fields read for a history: name -> FieldValues, and their types."""

    types: dict[str, str] = field(default_factory=dict)  # every field rules may name
    values: dict[str, FieldValues] = field(default_factory=dict)
    # each rule's matches by what it matches (FitRule.key), the last HITS_KEPT: a change of a
    # rule's points matches nothing again
    hits: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # where a kept history keeps them (lab.stored: keep_field, kept_field), or None
    folder: Path | None = None
    # a sampled history's: per lead of the data, its index among the sampled (-1: not held)
    lead_map: np.ndarray | None = field(default=None, repr=False)

    def kept_hits(self) -> dict[tuple, np.ndarray]:
        """Return the matches kept, after forgetting the oldest beyond HITS_KEPT (sessions may
        add at once: a dict's single operations are atomic under the GIL)."""
        while len(self.hits) > HITS_KEPT:
            try:
                self.hits.pop(next(iter(self.hits)), None)
            except (RuntimeError, StopIteration):  # another session changed it meanwhile
                break
        return self.hits

    @property
    def nbytes(self) -> int:
        """Return the bytes the loaded fields hold."""
        return sum(v.nbytes for v in list(self.values.values()))


def named_fields(definitions: Iterable[Definition]) -> set[str]:
    """Return the fields the definitions' fit rules name."""
    return {rule.attribute for d in definitions for rule in d.fit_rules}


def load_fields(
    store: FieldStore, cur: duckdb.DuckDBPyConnection, names: Iterable[str], n_leads: int
) -> None:
    """Read the named fields into the store, those not read yet (a query each);
    a name that is no field of the database is left for the rule check to name."""
    with store.lock:
        if not store.types:
            store.types.update(lead_fields(cur))
        wanted = sorted(n for n in set(names) if n in store.types and n not in store.values)
        if not wanted:
            return
        for name in wanted:  # one at a time: all at once held twice the memory at 1M leads
            kept = _kept_field(store.folder, name, n_leads)
            if kept is not None:
                store.values[name] = kept
                continue
            rows = db.run(cur, "lab_field_values", field=name)
            if store.lead_map is not None:
                keys = store.lead_map[rows["lead_key"].to_numpy()]
                rows = rows.with_columns(lead_key=pl.Series(keys)).filter(pl.col("lead_key") >= 0)
            store.values[name] = one_field(name, store.types[name], rows, n_leads)
            del rows
            _keep_field(store.folder, store.values[name])
        db.release_cached_blocks(cur)  # the attributes' blocks DuckDB kept after the scans


def _field_folder(folder: Path, name: str) -> Path:
    """Return the folder a field is kept in (its name hashed: any text may name a field)."""
    return folder / hashlib.sha256(name.encode()).hexdigest()[:24]


def _keep_field(folder: Path | None, values: FieldValues) -> None:
    """Keep a field's values in the history's folder (written whole, then renamed into place);
    nothing when there is no folder or it cannot be written."""
    if folder is None:
        return
    temporary = folder / f".writing-{uuid.uuid4().hex}"
    try:
        temporary.mkdir(parents=True)
        for part in FIELD_ARRAYS:
            array = getattr(values, part)
            if array is not None:
                np.save(temporary / f"{part}.npy", array)
        texts = None if values.texts is None else [str(t) for t in values.texts]
        meta = {"name": values.name, "field_type": values.field_type, "texts": texts}
        (temporary / "field.json").write_text(json.dumps(meta))
        os.rename(temporary, _field_folder(folder, values.name))
    except OSError:
        shutil.rmtree(temporary, ignore_errors=True)


def _kept_field(folder: Path | None, name: str, n_leads: int) -> FieldValues | None:
    """Return a field's values kept in the history's folder, or None when not kept whole."""
    if folder is None:
        return None
    where = _field_folder(folder, name)
    try:
        meta = json.loads((where / "field.json").read_text())
        parts = {
            part: np.load(where / f"{part}.npy") if (where / f"{part}.npy").exists() else None
            for part in FIELD_ARRAYS
        }
    except (OSError, ValueError):
        return None
    known = parts.pop("known")
    if meta.get("name") != name or known is None or len(known) != n_leads:
        return None
    texts = None if meta["texts"] is None else np.array(meta["texts"], dtype=object)
    return FieldValues(name, meta["field_type"], known, texts=texts, **parts)


def coded_values(name: str, codes: np.ndarray, values: tuple[str, ...]) -> FieldValues:
    """Return a persona field's FieldValues from its materialised codes (len(values): none)."""
    missing = len(values)
    known = codes != missing
    as_codes = np.where(known, codes.astype(np.int32), np.int32(-1))
    return FieldValues(
        name, operators.TEXT, known, codes=as_codes, texts=np.array(values, dtype=object)
    )


def created_values(created_us: np.ndarray) -> FieldValues:
    """Return created_at's FieldValues: creation in epoch seconds, known for every lead."""
    return FieldValues(
        "created_at",
        operators.DATE,
        np.ones(len(created_us), dtype=bool),
        numbers=created_us / 1e6,
    )
