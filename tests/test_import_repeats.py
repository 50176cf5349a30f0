"""The count of an events file's rows that repeat another row exactly (importer/_repeats.py):
the compiled two-bitmap count against the plain answer (rows less distinct values), with slots
so few that most rows collide, and through DuckDB against count(distinct hash(...))."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcast.data import db
from funnelcast.importer import _repeats


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=300),
    st.lists(st.integers(0, 299), max_size=100),
    st.sampled_from([6, 8, 30]),
)
def test_count_repeats_is_rows_less_distinct(values, copies, bits):
    hashes = list(values)
    hashes += [values[i % len(values)] for i in copies] if values else []
    array = np.array(hashes, dtype=np.uint64)
    assert _repeats.count_repeats(array, bits) == len(hashes) - len(set(hashes))


def test_every_row_in_one_slot_still_counts_exactly():
    # 6 bits: 64 slots for 5,000 rows, so every slot is shared and every row goes the exact way
    rng = np.random.default_rng(3)
    array = rng.integers(0, 2**63, size=5_000, dtype=np.uint64)
    array[4_000:] = array[:1_000]  # 1,000 rows repeat one
    array[4_990:] = array[0]  # and ten of them the first row, a third time and more
    assert _repeats.count_repeats(array, 6) == 5_000 - len(set(array.tolist()))
    assert _repeats.count_repeats(array, 6) == 1_000


def test_repeated_rows_matches_sql_on_a_table(tmp_path):
    con = db.open_duckdb(str(tmp_path / "r.duckdb"))
    con.execute(
        "create table import_typed as select 'L' || (i % 5000) as lead_id, "
        "timestamp '2026-01-01' + to_seconds(i % 15000) as occurred_at, "
        "case when i % 3 = 0 then 'visit' else 'open' end as event_type "
        "from range(60000) t(i)"
    )
    names = ["lead_id", "occurred_at", "event_type"]
    want = con.execute(
        "select count(*) - count(distinct hash(lead_id, occurred_at, event_type)) from import_typed"
    ).fetchall()[0][0]
    assert want == 45_000  # every row four times: rows i, i + 15,000, i + 30,000, i + 45,000
    assert _repeats.repeated_rows(con, "import_typed", names, 60_000) == want
