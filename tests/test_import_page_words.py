"""The Data page speaks the page, the command line speaks flags (issue 19, item 5): every import
problem is data (importer.Problem) worded twice, the CLI's words naming the options that fix it
and the page's naming none; common id headers are recognised (Email only as a last resort); a
37-column export with no date column is imported on the page by picking one date, with the
page saying what to do beside the controls; the health example amount is in the database's
currency."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import fixtures as fx
import pytest
from apptest_support import APP, navigation_only, release_streamlit_caches  # noqa: F401
from streamlit.testing.v1 import AppTest
from undated_export import COLUMNS, write_undated_export

from funnelcast import importer
from funnelcast.data import context, db
from funnelcast.data.context import load_context
from funnelcast.importer import messages
from funnelcast.ui import data_page

# any command-line option: --map, --set, --type, --drop, --date-format, --decimal-comma, …
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def names_a_flag(text: str) -> bool:
    """Return whether a text names a command-line option."""
    return FLAG.search(text) is not None


# ===== every kind of problem, both wordings =====

SAMPLE = dict(
    field="created_at",
    column="Created On",
    value="x",
    other="lead_id",
    table="leads",
    fields=("lead_id", "created_at"),
    columns=("Prospect ID", "Created On"),
    row=7,
    rows="2, 9",
    text="when",
)
# the kinds whose command-line words name an option that fixes them
FIXED_BY_AN_OPTION = {
    "no_such_field",
    "no_such_column",
    "mapped_twice",
    "set_and_mapped",
    "format_not_date",
    "required_missing",
    "drop_no_column",
    "type_unknown",
    "type_no_column",
    "type_builtin",
    "type_dropped",
    "type_stored",
    "nameless_column",
    "name_reserved",
    "names_differ_in_case",
    "name_like_stored",
}


@pytest.mark.parametrize("kind", messages.KINDS)
def test_every_kind_of_problem_is_worded_for_the_page_without_a_flag(kind):
    options = ("map", "set", "default", "format") if kind == "no_such_field" else ("",)
    for option in options:
        text = "70" if kind == "name_too_long" else "when"  # the length of a name
        problem = importer.Problem(kind, **{**SAMPLE, "option": option or "map", "text": text})
        page, cli = importer.page_text(problem), importer.cli_text(problem)
        assert page and not names_a_flag(page), page
        assert names_a_flag(cli) == (kind in FIXED_BY_AN_OPTION), cli


def test_a_missing_field_is_worded_with_what_to_do():
    lead = importer.Problem("required_missing", "lead_id", value="text", other="the id")
    date = importer.Problem("required_missing", "created_at", value="timestamp", other="when")
    assert importer.page_text(lead) == (
        "Choose which column holds the lead id, or give every row one value."
    )
    assert importer.page_text(date) == (
        "This file has no creation date: pick one date for every row, or a column."
    )


# ===== real imports: the CLI keeps its flags, the page gets its words =====


def raised(tmp_path: Path, text: str, table: str, **mapping) -> importer.ImportProblems:
    """Return the problems an import of text into a new database raises (leads L1, L2 in it)."""
    database = tmp_path / "words.duckdb"
    if not database.exists():
        con = fx.new_database(database)
        fx.add_journeys(
            con, [fx.Journey("L1", "2026-01-05", "search"), fx.Journey("L2", "2026-01-06", "email")]
        )
        con.close()
    file = tmp_path / f"{table}-{len(list(tmp_path.iterdir()))}.csv"
    file.write_text(text, encoding="utf-8")
    con = db.connect(database)
    try:
        with pytest.raises(importer.ImportProblems) as caught:
            importer.import_file(con.cursor(), file, importer.Mapping(table, **mapping))
    finally:
        con.close()
    return caught.value


def both(exc: importer.ImportProblems) -> list[tuple[str, str]]:
    """Return each problem's (command-line, page) words."""
    assert exc.problems == [importer.cli_text(p) for p in exc.details]
    return list(zip(exc.problems, data_page.problem_lines(exc)))


