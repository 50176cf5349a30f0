"""The currency of a database's amounts: how money reads in each currency, the meta setting and
its refusals (nothing stored), setting it from the command line (`funnelcast currency`,
`import --currency`) and the Data page, and a demo database set to EUR showing '€' on every
page that shows money, in every `--format table` report and in the quarterly review."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from apptest_support import navigation_only, release_streamlit_caches, run_app  # noqa: F401
from cli_support import cli_text, run_cli
from streamlit.testing.v1 import AppTest

from funnelcast import cli
from funnelcast.core import currency, formats
from funnelcast.core.currency import USD, Currency
from funnelcast.data import context, db

# ----- how money reads -----


@pytest.mark.parametrize(
    ("code", "value", "text"),
    [
        ("EUR", 400_213.0, "€400.2k"),
        ("USD", 710.0, "$710"),
        ("GBP", -1_250_000.0, "-£1.25M"),
        ("JPY", 9_999.4, "¥9,999"),
        ("CAD", 48_321.0, "CA$48.3k"),
        ("PLN", 1_234.0, "1,234 PLN"),  # no symbol of its own: the code, after the amount
        ("CHF", 12_500.0, "12.5k CHF"),
        ("SEK", -700.0, "-700 SEK"),
    ],
)
def test_money_carries_its_currency(code, value, text):
    assert formats.money(value, Currency(code)) == text


@pytest.mark.parametrize(
    ("code", "value", "text"),
    [
        ("EUR", 9_500.0, "€9,500.00"),
        ("JPY", 1_234_567.4, "¥1,234,567"),  # no minor unit
        ("KWD", 12.5, "12.500 KWD"),  # three decimals
        ("USD", -0.004, "$0.00"),  # no minus on a zero
    ],
)
def test_exact_money_has_the_currencys_decimals(code, value, text):
    assert formats.money(value, Currency(code), exact=True) == text


def test_a_money_figure_without_its_currency_is_a_bug_not_a_guess():
    with pytest.raises(ValueError, match="needs the database's currency"):
        formats.by_kind(10.0, "money")
    with pytest.raises(ValueError, match="needs the database's currency"):
        formats.change(10.0, "money")
    assert formats.by_kind(1_234, "count") == "1,234"  # counts need none


@pytest.mark.parametrize(
    ("value", "text"),
    [(65.0, "65"), (50.0, "50"), (2.5, "2.5"), (1_234.567, "1,234.57"), (-0.001, "0"), (None, "—")],
)
def test_quantities_show_no_spurious_decimals(value, text):
    assert formats.number(value) == text


def test_codes_are_read_in_any_case_and_anything_else_is_refused_by_name():
    assert currency.parse(" eur ") == Currency("EUR")
    assert Currency("PLN").label == "PLN" and Currency("EUR").label == "EUR (€)"
    for bad in ("euro", "€", "XYZ", "", "EURO"):
        with pytest.raises(ValueError) as caught:
            currency.parse(bad)
        assert str(caught.value) == (
            f"unknown currency {bad!r}: give a three-letter ISO 4217 code such as USD, EUR or GBP"
        )
    choices = currency.choices()
    assert choices[:3] == ["USD", "EUR", "GBP"] and len(choices) == len(set(choices))
    assert set(choices) == currency.CODES


# ----- the meta setting -----


@pytest.fixture
def eur_db(demo_db: Path, tmp_path: Path) -> Path:
    """Return a copy of the demo database whose amounts are in EUR."""
    path = tmp_path / "eur.duckdb"
    shutil.copy(demo_db, path)
    assert run_cli("currency", "--db", path, "EUR").returncode == 0
    return path


def meta_currency(path: Path) -> str | None:
    """Return the stored currency setting of a database file."""
    con = db.connect(path, read_only=True)
    try:
        return db.get_meta(con.cursor(), context.CURRENCY_META_KEY)
    finally:
        con.close()


def test_unset_is_usd_and_a_bad_code_stores_nothing(demo_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, path)
    con = db.connect(path)
    try:
        cur = con.cursor()
        assert context.currency_of(cur) == USD
        assert context.load_context(cur).currency == USD
        with pytest.raises(db.FunnelcastError, match="unknown currency 'Euro'"):
            context.set_currency(cur, "Euro")
        assert db.get_meta(cur, "currency") is None
        assert context.set_currency(cur, "gbp") == Currency("GBP")
        assert db.get_meta(cur, "currency") == "GBP"
        assert context.load_context(cur).currency == Currency("GBP")
        # a value written past the checks is named, with the way to fix it
        db.set_meta(cur, "currency", "pounds")
        with pytest.raises(db.FunnelcastError, match="funnelcast currency --db FILE CODE"):
            context.load_context(cur)
    finally:
        con.close()


# ----- the command line -----


def test_the_currency_command_shows_sets_and_refuses(demo_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, path)

    shown = run_cli("currency", "--db", path)
    assert (shown.returncode, shown.stdout) == (0, "USD ($) (not set)\n")
    bad = run_cli("currency", "--db", path, "euro")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "funnelcast currency: argument CODE: unknown currency 'euro': give a three-letter ISO "
        "4217 code such as USD, EUR or GBP (see funnelcast currency --help)"
    ]
    assert meta_currency(path) is None
    done = run_cli("currency", "--db", path, "eur")
    assert done.stdout == f"amounts in {path} are in EUR (€) (was not set: USD)\n"
    assert meta_currency(path) == "EUR"
    assert run_cli("currency", "--db", path).stdout == "EUR (€)\n"


SPEND_CSV = "period_start,channel,campaign,amount\n2026-01-01,search,brand,1200.50\n"


def test_import_sets_the_currency_only_when_the_file_goes_in(tmp_path, capsys):
    path = tmp_path / "new.duckdb"
    good = tmp_path / "spend.csv"
    good.write_text(SPEND_CSV)
    broken = tmp_path / "broken.csv"
    broken.write_text("period_start,channel,campaign,amount\nnot a date,search,brand,-5\n")

    # a bad code is refused before anything is read or created
    refused = run_cli("import", "--db", path, "--table", "spend", good, "--currency", "dollars")
    assert refused.returncode == 2
    assert "argument --currency: unknown currency 'dollars'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not path.exists()

    assert cli.main(["import", "--db", str(path), "--table", "spend", str(good), "--dry-run",
                     "--currency", "EUR"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-1] == "amounts would be in EUR (€)"
    assert not path.exists()  # a dry run writes nothing

    assert cli.main(["import", "--db", str(path), "--table", "spend", str(good),
                     "--currency", "eur"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[-1] == "amounts are in EUR (€)"
    assert meta_currency(path) == "EUR"

    # an import that fails leaves the setting as it was
    assert cli.main(["import", "--db", str(path), "--table", "spend", str(broken),
                     "--currency", "GBP"]) == 2  # fmt: skip
    assert meta_currency(path) == "EUR"


def test_every_table_report_writes_amounts_in_the_currency(eur_db, capsys):
    metrics = cli_text(capsys, "metrics", "--db", eur_db, "--quarter", "2026Q3")
    assert metrics.splitlines()[0].endswith(" · amounts in EUR (€)")
    total = next(line for line in metrics.splitlines() if line.startswith("TOTAL")).split()
    revenue, spend, cost_per_mql = total[7:10]
    assert all(cell.startswith("€") for cell in (revenue, spend, cost_per_mql)), total

    roi = cli_text(capsys, "roi", "--db", eur_db, "--quarter", "2026Q3")
    assert "budget of €" in roi and " · amounts in EUR (€)" in roi.splitlines()[0]
    assert next(line for line in roi.splitlines() if line.startswith("TOTAL")).split()[1][0] == "€"

    plan = cli_text(capsys, "plan", "--db", eur_db)
    budget_80 = next(line for line in plan.splitlines() if line.strip().startswith("80%"))
    assert budget_80.split()[-1].startswith("€"), budget_80

    handoff = cli_text(capsys, "handoff", "--db", eur_db)
    assert "revenue €" in handoff.splitlines()[-1]

    # JSON stays numeric and says the currency once
    capsys.readouterr()
    assert cli.main(["roi", "--db", str(eur_db), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["currency"] == "EUR" and isinstance(out["totals"]["spend"], float)


def test_the_review_writes_every_amount_in_the_currency(eur_db, tmp_path, capsys):
    out = tmp_path / "review.html"
    assert cli.main(["report", "--db", str(eur_db), "--quarter", "2026Q3", "--out", str(out)]) == 0
    html = out.read_text()
    roi = json.loads(cli_text(capsys, "roi", "--db", eur_db, "--quarter", "2026Q3",
                              "--format", "json"))  # fmt: skip
    spend = formats.money(roi["totals"]["spend"], Currency("EUR"))
    assert spend.startswith("€")
    assert f"budget of {spend}" in html  # the scorecard
    assert f'<div class="value">{spend}</div>' in html  # the Spend tile
    assert "amounts in EUR (€)" in html
    assert html.count('"tickprefix":"\\u20ac"') == 2  # attribution, payback
    assert '"ticktext":["\\u20ac' in html  # cost per stage's log axis, labelled tick by tick


# ----- the pages -----


def page_text(at: AppTest) -> str:
    """Return what the main area of a page says: metrics, text, table headings and charts."""
    parts = [f"{m.label} {m.value}" for m in at.metric]
    for kind in ("markdown", "caption", "subheader", "info", "warning", "success"):
        parts += [element.value for element in at.get(kind)]
    parts += [table.proto.columns for table in at.dataframe]
    parts += [chart.proto.spec for chart in at.get("plotly_chart")]
    return "\n".join(parts).replace("\\u20ac", "€")


@pytest.mark.parametrize(
    ("page", "money"),
    [
        ("pages/overview.py", ("Spend", "Revenue", "Cost per MQL")),
        ("pages/roi.py", ("Spend", "Revenue", "Cost per MQL", "Cost per customer")),
        ("pages/handoff.py", ("Their revenue",)),
        ("pages/threshold_lab.py", ("Cost per MQL",)),
        ("pages/planner.py", ("Budget (80%)",)),
    ],
)
def test_every_page_that_shows_money_shows_it_in_euro(monkeypatch, eur_db, page, money):
    at = run_app(monkeypatch, eur_db, timeout=240).switch_page(page).run()

    assert not at.exception and not at.error
    shown = {m.label: m.value for m in at.metric}
    for label in money:
        assert shown[label].startswith(("€", "-€")) or shown[label] == "—", (label, shown[label])
    assert any(shown[label].startswith(("€", "-€")) for label in money)
    text = page_text(at)
    assert "$" not in text  # no amount left in dollars
    if page == "pages/overview.py":
        assert '"tickprefix":"€"' in text  # the cost per MQL axis
        assert "Spend (€)" in text and "Cost/MQL (€)" in text  # the table's headings
    if page == "pages/roi.py":
        assert "this quarter's budget of €" in text  # the scorecard
        assert "Cost/lead (€)" in text and '"tickprefix":"€"' in text
    if page == "pages/planner.py":
        assert "Budget, 80% (€)" in text and "Target revenue (€)" in [
            n.label for n in at.number_input
        ]
        # the stored revenue target, which its input shows as bare digits, read as an amount
        assert re.search(r"^Target revenue: €\d{1,3}(,\d{3})+\.$", text, re.M), text


def test_the_data_page_saves_the_currency_and_every_page_follows(monkeypatch, eur_db):
    at = run_app(monkeypatch, eur_db, timeout=240).switch_page("pages/data.py").run()
    box = at.selectbox(key="data_currency")
    assert (box.label, box.value, box.format_func(box.value)) == (
        "Currency of amounts",
        "EUR",
        "EUR (€)",
    )

    at.selectbox(key="data_currency").set_value("GBP").run()

    assert not at.exception and not at.error
    assert meta_currency(eur_db) == "GBP"
    assert "Amounts are now shown in GBP (£)." in [s.value for s in at.success]
    assert at.selectbox(key="data_currency").value == "GBP"
    at.switch_page("pages/overview.py").run()
    assert {m.label: m.value for m in at.metric}["Spend"].startswith("£")


def test_a_viewer_cannot_change_the_currency(monkeypatch, eur_db):
    monkeypatch.setenv("FUNNELCAST_VIEWER", "1")
    at = run_app(monkeypatch, eur_db, timeout=240).switch_page("pages/data.py").run()

    assert at.selectbox(key="data_currency").disabled
    assert meta_currency(eur_db) == "EUR"
