"""The count of an events file's rows that repeat another row exactly, and the fingerprint,
both read from the row hash the staging pass stores (_h): against the answer counted in
Python from the file's rows, on the fast path and on the full one (a padded lead id sends a
file there), and a re-import settled by that fingerprint without matching a row."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funnelcast import importer
from funnelcast.data import db
from funnelcast.importer import sql as importer_sql

LEADS = ("L1", "L2", "L3")
ROW = st.tuples(
    st.sampled_from(LEADS),
    st.sampled_from(["2026-02-05", "2026-02-05 10:30:00", "2026-03-01"]),
    st.sampled_from(["webinar", "email_open"]),
)


def database(path) -> str:
    con = db.connect(path, create=True)
    con.execute(
        "insert into leads (lead_id, created_at, channel) "
        "select unnest($ids), timestamp '2026-01-01', 'search'",
        {"ids": list(LEADS)},
    )
    con.close()
    return str(path)


def write_csv(path, rows, *, padded: bool) -> None:
    lines = ["lead_id,occurred_at,event_type"]
    for i, (lead, when, kind) in enumerate(rows):
        lead = f" {lead} " if padded and i == 0 else lead  # a padded id: the full path
        lines.append(f"{lead},{when},{kind}")
    path.write_text("\n".join(lines) + "\n")


def import_events(path, csv):
    con = db.connect(path)
    try:
        return importer.import_file(
            con.cursor(), csv, importer.Mapping("events"), now=dt.datetime(2030, 1, 1)
        )
    finally:
        con.close()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ROW, min_size=1, max_size=40), st.booleans())
def test_repeated_rows_are_rows_less_distinct_rows(tmp_path_factory, rows, padded):
    work = tmp_path_factory.mktemp("repeats")
    path = database(work / "r.duckdb")
    csv = work / "events.csv"
    write_csv(csv, rows, padded=padded)
    result = import_events(path, csv)
    assert result.inserted == len(rows)
    assert result.repeated == len(rows) - len(set(rows))
    # the same file again: every row found, none added, the repeats counted alike
    again = import_events(path, csv)
    assert (again.inserted, again.unchanged, again.repeated) == (0, len(rows), result.repeated)


@pytest.mark.parametrize("padded", [False, True])
def test_a_reimport_is_settled_by_the_stored_hashes(tmp_path, monkeypatch, padded):
    """The file's fingerprint (the sum of its staged _h) equals the table's (hashes of the
    stored columns): the table holding exactly this file, no row is matched one by one."""
    path = database(tmp_path / "r.duckdb")
    rows = [("L1", "2026-02-05", "webinar")] * 3 + [("L2", "2026-03-01", "email_open")]
    csv = tmp_path / "events.csv"
    write_csv(csv, rows, padded=padded)
    first = import_events(path, csv)
    assert (first.inserted, first.repeated) == (4, 2)

    def no_matching(*args, **kwargs):
        raise AssertionError("rows matched one by one: the fingerprints should have settled it")

    monkeypatch.setattr(importer_sql, "new_events", no_matching)
    again = import_events(path, csv)
    assert (again.inserted, again.unchanged) == (0, 4)


def test_count_repeats_counts_every_copy_beyond_the_first(tmp_path):
    con = db.open_duckdb(str(tmp_path / "r.duckdb"))
    con.execute(
        "create table import_typed as select hash('L' || (i % 5000), i % 15000) as _h "
        "from range(60000) t(i)"
    )
    # every row four times: rows i, i + 15,000, i + 30,000, i + 45,000
    assert con.execute(importer_sql.count_repeats()).fetchall()[0][0] == 45_000
