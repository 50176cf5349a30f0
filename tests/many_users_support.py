"""Many users at once on one served dashboard: `streamlit run app.py` on a database, and N
browser sessions (one headless Chromium, a context per user, driven together with Playwright's
async API) working on it at the same time. Used by tests/test_many_users.py (a short run) and
benchmarks/bench_many_users.py (a longer one, writing the latency distribution).

A user repeatedly does one of three page actions, each timed from the input to the page having
finished its rerun: on the Overview, choose another quarter and channel in the sidebar; on the
Threshold Lab, move the threshold slider with the keyboard; or move between the two pages. After
each action it reads every metric card the page shows and compares them with what a single
user saw for the same choice. The server's resident memory is sampled throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from test_browser import CHROMIUM, CHROMIUM_ARGS, serve_app

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ("open the app", "overview: quarter and channel", "lab: threshold", "switch page")
ACTION_TIMEOUT_MS = 180_000
# A rerun has finished when the status widget has been hidden this long.
SETTLE_MS = 400

Figures = tuple[str, ...]
DEFAULT_SCOPE = ("2026Q3", "All channels")  # the demo's latest complete quarter
# The app is idle: connected, no script run under way or asked for (Streamlit's own e2e signal).
IDLE_JS = (
    "() => { const app = document.querySelector('[data-testid=stApp]'); return !!app && "
    "app.getAttribute('data-test-script-state') === 'notRunning' && "
    "app.getAttribute('data-test-connection-state') === 'CONNECTED'; }"
)
CHANGED_JS = (
    "(before) => { const app = document.querySelector('[data-testid=stApp]');"
    " if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') "
    "return false; const now = [...document.querySelectorAll("
    "'[data-testid=stMetric]')].map(m => m.innerText);"
    " return JSON.stringify(now) !== JSON.stringify(before); }"
)


@dataclass(frozen=True)
class Choices:
    """What the users choose from."""

    scopes: tuple[tuple[str, str], ...]  # (quarter, channel) on the Overview
    thresholds: tuple[int, ...]  # consecutive, on the Threshold Lab: one arrow key a move


@dataclass
class Outcome:
    """What the users did: timings per action, problems, wrong figures, server memory."""

    timings: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ACTIONS})
    problems: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    checked: int = 0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0
    seconds: float = 0.0
    alone: dict[str, list[float]] = field(default_factory=dict)  # the single user's timings
    many_from: float = 0.0  # Unix time the users began opening the app together


def rss_mib(pid: int) -> float:
    """Return a process's resident memory in MiB (from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def served(
    database: Path, log: Path, env: dict[str, str | None] | None = None
) -> contextlib.AbstractContextManager[tuple[str, int]]:
    """Serve the dashboard on the database (more environment in env); yield its URL and the
    server's process id."""
    return serve_app(log, {"FUNNELCAST_DB": str(database), **(env or {})})


def pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of a process (and the threads they start) on these CPUs."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


