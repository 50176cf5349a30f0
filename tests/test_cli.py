"""The `funnelcast metrics` command on a database file of the quarter-review journeys.

Good input: the JSON a script reads and the table a person reads, scoped by quarter, channel and
threshold (numbers counted by hand in test_metrics.py). Bad input: one line naming the problem,
a non-zero exit, and never a traceback; those run the real command in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import fixtures as fx
import pytest

from funnelcast.cli import main
from funnelcast.data import db

REPO = Path(__file__).resolve().parent.parent
HEADLINE_KEYS = (
    "leads",
    "mqls",
    "sals",
    "sqls",
    "customers",
    "mql_to_sql",
    "sql_to_customer",
    "revenue",
    "spend",
    "cost_per_mql",
    "roi",
)


@pytest.fixture(scope="module")
def review_file(tmp_path_factory) -> Path:
    """A closed Funnelcast database file holding the quarter-review journeys."""
    path = tmp_path_factory.mktemp("cli") / "review.duckdb"
    con = fx.quarter_review(path=path)
    con.execute("checkpoint")
    con.close()
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run `python -m funnelcast ARGS` as a user would; return its exit status and output."""
    return subprocess.run(
        [sys.executable, "-m", "funnelcast", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def metrics_json(capsys, *args: str) -> dict:
    """Return the JSON `funnelcast metrics ARGS --format json` prints (run in this process)."""
    assert main(["metrics", *map(str, args), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


# =====================================================================================
# --format json
# =====================================================================================


def test_json_has_the_headline_figures_overall_and_per_channel(capsys, review_file):
    result = metrics_json(capsys, "--db", review_file)
    for key in (*HEADLINE_KEYS, "by_channel", "scope", "rates"):
        assert key in result, key
    assert [item["channel"] for item in result["by_channel"]] == ["display", "search", "social"]
    for item in result["by_channel"]:
        for key in HEADLINE_KEYS:
            assert key in item, (item["channel"], key)
    # the all-history figures of test_metrics.ALL_HISTORY
    assert {k: result[k] for k in HEADLINE_KEYS} == pytest.approx(
        {
            "leads": 6,
            "mqls": 4,
            "sals": 4,
            "sqls": 4,
            "customers": 3,
            "mql_to_sql": 0.75,
            "sql_to_customer": 0.75,
            "revenue": 35_000.0,
            "spend": 9_500.0,
            "cost_per_mql": 2_375.0,
            "roi": (35_000 - 9_500) / 9_500,
        }
    )
    assert result["scope"]["mql_source"] == "recorded"


def test_json_division_by_zero_is_null(capsys, review_file):
    # 2026Q2 has no MQLs: no rate of MQLs, no cost per MQL; social spent nothing: no ROI
    result = metrics_json(capsys, "--db", review_file, "--quarter", "2026Q2")
    assert (result["mql_to_sql"], result["cost_per_mql"]) == (None, None)
    social = next(item for item in result["by_channel"] if item["channel"] == "social")
    assert (social["roi"], social["cost_per_customer"]) == (None, None)


@pytest.mark.parametrize(
    "args, expected",
    [
        pytest.param(
            (),
            {"leads": 6, "mqls": 4, "customers": 3, "revenue": 35_000.0, "spend": 9_500.0},
            id="all_history",
        ),
        pytest.param(
            ("--quarter", "2026Q1"),
            {"leads": 5, "mqls": 3, "customers": 1, "revenue": 10_000.0, "spend": 7_500.0},
            id="quarter",
        ),
        pytest.param(
            ("--channel", "social"),
            {"leads": 3, "mqls": 1, "customers": 1, "revenue": 5_000.0, "spend": 1_000.0},
            id="channel",
        ),
        pytest.param(
            ("--quarter", "2026Q1", "--channel", "search"),
            {"leads": 3, "mqls": 3, "customers": 1, "revenue": 10_000.0, "spend": 6_000.0},
            id="quarter_and_channel",
        ),
        # computed MQLs: at 0 every lead, at 50 straight_to_customer and the demo request,
        # at 55 the demo request alone (80)
        pytest.param(
            ("--threshold", "0"),
            {"leads": 6, "mqls": 6, "customers": 3, "revenue": 35_000.0, "spend": 9_500.0},
            id="threshold_0",
        ),
        pytest.param(
            ("--threshold", "50"),
            {"leads": 6, "mqls": 2, "customers": 3, "revenue": 35_000.0, "spend": 9_500.0},
            id="threshold_50",
        ),
        pytest.param(
            ("--threshold", "55", "--channel", "social"),
            {"leads": 3, "mqls": 1, "customers": 1, "revenue": 5_000.0, "spend": 1_000.0},
            id="threshold_and_channel",
        ),
    ],
)
def test_options_scope_the_figures(capsys, review_file, args, expected):
    result = metrics_json(capsys, "--db", review_file, *args)
    assert {k: result[k] for k in expected} == expected


def test_threshold_changes_the_scope_it_reports(capsys, review_file):
    scope = metrics_json(capsys, "--db", review_file, "--threshold", "55")["scope"]
    assert (scope["mql_source"], scope["threshold"]) == ("computed", 55.0)
    assert scope["definition"]["definition_id"] == 1


def test_json_from_the_installed_command(review_file):
    done = run_cli("metrics", "--db", review_file, "--quarter", "2026Q1", "--format", "json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["mqls"] == 3


# =====================================================================================
# --format table
# =====================================================================================


def test_table_has_a_row_per_channel_and_a_total(capsys, review_file):
    assert main(["metrics", "--db", str(review_file), "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "all history · MQLs recorded · amounts in USD ($)"
    assert lines[1].split() == [
        "channel",
        "leads",
        "mqls",
        "sqls",
        "customers",
        "mql_to_sql",
        "sql_to_customer",
        "revenue",
        "spend",
        "cost_per_mql",
        "roi",
    ]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:6]}
    assert list(rows) == ["display", "search", "social", "TOTAL"]
    # leads, mqls, sqls, customers, mql_to_sql, sql_to_customer, revenue, spend, cost/MQL, ROI
    assert rows["TOTAL"] == [
        "6",
        "4",
        "4",
        "3",
        "75.0%",
        "75.0%",
        "$35,000.00",
        "$9,500.00",
        "$2,375.00",
        "268.4%",
    ]
    assert rows["display"] == ["0", "0", "0", "0", "—", "—", "$0.00", "$500.00", "—", "-100.0%"]
    # the cohorts have not had 138 days since their quarter ended (see test_metrics)
    assert lines[6:] == ["note: this cohort is still maturing; its conversion rates will rise."]


def test_table_is_the_default_format_and_names_its_scope(capsys, review_file):
    assert (
        main(
            [
                "metrics",
                "--db",
                str(review_file),
                "--quarter",
                "2026Q1",
                "--channel",
                "search",
                "--threshold",
                "50",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "2026Q1 · channel search · MQLs computed at threshold 50 · amounts in USD ($)"
    )
    total = next(line for line in lines if line.startswith("TOTAL")).split()
    # 2026Q1 search at 50: 3 leads, only straight_to_customer is an MQL, 2 SQLs, 1 customer
    assert total[1:5] == ["3", "1", "2", "1"]


# =====================================================================================
# bad input: one line, non-zero exit, no traceback
# =====================================================================================


def assert_refused(done: subprocess.CompletedProcess, pattern: str) -> None:
    """Check the command failed with one line on stderr matching the pattern, no traceback."""
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    assert re.search(pattern, done.stderr), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, f"not one line:\n{done.stderr}"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """Files that are not Funnelcast databases, each for its own reason."""
    folder = tmp_path_factory.mktemp("bad")
    csv_file = folder / "leads.duckdb"
    csv_file.write_text("lead_id,created_at,channel\nada,2026-01-01,search\n")
    other_app = folder / "other_app.duckdb"
    con = db.open_duckdb(other_app)
    con.execute("create table orders (order_id integer, amount double)")
    con.close()
    return {
        "csv": csv_file,
        "other_app": other_app,
        "folder": folder,
        "missing": folder / "nope.duckdb",
    }


@pytest.mark.parametrize(
    "case, args, pattern",
    [
        pytest.param(
            "missing", (), r"database .*nope\.duckdb does not exist", id="db_path_does_not_exist"
        ),
        pytest.param(
            "folder", (), r"is a directory, not a database file", id="db_path_is_a_directory"
        ),
        pytest.param(
            "csv",
            (),
            r"leads\.duckdb is a text file .*not a DuckDB database",
            id="not_a_duckdb_file",
        ),
        pytest.param(
            "other_app",
            (),
            r"other_app\.duckdb is not a Funnelcast database",
            id="duckdb_without_funnelcast_schema",
        ),
        pytest.param(
            "review",
            ("--quarter", "2024Q1"),
            r"quarter 2024Q1 is not in the data \(2025Q4 to 2026Q2\)",
            id="unknown_quarter",
        ),
        pytest.param(
            "review", ("--quarter", "2026Q5"), r"not a quarter: '2026Q5'", id="quarter_five"
        ),
        pytest.param(
            "review", ("--quarter", "last"), r"not a quarter: 'last'", id="quarter_in_words"
        ),
        pytest.param(
            "review", ("--channel", "tiktok"), r"unknown channel 'tiktok'", id="unknown_channel"
        ),
        pytest.param(
            "review",
            ("--threshold", "-5"),
            r"threshold must be a number >= 0, not -5",
            id="negative_threshold",
        ),
        pytest.param(
            "review",
            ("--threshold", "high"),
            r"threshold must be a number, not 'high'",
            id="threshold_not_a_number",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line(review_file, bad_files, case, args, pattern):
    path = review_file if case == "review" else bad_files[case]
    assert_refused(run_cli("metrics", "--db", path, *args), pattern)


def test_metrics_without_a_database_is_refused_in_one_line():
    assert_refused(run_cli("metrics", "--format", "json"), r"--db")


def test_a_database_another_process_writes_is_refused_in_one_line(tmp_path):
    path = tmp_path / "busy.duckdb"
    writer = fx.quarter_review(path=path)  # this process keeps it open for writing
    try:
        assert_refused(
            run_cli("metrics", "--db", path), r"busy\.duckdb is in use by another process"
        )
    finally:
        writer.close()


def test_a_lake_uri_reaches_the_spark_engine_whole(monkeypatch):
    """s3a://bucket/lake must not become s3a:/bucket/lake on the way (as a Path would make it)."""
    from funnelcast import cli
    from funnelcast.cli import runner
    from funnelcast.data import engine

    args = cli.parser().parse_args(
        ["metrics", "--engine", "spark", "--parquet", "s3a://acme-lake/funnelcast"]
    )
    assert runner.engine_of(args) == ("spark", "s3a://acme-lake/funnelcast")
    monkeypatch.setenv(engine.ENGINE_ENV, "spark")
    monkeypatch.setenv(engine.PARQUET_ENV, "abfss://lake@acct.dfs.core.windows.net/fc")
    args = cli.parser().parse_args(["metrics"])
    assert runner.engine_of(args) == ("spark", "abfss://lake@acct.dfs.core.windows.net/fc")


def test_the_cli_sets_duckdbs_allocator_before_duckdb_loads():
    # a writer's freed query memory must go back (summarize at 10M: 2.25 GB peak otherwise);
    # a value someone set is theirs
    import os

    import funnelcast

    # prints the setting as it is when duckdb is first imported, then once the CLI is loaded
    code = "\n".join(
        [
            "import os, sys",
            "class Watch:",
            "    def find_spec(self, name, path=None, target=None):",
            "        if name == 'duckdb':",
            f"            print(os.environ.get({funnelcast.DUCKDB_ALLOCATOR_ENV!r}))",
            "sys.meta_path.insert(0, Watch())",
            "import funnelcast.cli",
            "print('duckdb' in sys.modules)",
        ]
    )
    env = {k: v for k, v in os.environ.items() if k != funnelcast.DUCKDB_ALLOCATOR_ENV}
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert unset.stdout.split() == [funnelcast.DUCKDB_ALLOCATOR_PROMPT, "True"], unset.stderr
    env[funnelcast.DUCKDB_ALLOCATOR_ENV] = "dirty_decay_ms:1000"
    mine = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert mine.stdout.split()[0] == "dirty_decay_ms:1000", mine.stderr
