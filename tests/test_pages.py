"""The dashboard run with Streamlit's AppTest: what the Overview shows equals what
`funnelcast metrics --format json` prints, for the default and for chosen scopes, and odd
databases (missing, empty, without spend, not a database) get a message, not a traceback."""

from __future__ import annotations

from pathlib import Path

import fixtures as fx
import pytest
from apptest_support import navigation_only, release_streamlit_caches, run_app  # noqa: F401
from cli_support import cli_json
from streamlit.testing.v1 import AppTest

from funnelcast.analytics import countings, overview
from funnelcast.core import formats
from funnelcast.core.currency import Currency
from funnelcast.data import db
from funnelcast.data.context import load_context

KPI_LABELS = {key: (label, kind) for key, label, kind, *_ in overview.KPI_SPECS}


def cli_metrics(capsys: pytest.CaptureFixture, database: Path, *args: str) -> dict:
    """Return what `funnelcast metrics --format json` prints for the database and options."""
    return cli_json(capsys, "metrics", "--db", database, *args)


def shown_metrics(at: AppTest) -> dict[str, object]:
    """Return the page's st.metric elements by label."""
    return {metric.label: metric for metric in at.metric}


def assert_kpis_match(at: AppTest, expected: dict) -> None:
    """Assert every KPI on the page shows the CLI's figure, counts compared as integers."""
    shown = shown_metrics(at)
    names = countings.overview_labels(expected["scope"]["quarter"])
    labels = {key: (names.get(key, label), kind) for key, (label, kind) in KPI_LABELS.items()}
    assert set(shown) == {label for label, _ in labels.values()}
    for key, (label, kind) in labels.items():
        currency = Currency(expected["currency"])
        assert shown[label].value == formats.by_kind(expected[key], kind, currency), key
        if kind == "count":
            assert int(shown[label].value.replace(",", "")) == expected[key], key


def captions(at: AppTest) -> str:
    """Return the text of every caption on the page, one per line."""
    return "\n".join(caption.value for caption in at.caption)


def test_overview_runs_and_opens_on_the_last_complete_quarter(monkeypatch, demo_db):
    at = run_app(monkeypatch, demo_db)

    assert not at.exception
    assert not at.error
    con = db.connect(demo_db, read_only=True)
    try:
        ctx = load_context(con.cursor())
    finally:
        con.close()
    # The demo runs through 2026-09-30: its last quarter is complete.
    assert at.selectbox(key="quarter").value == overview.default_quarter(ctx) == "2026Q3"
    assert at.selectbox(key="channel").value == "All channels"
    assert at.title[0].value == "Overview"


def test_kpis_equal_the_cli_for_the_default_quarter(monkeypatch, capsys, demo_db):
    at = run_app(monkeypatch, demo_db)
    expected = cli_metrics(capsys, demo_db, "--quarter", "2026Q3")

    assert_kpis_match(at, expected)


def test_rates_show_their_n_and_interval(monkeypatch, capsys, demo_db):
    at = run_app(monkeypatch, demo_db)
    rates = cli_metrics(capsys, demo_db, "--quarter", "2026Q3")["rates"]

    text = captions(at)
    for key in ("mql_to_sql", "sql_to_customer"):
        rate = rates[key]
        assert f"n = {rate['n']:,} · 95% CI {formats.interval(rate['low'], rate['high'])}" in text


def test_changes_are_against_the_previous_quarter(monkeypatch, capsys, demo_db):
    at = run_app(monkeypatch, demo_db)
    current = cli_metrics(capsys, demo_db, "--quarter", "2026Q3")
    previous = cli_metrics(capsys, demo_db, "--quarter", "2026Q2")

    shown = shown_metrics(at)
    for key in ("leads", "mqls", "customers"):
        label = countings.overview_labels("2026Q3").get(key, KPI_LABELS[key][0])
        assert shown[label].delta.startswith(f"{current[key] - previous[key]:+,}"), key


