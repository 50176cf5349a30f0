"""The dashboard on the Spark engine: with FUNNELCAST_ENGINE=spark and FUNNELCAST_PARQUET=DIR
every page reads through Spark and shows what the same page shows on the DuckDB file the lake
was exported from; writes are refused with a plain message and change nothing; a missing or
damaged lake gets one line; the lake's key follows its files.

Each engine's AppTest session visits every page once (module fixtures), so Spark runs each
page's queries once; the tests compare what those runs showed. Spark needs Java 17+ and pyspark:
missing, this module fails on CI (CI=true) and skips elsewhere, as tests/test_spark.py does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser_support as bs
import pytest
from apptest_support import (  # noqa: F401
    APP,
    NavigationOnly,
    navigation_only,
    release_streamlit_caches,
)
from cli_support import cli_json
from spark_support import require_spark
from streamlit.testing.v1 import AppTest, app_test

from funnelcast import cli
from funnelcast.analytics import countings, overview
from funnelcast.core import formats
from funnelcast.core.currency import Currency
from funnelcast.data import db
from funnelcast.demo import build_file
from funnelcast.lab import page as tl
from funnelcast.ui import dashboard
from funnelcast.ui import planner_page as pp

require_spark("the Spark dashboard test")

# pyspark 4.3 warns that pandas 3 is newer than it knows; Funnelcast hands it Arrow, not pandas
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas")

LEADS = 2_500
SEED = 7
# app.py's navigation order; each page's title.
PAGES = {
    "overview": "Overview",
    "funnel": "Funnel",
    "handoff": "Handoff",
    "roi": "ROI & attribution",
    "threshold_lab": "Threshold Lab",
    "planner": "MQL Planner",
    "data": "Data",
}
# A scope other than the default (2026Q3, all channels), and a Threshold Lab what-if.
OTHER_SCOPE = ("2025Q4", "search")
WHAT_IF_THRESHOLD = 55.0
NEW_TARGET_CUSTOMERS = 41
# The Spark session may start inside the first run: allow for a loaded machine.
RUN_TIMEOUT_S = 600


@pytest.fixture(scope="module", autouse=True)
def stop_spark_after_the_module() -> Iterator[None]:
    """Let every test of the module share the one local Spark the dashboard starts (a cache
    clear drops the dashboard's handle, not the JVM), and stop it after the module: its JVM
    holds a few GiB the rest of the suite can use."""
    yield
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


# ===== the data: a small demo history, and the lake export-parquet writes from it =====


@pytest.fixture(scope="module")
def duck_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a DuckDB file holding a 2,500-lead demo history."""
    path = tmp_path_factory.mktemp("spark_dashboard") / "demo.duckdb"
    build_file(path, leads=LEADS, seed=SEED)
    return path


@pytest.fixture(scope="module")
def lake(duck_path: Path) -> Path:
    """Return the Parquet lake `funnelcast export-parquet` writes from that file."""
    out = duck_path.parent / "lake"
    assert cli.main(["export-parquet", "--db", str(duck_path), "--out", str(out)]) == 0
    return out


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digest(root: Path) -> str:
    """Return a digest of every file's path and bytes under root."""
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


# ===== running the app =====


def _environment(engine: str, duck_path: Path, lake: Path) -> dict[str, str | None]:
    """Return the environment of a run on the engine (None: unset)."""
    return {
        "FUNNELCAST_DB": str(duck_path),
        "FUNNELCAST_ENGINE": engine,
        "FUNNELCAST_PARQUET": str(lake) if engine == "spark" else None,
        "FUNNELCAST_VIEWER": None,
        "FUNNELCAST_SPARK_REMOTE": None,
    }


def _apply(mp: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            mp.delenv(name, raising=False)
        else:
            mp.setenv(name, value)


def _texts(elements) -> list[str]:
    return [element.value for element in elements]


def _cell(value: Any) -> Any:
    """Return a table cell comparable across engines (floats to 9 significant digits)."""
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.9g}")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _cell(value.item())
    return value


def snapshot(at: AppTest) -> dict[str, Any]:
    """Return what the page shows: its figures, tables, notes and failures."""
    return {
        "title": _texts(at.title),
        "metrics": [(m.label, m.value, m.delta) for m in at.metric],
        "tables": [
            [tuple(_cell(v) for v in row) for row in frame.value.itertuples(index=False)]
            for frame in at.dataframe
        ],
        "captions": _texts(at.main.caption),
        "markdown": _texts(at.main.markdown),
        "info": _texts(at.info),
        "warning": _texts(at.warning),
        "success": _texts(at.success),
        "errors": _texts(at.error),
        "exceptions": [e.message for e in at.exception],
        "sidebar": _texts(at.sidebar.caption),
        "buttons": {b.key: b.proto.disabled for b in at.button if b.key},
        "uploaders": len(at.file_uploader),
    }


def visit_every_page(engine: str, duck_path: Path, lake: Path) -> dict[str, dict[str, Any]]:
    """Return the snapshot of every page (and of the Overview in another scope, and of the
    Threshold Lab after a threshold move) in one AppTest session on the engine."""
    shown: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_test, "PagesManager", NavigationOnly)
        _apply(mp, _environment(engine, duck_path, lake))
        at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()
        for page in PAGES:
            at.switch_page(f"pages/{page}.py").run()
            shown[page] = snapshot(at)
            if page == "threshold_lab":
                at.slider(key=tl.THRESHOLD_KEY).set_value(WHAT_IF_THRESHOLD).run()
                shown["threshold_lab_what_if"] = snapshot(at)
            if page == "planner":  # a target that differs from the stored one could be saved
                at.number_input(key=pp.CUSTOMERS_KEY).set_value(NEW_TARGET_CUSTOMERS).run()
                shown["planner_new_target"] = snapshot(at)
        at.switch_page("pages/overview.py").run()
        at.selectbox(key="quarter").set_value(OTHER_SCOPE[0]).run()
        at.selectbox(key="channel").set_value(OTHER_SCOPE[1]).run()
        shown["overview_other_scope"] = snapshot(at)
    return shown