def test_mapping_problems_name_flags_on_the_cli_and_controls_on_the_page(tmp_path):
    exc = raised(
        tmp_path,
        "id,created,channel\nL9,2026-01-01,search\n",
        "leads",
        columns={"origin": "lead_id", "created": "colour"},
        formats={"channel": "%d"},
    )
    assert both(exc) == [
        (
            "--map origin=lead_id: the file has no column 'origin' (its columns: 'id', "
            "'created', 'channel')",
            "The mapping reads lead_id from the column 'origin', which this file lacks: choose "
            "the column that holds the lead id.",
        ),
        (
            "--map created=colour: leads has no field 'colour' (its fields: lead_id, "
            "created_at, channel, campaign, company, industry, company_size, country, region, "
            "job_title, seniority)",
            "The column given for 'colour' has nowhere to go: leads has no field 'colour'.",
        ),
        (
            "--date-format channel=%d: channel is not a date",
            "channel is not a date: it takes no date format.",
        ),
        (
            "required field lead_id (the lead's unique id in the CRM) is missing: the file has "
            "no column 'lead_id'; map one with --map COLUMN=lead_id or give every row a value "
            "with --set lead_id=VALUE (its columns: 'id', 'created', 'channel')",
            "Choose which column holds the lead id, or give every row one value.",
        ),
        (
            "required field created_at (when the lead was created (UTC)) is missing: the file "
            "has no column 'created_at'; map one with --map COLUMN=created_at or give every row "
            "a value with --set created_at=VALUE (its columns: 'id', 'created', 'channel')",
            "This file has no creation date: pick one date for every row, or a column.",
        ),
    ]


def test_row_problems_keep_their_row_and_column_in_both_wordings(tmp_path):
    leads = raised(
        tmp_path,
        "lead_id,created_at,channel,company_size\n"
        "N1,31/01/2026,search,12\n"
        "N2,2026-01-02,search,1.200,5\n".replace("1.200,5", '"1.200,5"'),
        "leads",
    )
    assert both(leads) == [
        (
            "row 2, column 'created_at': '31/01/2026' is not a date (write it as 2024-01-31 or "
            "2024-01-31 14:05:00, or give its format: --date-format created_at=%d/%m/%Y)",
            "Row 2, column 'created_at': '31/01/2026' is not a date (write it as 2024-01-31 or "
            "2024-01-31 14:05:00, or give its format under 'Date format of created_at')",
        ),
        (
            "row 3, column 'company_size': '1.200,5' is not a whole number (for 1.234,56 use "
            "--decimal-comma)",
            "Row 3, column 'company_size': '1.200,5' is not a whole number (for 1.234,56 tick "
            "'Numbers are written 1.234,56')",
        ),
    ]
    stages = raised(
        tmp_path,
        "Record ID,when\nL1,2026-02-01\nZ9,2026-02-02\n",
        "stage_changes",
        columns={"when": "changed_at"},
        constants={"stage": "won_deal"},
    )
    assert both(stages) == [
        (
            "row 2, --set stage: 'won_deal' is not a stage (stages: mql, sal, sql, customer, "
            "rejected, recycled, disqualified)",
            "Row 2, the value for every row of stage: 'won_deal' is not a stage (stages: mql, "
            "sal, sql, customer, rejected, recycled, disqualified)",
        ),
        (
            "row 3, --set stage: 'won_deal' is not a stage (stages: mql, sal, sql, customer, "
            "rejected, recycled, disqualified)",
            "Row 3, the value for every row of stage: 'won_deal' is not a stage (stages: mql, "
            "sal, sql, customer, rejected, recycled, disqualified)",
        ),
        (
            "row 3, column 'Record ID' (lead_id): no lead 'Z9' in the database (import the "
            "leads first)",
            "Row 3, column 'Record ID' (lead_id): no lead 'Z9' in the database (import the "
            "leads first)",
        ),
    ]


