"""One real browser run: `streamlit run app.py` served on a free port, opened in Debian's
headless Chromium, shows the figures `funnelcast metrics` prints, with no error on the page
or in the console. Leaves a screenshot in tests/artifacts/overview.png."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from funnelcast import cli

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download is not reachable here: drive Debian's Chromium, quietly.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_S = 60
PAGE_RENDER_MS = 60_000


@pytest.fixture
def chromium() -> Path:
    """Return Debian's Chromium; fail on CI without it, skip elsewhere."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = (
        f"no Chromium at {CHROMIUM}: install Debian's with "
        "`apt-get update && apt-get install -y chromium`"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    """Return once the Streamlit server answers its health check; fail after SERVER_START_S."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(f"streamlit did not answer within {SERVER_START_S} s:\n{log.read_text()}")


@contextlib.contextmanager
def serve_app(log: Path, env: dict[str, str | None]) -> Iterator[tuple[str, int]]:
    """Serve app.py on a free port, the environment changed by env (None: unset), its output
    in log; yield its URL and the server's process id, and stop it after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if k not in env}
    environment.update({k: v for k, v in env.items() if v is not None})
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(url, server, log)
            yield url, server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


@pytest.fixture
def served_app(demo_db: Path, tmp_path: Path) -> Iterator[str]:
    """Return the URL of the dashboard served on the demo database; stop the server after."""
    with serve_app(tmp_path / "streamlit.log", {"FUNNELCAST_DB": str(demo_db)}) as (url, _):
        yield url


def test_served_overview_shows_the_cli_figures(chromium, served_app, demo_db, capsys):
    from playwright.sync_api import sync_playwright

    args = ["metrics", "--db", str(demo_db), "--quarter", "2026Q3", "--format", "json"]
    assert cli.main(args) == 0
    expected = json.loads(capsys.readouterr().out)
    problems: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(PAGE_RENDER_MS)
            page.on(
                "console",
                lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"),
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(served_app)

            mqls = page.get_by_test_id("stMetric").filter(
                has=page.get_by_test_id("stMetricLabel").get_by_text("MQLs", exact=True)
            )
            shown_mqls = mqls.get_by_test_id("stMetricValue").inner_text()
            # The last chart on the page is drawn once the whole script has run.
            page.locator(".js-plotly-plot .main-svg").nth(3).wait_for()
            page.get_by_test_id("stDataFrame").wait_for()
            page.wait_for_timeout(1000)  # let Plotly finish laying out before the screenshot
            exceptions = page.get_by_test_id("stException").all_inner_texts()
            errors = page.get_by_test_id("stAlertContentError").all_inner_texts()

            ARTIFACTS.mkdir(exist_ok=True)
            height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
            page.set_viewport_size({"width": 1600, "height": height + 40})
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
        finally:
            browser.close()

    assert shown_mqls == f"{expected['mqls']:,}"
    assert not exceptions, exceptions
    assert not errors, errors
    assert not problems, problems