@pytest.fixture(scope="module")
def on_duckdb(duck_path: Path, lake: Path) -> dict[str, dict[str, Any]]:
    return visit_every_page("duckdb", duck_path, lake)


@pytest.fixture(scope="module")
def on_spark(duck_path: Path, lake: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """Return every page as Spark shows it; the DuckDB file and the lake are left as they were."""
    before = (_file_digest(duck_path), _tree_digest(lake))
    shown = visit_every_page("spark", duck_path, lake)
    shown["_unchanged"] = {"files": before == (_file_digest(duck_path), _tree_digest(lake))}
    yield shown


# ===== every page: Spark shows DuckDB's figures =====

# Each view, and the page it is on.
VIEWS = {
    **{page: page for page in PAGES},
    "threshold_lab_what_if": "threshold_lab",
    "planner_new_target": "planner",
    "overview_other_scope": "overview",
}


@pytest.mark.parametrize("view", VIEWS)
def test_page_on_spark_shows_the_duckdb_pages_figures(view, on_duckdb, on_spark):
    duck, spark = on_duckdb[view], on_spark[view]

    for shown in (duck, spark):
        assert not shown["exceptions"], shown["exceptions"]
        assert not shown["errors"], shown["errors"]
        assert shown["title"] == [PAGES[VIEWS[view]]]
    # the headline figures: every st.metric, label, value and change
    assert duck["metrics"], "the page shows no figures to compare"
    assert spark["metrics"] == duck["metrics"]
    # every table, cell by cell, and every sentence that carries figures (n, intervals)
    assert spark["tables"] == duck["tables"]
    captions = _without_lake_note(spark["captions"])
    if view == "data":  # on Spark the page ends before its import section (tested below)
        assert duck["captions"][len(captions) :] == IMPORT_CAPTIONS
        captions += IMPORT_CAPTIONS
    assert captions == duck["captions"]
    assert spark["markdown"] == duck["markdown"]
    assert spark["warning"] == duck["warning"]
    assert _without_lake_note(spark["info"]) == duck["info"]


LAKE_NOTE = "This dashboard reads the lake through Spark (FUNNELCAST_ENGINE=spark)"
# The Data page's import section, before a file is chosen.
IMPORT_CAPTIONS = [
    "CSV (any delimiter; UTF-8 or Latin-1), Parquet or Excel .xlsx. Every row is checked "
    "before anything is written; the whole file loads, or nothing does. Importing the same file "
    "again adds nothing.",
    "Headers of HubSpot and Salesforce lead and contact exports are recognised; others "
    "are mapped by hand and the mapping can be saved for next time.",
]


def _without_lake_note(texts: list[str]) -> list[str]:
    """Return the texts but the Spark engine's note on writing (tested below)."""
    return [text for text in texts if LAKE_NOTE not in text]


def test_the_views_compared_show_what_they_are_about(on_duckdb):
    """The comparisons above are about something: the moves changed what the pages show."""
    assert on_duckdb["overview_other_scope"]["metrics"] != on_duckdb["overview"]["metrics"]
    lab, what_if = on_duckdb["threshold_lab"], on_duckdb["threshold_lab_what_if"]
    assert what_if["metrics"] != lab["metrics"]
    planner, new_target = on_duckdb["planner"], on_duckdb["planner_new_target"]
    assert new_target["metrics"] != planner["metrics"]


def _kpis(shown: dict[str, Any]) -> dict[str, str]:
    return {label: value for label, value, _ in shown["metrics"]}


@pytest.mark.parametrize(
    ("view", "cli_args"),
    [
        ("overview", ["--quarter", "2026Q3"]),
        ("overview_other_scope", ["--quarter", OTHER_SCOPE[0], "--channel", OTHER_SCOPE[1]]),
    ],
)
def test_overview_on_spark_shows_the_spark_clis_json(view, cli_args, on_spark, lake, capsys):
    capsys.readouterr()
    argv = ["metrics", "--engine", "spark", "--parquet", str(lake), *cli_args, "--format", "json"]
    assert cli.main(argv) == 0
    expected = json.loads(capsys.readouterr().out)

    shown = _kpis(on_spark[view])
    currency = Currency(expected["currency"])
    names = countings.overview_labels(expected["scope"]["quarter"])
    for key, spec_label, kind, *_ in overview.KPI_SPECS:
        label = names.get(key, spec_label)
        assert shown[label] == formats.by_kind(expected[key], kind, currency), key
        if kind == "count":
            assert int(shown[label].replace(",", "")) == expected[key], key


def test_the_sidebar_names_the_engine_and_where(on_duckdb, on_spark, duck_path, lake):
    assert on_spark["overview"]["sidebar"][0] == f"Engine: Spark (local), lake `{lake}/`"
    assert on_duckdb["overview"]["sidebar"][0] == f"Engine: DuckDB, `{duck_path}`"
    # the rest of the sidebar (demo, as-of, rows per table) is the same data's
    assert on_spark["overview"]["sidebar"][1:] == on_duckdb["overview"]["sidebar"][1:]
    assert any(f"leads: {LEADS:,} rows" in c for c in on_spark["overview"]["sidebar"])


# ===== writes: said plainly, and nothing changes =====


def _note(shown: dict[str, Any], kinds: tuple[str, ...] = ("info", "captions")) -> list[str]:
    return [text for kind in kinds for text in shown[kind] if LAKE_NOTE in text]


def test_threshold_lab_on_spark_offers_no_save_and_says_why(on_duckdb, on_spark):
    for view in ("threshold_lab", "threshold_lab_what_if"):
        (note,) = _note(on_spark[view])
        assert "saving the draft as the definition goes through the DuckDB file" in note
        assert "lab_save" not in on_spark[view]["buttons"]
        assert "lab_save" in on_duckdb[view]["buttons"]  # the same page on DuckDB offers it
        assert not _note(on_duckdb[view])


def test_data_page_on_spark_offers_no_import_and_says_why(on_duckdb, on_spark):
    (note,) = _note(on_spark["data"])
    assert "importing a file goes through the DuckDB file" in note
    assert "lake's own pipeline" in note
    assert on_spark["data"]["uploaders"] == 0
    assert on_duckdb["data"]["uploaders"] == 1


def test_planner_on_spark_keeps_save_off_and_says_why(on_duckdb, on_spark):
    (note,) = _note(on_spark["planner_new_target"])
    assert "saving a target goes through the DuckDB file" in note
    assert on_spark["planner_new_target"]["buttons"][pp.SAVE_KEY] is True  # disabled
    assert on_duckdb["planner_new_target"]["buttons"][pp.SAVE_KEY] is False


def test_spark_pages_changed_neither_the_lake_nor_the_duckdb_file(on_spark):
    assert on_spark["_unchanged"]["files"]


def test_a_write_on_spark_is_refused_and_changes_nothing(monkeypatch, duck_path, lake):
    _apply(monkeypatch, _environment("spark", duck_path, lake))
    before = (_file_digest(duck_path), _tree_digest(lake), dashboard.lake_key(str(lake)))
    called = []

    with pytest.raises(db.FunnelcastError, match="reads the lake through Spark") as refused:
        dashboard.write(duck_path, lambda cur: called.append(cur))
    assert "writing goes through the DuckDB file" in str(refused.value)
    with pytest.raises(db.FunnelcastError, match="reads the lake through Spark"):
        dashboard.write(lake, lambda cur: called.append(cur))

    assert called == []
    assert (_file_digest(duck_path), _tree_digest(lake), dashboard.lake_key(str(lake))) == before


# ===== start-up and failures: one line, no DuckDB demo =====


def _run(monkeypatch, env: dict[str, str | None]) -> AppTest:
    _apply(monkeypatch, env)
    return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()


@pytest.mark.parametrize(
    ("engine", "parquet", "message"),
    [
        ("spark", "missing", "Cannot use the lake: {lake} is not a directory of Parquet tables"),
        (
            "spark",
            None,
            "Cannot use the engine setting: FUNNELCAST_ENGINE=spark needs FUNNELCAST_PARQUET",
        ),
        ("sparkk", "missing", "Cannot use the engine setting: FUNNELCAST_ENGINE='sparkk' is not"),
    ],
)
def test_a_bad_engine_setting_gets_one_line_and_builds_no_demo(
    monkeypatch, tmp_path, engine, parquet, message
):
    database = tmp_path / "data" / "funnelcast.duckdb"
    missing_lake = tmp_path / "no-lake"
    at = _run(
        monkeypatch,
        {
            "FUNNELCAST_DB": str(database),
            "FUNNELCAST_ENGINE": engine,
            "FUNNELCAST_PARQUET": str(missing_lake) if parquet else None,
            "FUNNELCAST_SPARK_REMOTE": None,
        },
    )

    assert not at.exception
    assert [e.value for e in at.error][0].startswith(message.format(lake=missing_lake))
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert not database.exists() and not database.parent.exists()
    assert not at.title  # no page ran


def test_a_lake_without_leads_says_which_table(monkeypatch, tmp_path, duck_path, lake):
    partial = tmp_path / "lake"
    shutil.copytree(lake, partial)
    shutil.rmtree(partial / "leads")
    at = _run(monkeypatch, _environment("spark", duck_path, partial))

    assert not at.exception
    assert [e.value for e in at.error] == [
        f"Cannot use the lake: {partial} has no leads table (expected Parquet files under "
        f"{partial}/leads/)"
    ]


def test_a_damaged_lake_gets_one_line(monkeypatch, tmp_path, duck_path, lake):
    damaged = tmp_path / "lake"
    shutil.copytree(lake, damaged)
    (damaged / "events" / "data.parquet").write_bytes(b"not a parquet file")
    at = _run(monkeypatch, _environment("spark", duck_path, damaged))

    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith(f"Reading the lake {damaged} through Spark failed: ")
    assert "\n" not in error


# ===== the lake's key =====


def test_the_dashboard_follows_the_lake_when_its_files_change(
    monkeypatch, tmp_path, duck_path, lake
):
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    at = _run(monkeypatch, _environment("spark", duck_path, copy))
    assert f"leads: {LEADS:,} rows" in at.sidebar.caption[-1].value

    smaller = tmp_path / "smaller.duckdb"
    build_file(smaller, leads=1_200, seed=3)
    assert cli.main(["export-parquet", "--db", str(smaller), "--out", str(copy), "--replace"]) == 0
    at.run()

    assert not at.exception and not at.error
    assert "leads: 1,200 rows" in at.sidebar.caption[-1].value


def test_a_local_lakes_key_follows_its_files(tmp_path, lake):
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    key = dashboard.lake_key(str(copy))
    assert dashboard.lake_key(str(copy)) == key  # nothing changed: the same key

    leads = copy / "leads" / "data.parquet"
    os.utime(leads, ns=(leads.stat().st_atime_ns, leads.stat().st_mtime_ns + 1_000))
    touched = dashboard.lake_key(str(copy))
    assert touched != key
    (copy / "events" / "part-2.parquet").write_bytes(b"")
    assert dashboard.lake_key(str(copy)) not in (key, touched)

    with pytest.raises(db.FunnelcastError, match="is not a directory of Parquet tables"):
        dashboard.lake_key(str(tmp_path / "nowhere"))


def test_a_remote_lakes_key_is_refreshed_by_a_ttl(monkeypatch):
    monkeypatch.delenv("FUNNELCAST_SPARK_REMOTE", raising=False)
    ttl = dashboard.LAKE_TTL_SECONDS
    uri = "s3a://acme-lake/funnelcast"
    start = 1_000 * ttl

    assert dashboard.lake_key(uri, now=start) == dashboard.lake_key(uri, now=start + ttl - 1)
    assert dashboard.lake_key(uri, now=start) != dashboard.lake_key(uri, now=start + ttl)
    assert uri in dashboard.lake_key(uri, now=start)  # kept whole, not folded to s3a:/
    # a Databricks volume is a path only the cluster reads: remote too
    monkeypatch.setenv("FUNNELCAST_SPARK_REMOTE", "sc://cluster:15002/;token=SECRET")
    volume = "/Volumes/main/marketing/funnelcast"
    assert dashboard.lake_key(volume, now=start) != dashboard.lake_key(volume, now=start + ttl)


def test_the_source_line_never_shows_a_spark_connect_token(monkeypatch):
    monkeypatch.setenv("FUNNELCAST_SPARK_REMOTE", "sc://adb-1.net:443/;token=SECRET")
    database = dashboard.Database(
        Path("lake"), "k", None, engine="spark", location="s3a://acme-lake/funnelcast"
    )
    assert database.source == "Engine: Spark (Spark Connect), lake `s3a://acme-lake/funnelcast/`"


# ===== one real browser: the served Overview on Spark =====

# The served app starts its Spark session inside the first page run.
SPARK_RENDER_MS = 300_000


def _overview_in_browser(browser, url: str, screenshot: Path | None) -> dict[str, Any]:
    """Return the MQL count, the sidebar's engine line, errors and exceptions the served
    Overview shows; take a full-page screenshot when asked."""
    problems: list[str] = []
    page = bs.new_page(browser, url, timeout_ms=SPARK_RENDER_MS, problems=problems)
    shown_mqls = bs.metric_value(page, "MQLs in 2026Q3")
    # The last chart on the page is drawn once the whole script has run.
    page.locator(".js-plotly-plot .main-svg").nth(3).wait_for()
    page.get_by_test_id("stDataFrame").wait_for()
    page.wait_for_timeout(1000)  # let Plotly finish laying out
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("About this data").click()  # the engine line is in this expander
    engine_line = sidebar.get_by_text("Engine:").inner_text()
    if screenshot is not None:
        bs.screenshot_main(page, screenshot, settle_ms=500)
    exceptions, errors = bs.shown_errors(page)
    shown = {
        "mqls": shown_mqls,
        "engine": engine_line,
        "exceptions": exceptions,
        "errors": errors,
        "problems": problems,
    }
    page.close()
    return shown


@pytest.mark.browser
def test_served_overview_on_spark_shows_duckdbs_mqls(chromium, duck_path, lake, tmp_path, capsys):
    expected = cli_json(capsys, "metrics", "--db", duck_path, "--quarter", "2026Q3")["mqls"]

    shown = {}
    with bs.launch(chromium) as browser:
        for engine in ("duckdb", "spark"):
            env = _environment(engine, duck_path, lake)
            with bs.serve_app(tmp_path / f"{engine}.log", env) as (url, _):
                shot = bs.SCREENSHOTS / "spark_overview.png" if engine == "spark" else None
                shown[engine] = _overview_in_browser(browser, url, shot)

    for engine in ("duckdb", "spark"):
        assert not shown[engine]["exceptions"], shown[engine]["exceptions"]
        assert not shown[engine]["errors"], shown[engine]["errors"]
        assert not shown[engine]["problems"], shown[engine]["problems"]
    assert shown["spark"]["mqls"] == shown["duckdb"]["mqls"] == f"{expected:,}"
    assert shown["spark"]["engine"].startswith("Engine: Spark (local), lake")
    assert shown["duckdb"]["engine"].startswith("Engine: DuckDB")