@pytest.mark.parametrize(
    ("quarter", "channel", "cli_args"),
    [
        ("2025Q2", "All channels", ["--quarter", "2025Q2"]),
        ("2025Q2", "search", ["--quarter", "2025Q2", "--channel", "search"]),
        ("2026Q3", "email", ["--quarter", "2026Q3", "--channel", "email"]),
        ("All history", "events", ["--channel", "events"]),
    ],
)
def test_choosing_quarter_and_channel_shows_the_cli_figures(
    monkeypatch, capsys, demo_db, quarter, channel, cli_args
):
    at = run_app(monkeypatch, demo_db)

    at.selectbox(key="quarter").set_value(quarter).run()
    at.selectbox(key="channel").set_value(channel).run()

    assert not at.exception
    assert_kpis_match(at, cli_metrics(capsys, demo_db, *cli_args))
    # The choices are kept by key across reruns (and so across pages).
    at.run()
    assert at.selectbox(key="quarter").value == quarter
    assert at.selectbox(key="channel").value == channel


def test_a_maturing_cohort_is_flagged_and_a_mature_one_is_not(monkeypatch, demo_db):
    at = run_app(monkeypatch, demo_db)
    assert any("will still rise" in warning.value for warning in at.warning)

    at.selectbox(key="quarter").set_value("2025Q2").run()
    assert not any("will still rise" in warning.value for warning in at.warning)


def test_the_definition_behind_the_mqls_is_stated(monkeypatch, capsys, demo_db):
    at = run_app(monkeypatch, demo_db)
    definition = cli_metrics(capsys, demo_db, "--quarter", "2026Q3")["scope"]["definition"]

    assert f"MQLs as recorded by the CRM under definition **{definition['name']}**" in captions(at)


def test_first_start_without_a_database_builds_the_demo_and_says_so(monkeypatch, tmp_path):
    database = tmp_path / "data" / "funnelcast.duckdb"

    at = run_app(monkeypatch, database)

    assert not at.exception
    assert database.exists()
    assert any("built a demo database" in info.value for info in at.info)
    assert shown_metrics(at)["Leads"].value != formats.DASH


def test_an_empty_database_says_what_to_load(monkeypatch, tmp_path):
    database = tmp_path / "empty.duckdb"
    db.connect(database, create=True).close()

    at = run_app(monkeypatch, database)

    assert not at.exception
    assert not at.metric
    assert any("no leads loaded" in info.value for info in at.info)
    text = captions(at)
    assert "no stage changes loaded" in text
    assert "no spend loaded" in text


def test_without_spend_the_page_says_so_and_shows_the_rest(monkeypatch, tmp_path, demo_db):
    database = fx.copy_without_spend(demo_db, tmp_path / "no_spend.duckdb")

    at = run_app(monkeypatch, database)

    assert not at.exception
    assert any(
        "no spend loaded: cost and ROI need a spend export" in info.value for info in at.info
    )
    shown = shown_metrics(at)
    assert shown["MQLs in 2026Q3"].value not in ("0", formats.DASH)
    assert shown["Cost per MQL"].value == formats.DASH
    assert shown["ROI"].value == formats.DASH
    assert len(at.get("plotly_chart")) == 2  # the funnel and the volume; no cost or ROI chart


@pytest.mark.parametrize(
    "content", [b"this is not a database", None], ids=["not-duckdb", "duckdb-without-schema"]
)
def test_an_unusable_database_gets_a_message_not_a_traceback(monkeypatch, tmp_path, content):
    database = tmp_path / "other.duckdb"
    if content is None:
        import duckdb

        con = db.open_duckdb(database)
        con.execute("create table something_else (x integer)")
        con.close()
    else:
        database.write_bytes(content)

    at = run_app(monkeypatch, database)

    assert not at.exception
    assert at.error and "Cannot use the database" in at.error[0].value