def test_custom_attribute_problems_name_the_other_columns_table_on_the_page(tmp_path):
    exc = raised(
        tmp_path,
        "lead_id,created_at,channel,Visits,Company\nN1,2026-01-01,search,3,Acme\n",
        "leads",
        columns={"Company": "company"},
        types={"Visits": "integer", "channel": "text"},
        drop=("Vists",),
    )
    pairs = both(exc)
    assert [cli for cli, _ in pairs] == [
        "--drop Vists: the file has no column 'Vists' (its columns: 'lead_id', 'created_at', "
        "'channel', 'Visits', 'Company')",
        "--type Visits=integer: not a type; choose number, date, yes/no or text",
        "--type channel=text: 'channel' feeds the built-in field channel; --type is for the "
        "columns kept as custom attributes",
    ]
    assert [page for _, page in pairs] == [
        "The mapping leaves out the column 'Vists', which this file lacks.",
        "'integer' is not a type for 'Visits': choose number, date, yes/no or text.",
        "'channel' feeds the built-in field channel: only the other columns take a type.",
    ]


# ===== recognising the id =====


@pytest.mark.parametrize(
    "header", ["Prospect ID", "Lead ID", "Record ID", "Contact ID", "Id", "ID", "Email"]
)
def test_common_id_headers_are_recognised_in_a_37_column_export(tmp_path, header):
    path = write_undated_export(tmp_path, leads=50, id_header=header)
    columns = list(data_page.file_header(path).columns)
    assert len(columns) == COLUMNS and "Lead Number" in columns
    assert importer.suggest_mapping("leads", columns)["lead_id"] == header
    # and an import with no mapping at all finds it too, with the one date it lacks
    database = tmp_path / "ids.duckdb"
    con = db.connect(database, create=True)
    try:
        done = importer.import_file(
            con.cursor(), path, importer.Mapping("leads", constants={"created_at": "2025-03-01"})
        )
        ids = con.execute("select count(distinct lead_id) from leads").fetchall()[0][0]
    finally:
        con.close()
    assert (done.inserted, ids) == (50, 50)
    assert (header, "lead_id") in done.recognised or header.lower().replace(" ", "_") == "lead_id"


def test_an_email_is_the_id_only_when_the_file_has_no_other():
    for table in ("leads", "stage_changes", "events"):
        assert importer.suggest_mapping(table, ["Email", "Contact ID"])["lead_id"] == "Contact ID"
        assert importer.suggest_mapping(table, ["Email", "Id"])["lead_id"] == "Id"
        assert importer.suggest_mapping(table, ["Email", "Name"])["lead_id"] == "Email"


def test_the_page_says_what_it_recognised_and_what_the_file_lacks(tmp_path):
    path = write_undated_export(tmp_path, leads=20)
    columns = list(data_page.file_header(path).columns)
    choices = data_page.initial_choices("leads", columns)
    pairs = data_page.recognised("leads", columns, choices)
    assert pairs == [
        ("Prospect ID", "lead_id"),
        ("Lead Source", "channel"),
        ("Country", "country"),
    ]
    assert data_page.recognised_text(pairs) == (
        "Recognised from the headers: 'Prospect ID' as the lead id, 'Lead Source' as the "
        "channel, 'Country' as the country. Change any of them below."
    )
    mapping = data_page.mapping_from_choices("leads", choices, {})
    assert data_page.field_notes(mapping, columns) == {
        "created_at": "This file has no creation date: pick one date for every row, or a column."
    }
    # a date picked for a field no column feeds is its one value for every row
    dated = data_page.mapping_from_choices("leads", choices, {"created_at": "2025-03-01"})
    assert dated.constants == {"created_at": "2025-03-01"}
    assert data_page.field_notes(dated, columns) == {}
    choices["company"] = "Lead Source"
    assert data_page.mapping_problems(dated, columns, choices) == [
        "The column 'Lead Source' is chosen for channel and company: a column feeds one field."
    ]


# ===== the page itself =====