class User:
    """One browser session on the served app."""

    def __init__(self, number: int, page, outcome: Outcome):
        self.number = number
        self.page = page
        self.outcome = outcome
        self.on_lab = False
        self.scope = DEFAULT_SCOPE  # the sidebar's choice as the app opens
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        page.on("console", lambda m: m.type == "error" and self.problem(f"console: {m.text}"))
        page.on("pageerror", lambda error: self.problem(f"page error: {error}"))

    def problem(self, text: str) -> None:
        """Record something that went wrong for this user."""
        self.outcome.problems.append(f"user {self.number}: {text}")

    async def settled(self) -> None:
        """Return once the app's rerun has finished (and no other has started since)."""
        for _ in range(200):
            await self.page.wait_for_function(IDLE_JS)
            await self.page.wait_for_timeout(SETTLE_MS)
            if await self.page.evaluate(IDLE_JS):
                break
        for test_id in ("stException", "stAlertContentError"):
            for text in await self.page.get_by_test_id(test_id).all_inner_texts():
                self.problem(f"{test_id}: {text}")

    async def figures(self) -> Figures:
        """Return the text of every metric card on the page."""
        return tuple(await self.page.get_by_test_id("stMetric").all_inner_texts())

    async def changed(self, before: Figures) -> Figures:
        """Return the figures once a rerun has finished showing figures other than before."""
        await self.page.wait_for_function(CHANGED_JS, arg=list(before))
        await self.settled()
        return await self.figures()

    async def open(self, url: str) -> None:
        """Open the app on the Overview and wait for it."""
        await self.page.goto(url)
        await self.page.get_by_test_id("stMetric").first.wait_for()
        await self.settled()

    async def switch(self) -> None:
        """Move to the other page through the sidebar."""
        title = "Overview" if self.on_lab else "Threshold Lab"
        await self.page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        await self.page.get_by_role("heading", name=title).first.wait_for()
        await self.page.get_by_test_id("stMetric").first.wait_for()
        await self.settled()
        self.on_lab = not self.on_lab

    async def choose(self, label: str, option: str) -> None:
        """Pick an option of a sidebar selectbox; wait for the rerun that follows."""
        before = await self.figures()
        await self.page.get_by_role("combobox", name=label).click()
        await (
            self.page.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()
        )
        await self.changed(before)

    async def choose_scope(self, quarter: str, channel: str) -> Figures:
        """Choose a quarter and a channel on the Overview; return the figures shown."""
        if quarter != self.scope[0]:
            await self.choose("Quarter", quarter)
        if channel != self.scope[1]:
            await self.choose("Channel", channel)
        self.scope = (quarter, channel)
        return await self.figures()

    async def threshold(self) -> int:
        """Return the Lab's threshold as the slider shows it."""
        return round(float(await self.page.get_by_test_id("stSliderThumbValue").first.inner_text()))

    async def choose_threshold(self, target: int) -> Figures:
        """Move the Lab's slider one step to target with an arrow key; return the figures shown.

        One step, one rerun: with several, the figures of a step in between could be read."""
        thumb = self.page.get_by_role("slider").first
        step = target - await self.threshold()
        assert abs(step) == 1, step
        before = await self.figures()
        await thumb.focus()
        await thumb.press("ArrowRight" if step > 0 else "ArrowLeft")
        shown = await self.changed(before)
        if await self.threshold() != target:
            self.problem(f"the slider shows {await self.threshold()}, not {target}")
        return shown


async def single_user(
    browser, url: str, choices: Choices
) -> tuple[dict[tuple, Figures], dict[str, list[float]]]:
    """Return the figures one user alone sees for every choice, and how long each action took."""
    outcome = Outcome()
    timings = outcome.timings

    async def timed(action: str, step):
        started = time.perf_counter()
        result = await step
        timings[action].append(time.perf_counter() - started)
        return result

    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        user = User(0, await context.new_page(), outcome)
        await timed("open the app", user.open(url))
        expected: dict[tuple, Figures] = {}
        for quarter, channel in choices.scopes:
            expected["overview", quarter, channel] = await timed(
                "overview: quarter and channel", user.choose_scope(quarter, channel)
            )
        await timed("switch page", user.switch())
        start = await user.threshold()
        expected["lab", start] = await user.figures()
        low, high = min(choices.thresholds), max(choices.thresholds)
        path = [*range(start - 1, low - 1, -1), *range(low + 1, high + 1)]
        for threshold in path:  # down to the lowest, then up to the highest, a step at a time
            expected["lab", threshold] = await timed(
                "lab: threshold", user.choose_threshold(threshold)
            )
    finally:
        await context.close()
    assert not outcome.problems, outcome.problems
    return expected, timings


async def _open(user: User, url: str) -> None:
    """Open the app as one user (timed); half the users then move to the Lab."""
    try:
        started = time.perf_counter()
        await user.open(url)
        user.outcome.timings["open the app"].append(time.perf_counter() - started)
        if user.number % 2:
            await user.switch()
    except Exception as exc:  # a user whose page never opened is a finding
        user.problem(f"could not open the app: {type(exc).__name__}: {str(exc).splitlines()[0]}")


