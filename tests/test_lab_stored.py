"""The Threshold Lab's history kept beside its database (funnelcast.lab.stored): a second start
reads the same history back (every array, the lead fields its fit rules read, and the same
figures from it), an import of new events or a definition change makes it stale (rebuilt,
never read), a folder that cannot be written leaves the Lab working from memory, a sample of
the leads (lab.budget) is never kept, and what a writer that crashed leaves is cleared. Also
the compact layout: moments in whole seconds as 32-bit ticks, with microseconds kept exactly
when the data has them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from funnelcast import definitions, importer, lab
from funnelcast.data import db
from funnelcast.lab import fields, quarters, stored, warm


@pytest.fixture
def copy(demo_db, tmp_path):
    """Return a writable copy of the session's demo database (6,000 leads)."""
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, path)
    return path


def _kept(path, half_life: float = 30.0) -> stored.Kept:
    """Return kept_history for every event type of the database at path (as the dashboard)."""
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        return stored.kept_history(cur, path, half_life, tuple(warm.db_event_types(cur)))
    finally:
        con.close()


def _figures(path, m: lab.Materialised) -> tuple:
    """Return what the Lab shows of the current definition over m: its MQL moments, and the
    backtest's totals at three thresholds."""
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        current = definitions.current(cur)
        lab.read_fields_for(m, cur, current)  # the custom fields its fit rules read
    finally:
        con.close()
    s = lab.score(m, current)
    totals = [lab.backtest(m, s, t).totals for t in (30.0, current.threshold, 90.0)]
    return lab.mql_moments(m, current).tolist(), totals


def _kept_sample(path, sample: lab.Sample) -> stored.Kept:
    """Return kept_history of a sample of leads (as the dashboard, held to a budget)."""
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        types = tuple(warm.db_event_types(cur))
        return stored.kept_history(cur, path, 30.0, types, sample=sample)
    finally:
        con.close()


def test_a_sampled_history_is_never_kept_nor_read_for_a_sample(copy):
    sample = lab.Sample(share=0.3)
    part = _kept_sample(copy, sample)
    assert part.source == "memory" and not stored.folder_of(copy).exists()
    chosen = sample.chosen(6_000)
    assert part.history.n_leads == chosen.sum() < 6_000 and part.history.all_leads == 6_000
    assert part.history.field_store.folder is None  # its fields are not kept either

    whole = _kept(copy)  # the whole history is kept; a sample asked for later is not it
    assert whole.source == "written" and whole.history.n_leads == 6_000
    again = _kept_sample(copy, sample)
    assert again.source == "memory" and again.history.n_leads == part.history.n_leads
    assert again.history.lead_id.to_list() == part.history.lead_id.to_list()
    assert _kept(copy).source == "read"  # and the kept one is as it was
    assert _kept(copy).history.all_leads == 6_000


def test_a_second_start_reads_the_same_history_back(copy, monkeypatch):
    first = _kept(copy)
    assert first.source == "written"
    kept = list(stored.folder_of(copy).iterdir())
    assert len(kept) == 1 and (kept[0] / stored.META).exists()

    second = _kept(copy)
    assert second.source == "read"
    a, b = first.history, second.history
    for name in stored.ARRAYS:
        got = getattr(b, name)
        assert isinstance(got, np.memmap) and got.filename is not None, name
        assert got.dtype == getattr(a, name).dtype, name
        np.testing.assert_array_equal(got, getattr(a, name), name)
    for group in stored.DICTS:
        assert getattr(a, group).keys() == getattr(b, group).keys()
        for name in getattr(a, group):
            np.testing.assert_array_equal(getattr(b, group)[name], getattr(a, group)[name])
    assert b.lead_id.to_list() == a.lead_id.to_list()
    assert (b.values, b.event_types, b.half_life_days) == (a.values, a.event_types, 30.0)
    assert (b.epoch_us, b.tick_us, b.calendar.day0) == (a.epoch_us, a.tick_us, a.calendar.day0)
    assert b.halves == a.halves
    for half in a.halves:
        np.testing.assert_array_equal(b.key_stretches[half], a.key_stretches[half])
    figures = _figures(copy, a)  # reads the fields its fit rules name, and keeps them
    kept_fields = list((kept[0] / stored.FIELDS).iterdir())
    assert len(kept_fields) == len(a.field_store.values) > 0
    real_run = fields.db.run

    def no_field_query(cur, name, **params):
        assert name != "lab_field_values", "a kept field was read from the database again"
        return real_run(cur, name, **params)

    monkeypatch.setattr(fields.db, "run", no_field_query)
    assert _figures(copy, b) == figures
    for name, values in a.field_store.values.items():
        again = b.field_store.values[name]
        assert (again.field_type, again.known.tolist()) == (
            values.field_type,
            values.known.tolist(),
        )
        for part in ("numbers", "codes", "texts"):
            mine, theirs = getattr(again, part), getattr(values, part)
            assert (mine is None) == (theirs is None), part
            if mine is not None:
                np.testing.assert_array_equal(mine, theirs)
    # another half-life is decayed from what was read, as from a fresh history
    np.testing.assert_array_equal(
        lab.with_half_life(b, 45.0).decay, lab.with_half_life(a, 45.0).decay
    )


