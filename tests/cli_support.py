"""Running the `funnelcast` command in tests: as a user would, in a subprocess (`run_cli`, and
`assert_one_line_failure` for what a refused command must look like), or in this process for
the JSON it prints (`cli_json`) or its table for people (`cli_text`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from funnelcast import cli

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m funnelcast ARGS` in the repository as a user would; return its exit
    status and output (text). Fails the test after timeout seconds."""
    return subprocess.run(
        [sys.executable, "-m", "funnelcast", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_failure(done: subprocess.CompletedProcess, message: str) -> None:
    """Assert that a command run by run_cli failed: a non-zero exit and one line on stderr
    that contains message."""
    assert done.returncode != 0
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def cli_text(capsys: pytest.CaptureFixture, *args: object) -> str:
    """Return what `funnelcast ARGS` prints (its table for people), run in this process; it
    must exit 0. What was captured before is dropped."""
    capsys.readouterr()
    assert cli.main([*map(str, args)]) == 0
    return capsys.readouterr().out


def cli_json(capsys: pytest.CaptureFixture, *args: object) -> dict:
    """Return what `funnelcast ARGS --format json` prints, run in this process; it must exit 0.

    What was captured before is dropped. Nothing on stderr may speak of funnelcast: Streamlit's
    loggers, left over from AppTest runs, may write there; the command must not."""
    capsys.readouterr()
    assert cli.main([*map(str, args), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert "funnelcast" not in err
    return json.loads(out)