async def _work(
    user: User,
    url: str,
    choices: Choices,
    expected: dict[tuple, Figures],
    deadline: float,
    rng: random.Random,
) -> None:
    """Act as one user until the deadline, and at least until one action was checked (on a
    loaded machine opening 20 tabs can eat the whole window): random page actions, each timed
    and checked."""
    outcome = user.outcome
    mine = 0
    try:
        while time.monotonic() < deadline or not mine:
            started = time.perf_counter()
            if rng.random() < 0.2:
                await user.switch()
                outcome.timings["switch page"].append(time.perf_counter() - started)
                continue
            if user.on_lab:
                now = await user.threshold()
                target = rng.choice([t for t in (now - 1, now + 1) if t in choices.thresholds])
                shown = await user.choose_threshold(target)
                outcome.timings["lab: threshold"].append(time.perf_counter() - started)
                key = ("lab", target)
            else:
                quarter, channel = rng.choice([s for s in choices.scopes if s != user.scope])
                shown = await user.choose_scope(quarter, channel)
                outcome.timings["overview: quarter and channel"].append(
                    time.perf_counter() - started
                )
                key = ("overview", quarter, channel)
            outcome.checked += 1
            mine += 1
            if shown != expected[key]:
                outcome.wrong.append(f"user {user.number} {key}: {shown} != {expected[key]}")
    except Exception as exc:  # a user whose page stopped answering is a finding
        user.problem(f"stopped: {type(exc).__name__}: {str(exc).splitlines()[0]}")


async def _many(
    url: str,
    pid: int,
    users: int,
    seconds: float,
    choices: Choices,
) -> tuple[dict[tuple, Figures], Outcome]:
    """Run the single-user pass, then `users` users at once for `seconds`."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            expected, alone = await single_user(browser, url, choices)
            outcome = Outcome(rss_start_mib=rss_mib(pid), alone=alone, many_from=time.time())
            outcome.rss_peak_mib = outcome.rss_start_mib
            contexts = [
                await browser.new_context(viewport={"width": 1400, "height": 900})
                for _ in range(users)
            ]
            people = [User(n + 1, await c.new_page(), outcome) for n, c in enumerate(contexts)]
            opening = asyncio.ensure_future(asyncio.gather(*(_open(u, url) for u in people)))
            while not opening.done():
                outcome.rss_peak_mib = max(outcome.rss_peak_mib, rss_mib(pid))
                await asyncio.sleep(0.25)
            await opening
            # the clock starts once every user has the app open
            started = time.monotonic()
            deadline = started + seconds
            work = asyncio.gather(
                *(
                    _work(u, url, choices, expected, deadline, random.Random(u.number))
                    for u in people
                )
            )
            task = asyncio.ensure_future(work)
            while not task.done():
                outcome.rss_peak_mib = max(outcome.rss_peak_mib, rss_mib(pid))
                await asyncio.sleep(0.25)
            await task
            outcome.seconds = time.monotonic() - started
            outcome.rss_end_mib = rss_mib(pid)
            for context in contexts:
                await context.close()
        finally:
            await browser.close()
    return expected, outcome


def run_users(
    database: Path,
    log: Path,
    users: int,
    seconds: float,
    choices: Choices,
    *,
    env: dict[str, str | None] | None = None,
    split_cpus: bool = False,
) -> tuple[dict[tuple, Figures], Outcome]:
    """Serve the app on the database; return the single-user figures and the many-user run.

    split_cpus: the server on the first CPU, this process and the browsers it starts on the
    others (on a machine with two or more), so that drawing the pages does not take the
    server's CPU.
    """
    with served(database, log, env) as (url, pid):
        cpus = sorted(os.sched_getaffinity(0))
        if split_cpus and len(cpus) >= 2:
            pin(pid, {cpus[0]})
            os.sched_setaffinity(0, set(cpus[1:]))
        try:
            return asyncio.run(_many(url, pid, users, seconds, choices))
        finally:
            os.sched_setaffinity(0, set(cpus))