def test_an_import_of_new_events_makes_the_kept_history_stale(copy, tmp_path):
    before = _kept(copy).history
    con = db.connect(copy, read_only=True)
    lead = con.cursor().sql("select lead_id from leads order by lead_id limit 1").fetchall()[0][0]
    con.close()
    file = tmp_path / "more_events.csv"
    file.write_text(
        "lead_id,occurred_at,event_type\n"
        + "".join(f"{lead},2026-0{m}-15 10:00:00,demo_request\n" for m in (4, 5, 6))
    )
    con = db.connect(copy)
    importer.import_file(con.cursor(), file, importer.Mapping("events"))
    con.close()

    after = _kept(copy)
    assert after.source == "written"  # rebuilt, not read
    i = before.lead_index(lead)
    assert after.history.n_checks == before.n_checks + 3
    new_checks = np.diff(after.history.check_start)[i] - np.diff(before.check_start)[i]
    assert new_checks == 3
    fresh = _fresh(copy)
    assert _figures(copy, after.history) == _figures(copy, fresh)
    # the stale folder is gone
    assert [p.name for p in stored.folder_of(copy).iterdir()] == [_key(copy)]
    assert _kept(copy).source == "read"


def test_a_definition_change_makes_the_kept_history_stale(copy):
    _kept(copy)
    con = db.connect(copy)
    cur = con.cursor()
    current = definitions.current(cur)
    changed = dataclasses.replace(current, half_life_days=45.0, name="slower decay")
    definitions.save(cur, changed, "2026Q4")
    con.close()
    again = _kept(copy, half_life=45.0)
    assert again.source == "written"
    assert again.history.half_life_days == 45.0
    np.testing.assert_array_equal(again.history.decay, _fresh(copy, 45.0).decay)


def test_a_folder_that_cannot_be_written_leaves_the_lab_in_memory(copy):
    stored.folder_of(copy).write_text("not a folder")  # mkdir beneath it fails
    first = _kept(copy)
    assert first.source == "memory"
    assert _figures(copy, first.history) == _figures(copy, _fresh(copy))
    assert _kept(copy).source == "memory"  # nothing kept, nothing read


def test_a_half_written_or_foreign_folder_is_never_read(copy):
    key = _key(copy)
    folder = stored.folder_of(copy) / key
    folder.mkdir(parents=True)
    (folder / stored.META).write_text(json.dumps({"format": stored.FORMAT, "key": key}))
    assert _kept(copy).source == "written"  # no arrays: removed, and rebuilt in its place
    assert _kept(copy).source == "read"
    meta = folder / stored.META
    meta.write_text(meta.read_text().replace(f'"format": {stored.FORMAT}', '"format": 0'))
    assert _kept(copy).source == "written"


def test_moments_are_kept_as_32_bit_seconds_or_exact_microseconds(copy):
    m = _fresh(copy)
    assert m.tick_us == 1_000_000 and m.check_at.dtype == np.int32
    assert m.check_moments[1:] == (m.epoch_us, m.tick_us)
    con = db.connect(copy)
    cur = con.cursor()
    lead = cur.sql("select lead_id from leads order by lead_id limit 1").fetchall()[0][0]
    cur.execute(
        "insert into events (lead_id, occurred_at, event_type) values "
        "(?, timestamp '2026-05-01 10:00:00.123456', 'demo_request')",
        [lead],
    )
    con.close()
    exact = _fresh(copy)
    assert exact.tick_us == 1 and exact.check_at.dtype == np.int64
    i = exact.lead_index(lead)
    moments = exact.check_us_of(int(exact.check_start[i]), int(exact.check_start[i + 1]))
    assert int(moments[moments % 1_000_000 != 0][0]) % 1_000_000 == 123_456
    # every other moment is the same as in seconds
    before = m.check_us_of(int(m.check_start[i]), int(m.check_start[i + 1]))
    assert sorted(set(moments.tolist()) - set(before.tolist())) == [
        int(moments[moments % 1_000_000 != 0][0])
    ]
    assert _figures(copy, exact) == _figures(copy, _fresh(copy))


def _key(path) -> str:
    """Return the key the history of every event type of the database at path is kept under."""
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        return stored.data_version(cur, path, tuple(warm.db_event_types(cur)))
    finally:
        con.close()


def _fresh(path, half_life: float = 30.0) -> lab.Materialised:
    """Return a history materialised afresh (nothing read from a kept folder)."""
    con = db.connect(path, read_only=True)
    try:
        cur = con.cursor()
        return lab.materialise(cur, half_life, tuple(warm.db_event_types(cur)))
    finally:
        con.close()


# ===== what a crashed writer leaves =====


