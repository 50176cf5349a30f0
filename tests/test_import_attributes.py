"""Every column of a leads file kept: the importer stores each column no built-in field takes as
a typed custom attribute (number, date, yes/no, text, inferred from the whole column), lists
them with their type and empty count (--dry-run too), updates them on a re-import, takes
--type and --drop (and the same in a mapping file), names collisions and bad options without
writing anything, and keeps hostile names exactly, as bound values. Other tables' files name
the columns they do not load.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from test_import import checksum, csv, db_file, load, refused, rows  # noqa: F401

from funnelcast import importer
from funnelcast.cli import main

LEADS = """
    lead_id,created_at,channel,Visits,Newsletter,Last visit,Job function,Score note,Empty col
    N1,2026-01-05,search,3,Yes,2026-01-20,Marketing,12,
    N2,2026-02-01,social,0,no,2026-02-11 10:30:00,Select,high,
    N3,2026-03-01,email,,TRUE,,Sales,7,
    N4,2026-03-02,email,12.5,false,2026-03-05,  Finance  ,-,
"""


def attributes(path: Path) -> dict[tuple[str, str], tuple]:
    """Return (lead, attribute) -> (text_value, number_value) as stored."""
    found = rows(path, "select lead_id, attribute, text_value, number_value from lead_attributes")
    return {(lead, name): (text, number) for lead, name, text, number in found}


def types(path: Path) -> dict[str, str]:
    return dict(rows(path, "select attribute, value_type from lead_attribute_types"))


def epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_every_other_column_is_kept_typed_from_the_whole_column(db_file, tmp_path):
    result = load(db_file, csv(tmp_path, LEADS), "leads")
    assert result.inserted == 4
    assert types(db_file) == {
        "Visits": "number",
        "Newsletter": "yes/no",
        "Last visit": "date",
        "Job function": "text",
        "Score note": "text",  # 'high' is no number: the column is text
    }
    stored = attributes(db_file)
    assert stored[("N1", "Visits")] == (None, 3.0)
    assert stored[("N4", "Visits")] == (None, 12.5)
    assert ("N3", "Visits") not in stored  # empty: unknown, no row
    assert [stored[(lead, "Newsletter")] for lead in ("N1", "N2", "N3", "N4")] == [
        (None, 1.0),
        (None, 0.0),
        (None, 1.0),
        (None, 0.0),
    ]
    assert stored[("N1", "Last visit")] == (None, epoch("2026-01-20"))
    assert stored[("N2", "Last visit")] == (None, epoch("2026-02-11 10:30:00"))
    assert stored[("N4", "Job function")] == ("Finance", None)  # trimmed
    assert ("N2", "Job function") not in stored  # "Select" is a placeholder
    assert ("N4", "Score note") not in stored  # "-" too
    assert stored[("N2", "Score note")] == ("high", None)
    assert len(stored) == 3 + 4 + 3 + 3 + 3  # Visits, Newsletter, Last visit, Job, Score note
    summary = result.summary()
    assert "kept 5 other columns as custom attributes:" in summary
    assert "  Visits: number, 1 empty" in summary
    assert "  Newsletter: yes/no, 0 empty" in summary
    assert "  Job function: text, 1 empty" in summary
    assert "not kept, empty in every row: 'Empty col'" in summary


def test_a_dry_run_lists_them_and_writes_nothing(db_file, tmp_path):
    before = checksum(db_file)
    result = load(db_file, csv(tmp_path, LEADS), "leads", dry_run=True)
    assert checksum(db_file) == before
    assert "would keep 5 other columns as custom attributes:" in result.summary()
    assert [(a.name, a.value_type, a.empty) for a in result.attributes if a.how != "empty"] == [
        ("Visits", "number", 1),
        ("Newsletter", "yes/no", 0),
        ("Last visit", "date", 1),
        ("Job function", "text", 1),
        ("Score note", "text", 1),
    ]


def test_a_later_import_of_the_same_leads_updates_them(db_file, tmp_path):
    load(db_file, csv(tmp_path, LEADS), "leads")
    again = """
        lead_id,created_at,channel,Visits,Job function
        N1,2026-01-05,search,9,
        N2,2026-02-01,social,1,Sales
    """
    result = load(db_file, csv(tmp_path, again, "again.csv"), "leads")
    assert result.unchanged == 2
    stored = attributes(db_file)
    assert stored[("N1", "Visits")] == (None, 9.0)
    assert ("N1", "Job function") not in stored  # emptied: unknown now
    assert stored[("N2", "Job function")] == ("Sales", None)
    assert stored[("N4", "Visits")] == (None, 12.5)  # leads not in the file keep theirs
    assert stored[("N1", "Newsletter")] == (None, 1.0)  # attributes not in the file too
    # importing the same file twice changes nothing
    before = checksum(db_file)
    load(db_file, csv(tmp_path, again, "again.csv"), "leads")
    assert checksum(db_file) == before


def test_an_attribute_keeps_its_stored_type_and_counts_values_that_do_not_read(db_file, tmp_path):
    load(db_file, csv(tmp_path, LEADS), "leads")
    later = """
        lead_id,created_at,channel,Visits
        N1,2026-01-05,search,many
        N2,2026-02-01,social,4
    """
    result = load(db_file, csv(tmp_path, later, "later.csv"), "leads")
    (visits,) = result.attributes
    assert (visits.value_type, visits.how, visits.unread, visits.example) == (
        "number",
        "stored",
        1,
        "many",
    )
    assert "Visits: number, as stored, 0 empty, 1 not read as number (e.g. 'many')" in (
        result.summary()
    )
    assert attributes(db_file)[("N2", "Visits")] == (None, 4.0)
    assert ("N1", "Visits") not in attributes(db_file)


def test_type_and_drop_pin_a_type_and_leave_a_column_out(db_file, tmp_path):
    result = load(
        db_file,
        csv(tmp_path, LEADS),
        "leads",
        types={"Visits": "text", "score note": "number"},
        drop=("Last visit", "Empty col"),
    )
    assert types(db_file) == {
        "Visits": "text",
        "Newsletter": "yes/no",
        "Job function": "text",
        "Score note": "number",
    }
    assert attributes(db_file)[("N4", "Visits")] == ("12.5", None)
    note = next(a for a in result.attributes if a.name == "Score note")
    assert (note.how, note.unread) == ("pinned", 1)  # 'high' is no number


def test_the_cli_takes_type_and_drop_and_a_mapping_file_keeps_them(db_file, tmp_path, capsys):
    file = csv(tmp_path, LEADS)
    code = main(
        [
            "import",
            "--db",
            str(db_file),
            "--table",
            "leads",
            str(file),
            "--type",
            "Visits=text",
            "--drop",
            "Empty col",
            "--drop",
            "Score note",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "  Visits: text, set by --type, 1 empty" in out
    assert "Score note" not in out and "Empty col" not in out
    mapping = importer.Mapping("leads", types={"Visits": "yes/no"}, drop=("A", "B c"))
    assert importer.mapping_from_toml(importer.mapping_to_toml(mapping)) == mapping


@pytest.mark.parametrize(
    ("header", "row", "expected", "options"),
    [
        (
            "lead_id,created_at,channel,Region,Country",
            "L9,2026-01-01,search,emea,DE",
            "column 'Country' is not mapped, and a custom attribute cannot take the name of the "
            "built-in field country (country comes from 'Region')",
            {"columns": {"Region": "country"}},
        ),
        (
            "lead_id,created_at,channel,Lead Score,lead_score",
            "L9,2026-01-01,search,1,2",
            "columns 'Lead Score' and 'lead_score' differ only in case or spaces",
            {},
        ),
        (
            "lead_id,created_at,channel,Visits",
            "L9,2026-01-01,search,1",
            "--drop Vists: the file has no column 'Vists'",
            {"drop": ("Vists",)},
        ),
        (
            "lead_id,created_at,channel,Visits",
            "L9,2026-01-01,search,1",
            "--type Visits=integer: not a type; choose number, date, yes/no or text",
            {"types": {"Visits": "integer"}},
        ),
        (
            "lead_id,created_at,channel,Visits",
            "L9,2026-01-01,search,1",
            "--type channel=text: 'channel' feeds the built-in field channel",
            {"types": {"channel": "text"}},
        ),
        (
            "lead_id,created_at,channel," + "x" * 10_000,
            "L9,2026-01-01,search,1",
            "has a name of 10,000 characters; a custom attribute's name has at most 255",
            {},
        ),
    ],
    ids=["builtin name", "case and spaces", "drop unknown", "bad type", "type a builtin", "long"],
)
def test_bad_names_and_options_are_refused_and_nothing_is_written(
    db_file, tmp_path, header, row, expected, options
):
    file = csv(tmp_path, f"{header}\n{row}\n")
    refused(db_file, file, "leads", expected, **options)


def test_a_name_differing_from_a_stored_attribute_only_in_case_is_refused(db_file, tmp_path):
    load(
        db_file,
        csv(tmp_path, "lead_id,created_at,channel,TotalVisits\nL9,2026-01-01,x,5\n"),
        "leads",
    )
    file = csv(tmp_path, "lead_id,created_at,channel,total visits\nL9,2026-01-01,x,2\n", "b.csv")
    refused(
        db_file,
        file,
        "leads",
        "column 'total visits' differs only in case or spaces from the custom attribute "
        "'TotalVisits' already stored",
    )
    # and a stored attribute's type is not changed by --type
    file = csv(tmp_path, "lead_id,created_at,channel,TotalVisits\nL9,2026-01-01,x,2\n", "c.csv")
    refused(
        db_file,
        file,
        "leads",
        "--type TotalVisits=text: the custom attribute 'TotalVisits' is stored as number",
        types={"TotalVisits": "text"},
    )


HOSTILE = [
    "Robert'); drop table leads; --",
    'quote " inside',
    "semi;colon",
    "naïve — ünïcödé 🚀",
    "$placeholders",
]


def test_hostile_column_names_are_kept_exactly_and_run_nothing(db_file, tmp_path):
    header = "lead_id,created_at,channel," + ",".join(
        '"' + name.replace('"', '""') + '"' for name in HOSTILE
    )
    values = ["'; delete from leads; --", "1", "x", "y", "z"]
    file = csv(tmp_path, header + "\nL9,2026-01-01,search," + ",".join(values) + "\n")
    load(db_file, file, "leads")
    assert set(types(db_file)) == set(HOSTILE)
    assert attributes(db_file)[("L9", HOSTILE[0])] == ("'; delete from leads; --", None)
    assert rows(db_file, "select count(*) from leads") == [(4,)]  # the 3 there and L9


def test_another_tables_file_names_the_columns_it_does_not_load(db_file, tmp_path):
    file = csv(
        tmp_path,
        """
        lead_id,event_type,occurred_at,Browser,Campaign note
        L1,email_click,2026-01-07,firefox,x
    """,
    )
    result = load(db_file, file, "events")
    assert result.inserted == 1
    assert result.not_loaded == ("Browser", "Campaign note")
    assert "not loaded (2 columns no events field takes): 'Browser', 'Campaign note'" in (
        result.summary()
    )


def test_the_data_pages_table_of_other_columns_becomes_type_and_drop(db_file, tmp_path):
    import polars as pl

    from funnelcast.data import db
    from funnelcast.ui import data_page

    file = csv(tmp_path, LEADS)
    con = db.connect(db_file, read_only=True)
    try:
        kept = importer.preview_attributes(con.cursor(), file, importer.Mapping("leads"))
    finally:
        con.close()
    frame = data_page.attributes_frame(kept)
    assert frame.select("Keep", "Column", "Type", "Found by", "Empty rows").rows() == [
        (True, "Visits", "number", "its values", 1),
        (True, "Newsletter", "yes/no", "its values", 0),
        (True, "Last visit", "date", "its values", 1),
        (True, "Job function", "text", "its values", 1),
        (True, "Score note", "text", "its values", 1),
        (False, "Empty col", "text", "empty in every row", 4),
    ]
    # the user unticks Score note and reads Visits as text: the mapping says so
    edited = frame.with_columns(
        pl.when(pl.col("Column") == "Score note")
        .then(False)
        .otherwise(pl.col("Keep"))
        .alias("Keep"),
        pl.when(pl.col("Column") == "Visits")
        .then(pl.lit("text"))
        .otherwise(pl.col("Type"))
        .alias("Type"),
    )
    types, drop = data_page.attribute_choices(edited, kept)
    assert (types, drop) == ({"Visits": "text"}, ("Score note",))
    assert data_page.attribute_choices(edited.to_pandas(), kept) == (types, drop)
    # and nothing was written by the preview
    assert rows(db_file, "select count(*) from lead_attributes") == [(0,)]


def test_a_column_is_a_date_only_if_every_row_is_past_the_first_thousand(db_file, tmp_path):
    """The profile casts to a time only the columns whose first 1,000 rows may be dates: a
    text past row 1,000 still makes the column text, one in the first rows spares the casts,
    and a column of dates in every row stays a date."""
    lines = ["lead_id,created_at,channel,Late text,Early text,All dates,Numbers then dates"]
    for i in range(1500):
        day = f"2026-01-{1 + i % 28:02d}"
        late = "soon" if i == 1400 else day
        early = "soon" if i == 3 else day
        mixed = str(i) if i < 1200 else day  # numbers are no dates: text
        lines.append(f"D{i},2026-01-01,search,{late},{early},{day},{mixed}")
    path = tmp_path / "dates.csv"
    path.write_text("\n".join(lines) + "\n")
    result = load(db_file, path, "leads")
    assert result.inserted == 1500
    assert types(db_file) == {
        "Late text": "text",
        "Early text": "text",
        "All dates": "date",
        "Numbers then dates": "text",
    }
    stored = attributes(db_file)
    assert stored[("D1400", "Late text")] == ("soon", None)
    assert stored[("D5", "All dates")] == (None, epoch("2026-01-06"))


def test_an_infinite_date_makes_the_column_text_and_keeps_every_value(db_file, tmp_path):
    """'infinity' reads as a time but has no epoch: a column holding it is inferred text (an
    inferred type reads every value, so nothing is left out unseen); pinned as a date, the
    value is counted as not read."""
    text = """
        lead_id,created_at,channel,Renewal
        I1,2026-01-05,search,2026-03-01
        I2,2026-01-06,search,infinity
        I3,2026-01-07,search,2026-04-01
    """
    result = load(db_file, csv(tmp_path, text), "leads")
    assert types(db_file) == {"Renewal": "text"}
    assert attributes(db_file)[("I2", "Renewal")] == ("infinity", None)
    assert len(attributes(db_file)) == 3
    assert "  Renewal: text, 0 empty" in result.summary()