def page_texts(at: AppTest) -> list[str]:
    """Return every text the page shows in its messages, captions, markdown and labels."""
    texts = [
        e.value
        for kind in ("error", "warning", "info", "success", "caption", "markdown")
        for e in getattr(at, kind)
    ]
    texts += [
        w.label
        for kind in ("selectbox", "text_input", "date_input", "button", "checkbox")
        for w in getattr(at, kind)
    ]
    texts += [w.help or "" for kind in ("selectbox", "text_input") for w in getattr(at, kind)]
    return [str(t) for t in texts]


def test_the_data_page_imports_an_undated_export_by_picking_one_date(tmp_path, monkeypatch):
    database = tmp_path / "empty.duckdb"
    db.connect(database, create=True).close()
    # an id header the page must recognise, and a file with no date column
    path = write_undated_export(tmp_path, leads=400, id_header="Contact ID")
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_upload").set_value(
        ("leads-export.csv", path.read_bytes(), "text/csv")
    ).run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "This file has no creation date: pick one date for every row, or a column."
    ]
    assert not at.error
    assert any(
        i.value.startswith("Recognised from the headers: 'Contact ID' as the lead id")
        for i in at.info
    )
    shown = page_texts(at)
    assert not [t for t in shown if names_a_flag(t)], [t for t in shown if names_a_flag(t)]
    assert not [b for b in at.button if b.key == "data_import"]  # nothing to import yet
    prefix = "data_map_leads_Suggested from the headers_"
    assert [s.value for s in at.selectbox if s.key.startswith(prefix)][:3] == [
        "Contact ID",
        data_page.NOT_MAPPED,
        "Lead Source",
    ]

    (date,) = at.date_input
    assert date.label == "One date for every row (created_at)" and date.value is None
    date.set_value(dt.date(2025, 3, 1)).run()
    assert not at.warning and not at.error and not at.exception
    at.button(key="data_import").click().run()
    assert not at.exception and not at.error
    shown = page_texts(at)
    assert not [t for t in shown if names_a_flag(t)], [t for t in shown if names_a_flag(t)]
    assert any(
        "imported leads-export.csv into leads: 400 rows read, 400 new" in s.value
        for s in at.success
    )
    con = db.connect(database, read_only=True)
    try:
        stored = con.execute(
            "select count(*), count(distinct lead_id), min(created_at), max(created_at) from leads"
        ).fetchall()
    finally:
        con.close()
    assert stored == [(400, 400, dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 1))]


def test_the_page_words_an_unrecognised_id_beside_its_control(tmp_path, monkeypatch):
    database = tmp_path / "empty.duckdb"
    db.connect(database, create=True).close()
    path = write_undated_export(tmp_path, leads=30, id_header="Ref")
    monkeypatch.setenv("FUNNELCAST_DB", str(database))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="data_upload").set_value(
        ("leads-export.csv", path.read_bytes(), "text/csv")
    ).run()
    assert [w.value for w in at.warning] == [
        "Choose which column holds the lead id, or give every row one value.",
        "This file has no creation date: pick one date for every row, or a column.",
    ]
    assert not at.error and not [t for t in page_texts(at) if names_a_flag(t)]
    lead = next(s for s in at.selectbox if s.key and s.key.endswith("_lead_id"))
    assert lead.value == data_page.NOT_MAPPED
    lead.set_value("Ref").run()
    assert [w.value for w in at.warning] == [
        "This file has no creation date: pick one date for every row, or a column."
    ]


# ===== the currency leftover =====


def test_the_health_example_amount_is_in_the_database_currency(tmp_path):
    con = fx.new_database(tmp_path / "eur.duckdb")
    fx.add_journeys(
        con,
        [
            fx.Journey(
                k,
                "2026-01-01",
                "social",
                stages=[("mql", "2026-01-02"), ("customer", "2026-01-09", amount)],
            )
            for k, amount in (("D", 100), ("E", 20000.5), ("G", 100))
        ],
    )
    context.set_currency(con.cursor(), "EUR")
    cur = con.cursor()
    notes = [n.text for n in data_page.health(cur, load_context(cur))]
    con.close()
    assert (
        "1 customer amount over 100 times the median: one such deal can dominate revenue and "
        "ROI (e.g. E: €20,000.50)"
    ) in notes