def _dead_pid() -> int:
    """Return the pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _left(folder, pid: int, age_s: float = 0.0):
    """Return a folder as a writer with this pid leaves it half-written, last modified age_s ago."""
    where = folder / f"{stored.WRITING}{pid}-{uuid.uuid4().hex}"
    where.mkdir(parents=True)
    (where / "check_at.npy").write_bytes(b"\x93NUMPY half")
    then = time.time() - age_s
    os.utime(where, (then, then))
    return where


def test_a_crashed_writers_folders_go_on_the_next_write_and_old_ones_on_open(copy):
    folder = stored.folder_of(copy)
    dead = _left(folder, _dead_pid())
    alive = _left(folder, os.getpid())  # a write in progress in a running process: left alone
    first = _kept(copy)  # no history kept yet: an open that writes one
    assert first.source == "written"
    assert not dead.exists() and alive.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted([_key(copy), alive.name])

    # an open (nothing written) removes what is older than LEFT_AFTER_S, whoever its writer
    recent = _left(folder, _dead_pid(), age_s=60)
    old = _left(folder, os.getpid(), age_s=stored.LEFT_AFTER_S + 60)
    assert _kept(copy).source == "read"
    assert not old.exists() and recent.exists() and alive.exists()
    assert _figures(copy, _kept(copy).history) == _figures(copy, first.history)


def test_a_write_stopped_by_any_error_leaves_no_half_written_folder(copy, monkeypatch):
    real_save, saved = np.save, []

    def save_then_fail(file, array, *args, **kwargs):
        saved.append(file)
        if len(saved) == 3:
            raise MemoryError("out of memory while keeping the history")
        return real_save(file, array, *args, **kwargs)

    monkeypatch.setattr(stored.np, "save", save_then_fail)
    with pytest.raises(MemoryError):
        _kept(copy)
    assert len(saved) == 3 and list(stored.folder_of(copy).iterdir()) == []
    monkeypatch.setattr(stored.np, "save", real_save)
    assert _kept(copy).source == "written" and _kept(copy).source == "read"


# ===== what a second start reads without asking the database =====


def test_the_vocabulary_is_kept_read_back_and_rebuilt_once_the_data_changes(copy, monkeypatch):
    con = db.connect(copy, read_only=True)
    cur = con.cursor()
    queried = db.run(cur, "scoring_vocabulary")
    first = stored.kept_vocabulary(cur, copy)
    assert first.equals(queried) and stored.event_types_of(first) == tuple(warm.db_event_types(cur))
    kept = list(stored.folder_of(copy).glob(f"{stored.VOCABULARY}*"))
    assert len(kept) == 1
    real_run = stored.db.run

    def no_vocabulary_query(cur, name, **params):
        assert name != "scoring_vocabulary", "the kept vocabulary was queried again"
        return real_run(cur, name, **params)

    monkeypatch.setattr(stored.db, "run", no_vocabulary_query)
    assert stored.kept_vocabulary(cur, copy).equals(queried)
    monkeypatch.setattr(stored.db, "run", real_run)
    con.close()

    # an import of events of a new type: the kept vocabulary is stale, never read
    con = db.connect(copy)
    lead = con.cursor().sql("select lead_id from leads order by lead_id limit 1").fetchall()[0][0]
    con.cursor().execute(
        "insert into events (lead_id, occurred_at, event_type) values "
        "(?, timestamp '2026-05-01 10:00:00', 'webinar_replay')",
        [lead],
    )
    con.close()
    con = db.connect(copy, read_only=True)
    cur = con.cursor()
    after = stored.kept_vocabulary(cur, copy)
    assert "webinar_replay" in stored.event_types_of(after)
    assert after.equals(db.run(cur, "scoring_vocabulary"))
    con.close()
    # the stale one is gone, the new one kept in its place
    again = list(stored.folder_of(copy).glob(f"{stored.VOCABULARY}*"))
    assert len(again) == 1 and again != kept


def test_the_kept_calendar_is_the_datas_and_maturity_is_judged_now(copy):
    first = _kept(copy).history
    second = _kept(copy)
    assert second.source == "read"
    a, b = first.calendar, second.history.calendar
    assert (a.quarters, a.day0, a.as_of) == (b.quarters, b.day0, b.as_of)
    for name in ("quarter_start_day", "quarter_of_day", "is_mature", "spend"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), name)
    assert a.spend.sum() > 0 and a.is_mature.any() and not a.is_mature.all()
    # data with no as-of moment has its cohorts' maturity judged at the current moment
    parts = {**b.parts, "as_of": None}
    ends = [q.end for q in b.quarters]
    early = quarters.calendar_from(parts, now=dt.datetime.combine(ends[0], dt.time()))
    late = quarters.calendar_from(parts, now=dt.datetime.combine(ends[-1], dt.time()))
    assert early.quarters == late.quarters == b.quarters
    assert early.is_mature.sum() < late.is_mature.sum()
    later = dt.timedelta(days=parts["mature_days"] + 1)
    last_end = dt.datetime.combine(ends[-1], dt.time())
    assert quarters.calendar_from(parts, now=last_end + later).is_mature.all()


def test_populating_the_mapped_arrays_changes_nothing_in_them(copy):
    _kept(copy)
    m = _kept(copy).history
    arrays = [getattr(m, name) for name in stored.SCANNED]
    before = [a.copy() for a in arrays]
    stored.populate([*arrays, np.arange(10), np.empty(0)])
    for got, was in zip(arrays, before):
        np.testing.assert_array_equal(got, was)
