"""What every real-browser test needs: Debian's headless Chromium (the `chromium` fixture), the
dashboard served with `streamlit run app.py` on a free port (`serve_app`, `served_app`), a page
opened on it that records console and page errors (`open_page`, or `launch` and `new_page` for
several pages in one browser), and the figures and screenshots read off it."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "tests" / "screenshots"
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


# ===== the served dashboard =====


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


@contextlib.contextmanager
def serve_database(database: Path, log: Path) -> Iterator[str]:
    """Serve the dashboard on a database file (FUNNELCAST_DB); yield its URL, stop it after."""
    with serve_app(log, {"FUNNELCAST_DB": str(database)}) as (url, _):
        yield url


@pytest.fixture
def served_app(demo_db: Path, tmp_path: Path) -> Iterator[str]:
    """Return the URL of the dashboard served on the demo database; stop the server after."""
    with serve_database(demo_db, tmp_path / "streamlit.log") as url:
        yield url


# ===== the browser and its pages =====


@contextlib.contextmanager
def launch(chromium: Path) -> Iterator[Any]:
    """Yield a Playwright browser driving Debian's headless Chromium; close it after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watch(page, problems: list[str], *, console_errors: bool, name_the_url: bool) -> None:
    """Add each page error, and with console_errors each console error, of page to problems,
    as "page error: ..." / "console: ..." ("... on URL: ..." with name_the_url)."""

    def where() -> str:
        return f" on {page.url}" if name_the_url else ""

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console{where()}: {message.text}")

    if console_errors:
        page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error{where()}: {error}"))


def new_page(
    browser,
    url: str,
    *,
    viewport: tuple[int, int] = (1600, 1000),
    timeout_ms: int = PAGE_RENDER_MS,
    problems: list[str] | None = None,
    console_errors: bool = True,
    name_the_url: bool = False,
    requests: list[str] | None = None,
):
    """Open url in a new page of browser, viewport (width, height) wide, every wait on it
    failing after timeout_ms, and return the page.

    With problems, the page's errors are added to it (see watch); with requests, the URL of
    every request the page makes is added to that list.
    """
    width, height = viewport
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_ms)
    if problems is not None:
        watch(page, problems, console_errors=console_errors, name_the_url=name_the_url)
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    return page


@contextlib.contextmanager
def open_page(chromium: Path, url: str, **options) -> Iterator[Any]:
    """Yield url opened in a new headless Chromium (new_page's options); close it after."""
    with launch(chromium) as browser:
        yield new_page(browser, url, **options)


# ===== what a page shows =====


def open_from_sidebar(page, title: str) -> None:
    """Click the sidebar's link to the page titled exactly title."""
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()


def metric_card(page, label: str):
    """Return the locator of the st.metric cards labelled exactly label."""
    return page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )


def metric_value(page, label: str) -> str:
    """Return the value the one st.metric card labelled exactly label shows."""
    return metric_card(page, label).get_by_test_id("stMetricValue").inner_text()


def shown_errors(page) -> tuple[list[str], list[str]]:
    """Return the texts of the exceptions and of the error alerts (st.error) the page shows."""
    return (
        page.get_by_test_id("stException").all_inner_texts(),
        page.get_by_test_id("stAlertContentError").all_inner_texts(),
    )


def screenshot_main(page, path: Path, settle_ms: int = 800) -> None:
    """Save a screenshot of the whole main area at path: the viewport, as wide as it is, grows
    to the main area's height (Plotly gets settle_ms to lay out again), and is back to its size
    after."""
    viewport = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": height + 40})
    page.wait_for_timeout(settle_ms)
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(viewport)
