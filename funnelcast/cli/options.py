"""The command line's parser class, its checked values and the options several commands share.

A number option's text becomes a number (a currency option's a Currency), or is refused in one
line naming the option, as it is parsed, before any database is opened. --quarter, --channel and
--out/--replace are added here so every command words them alike; refuse_existing keeps a command
from overwriting a file unasked.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from funnelcast.core import currency
from funnelcast.core.currency import Currency
from funnelcast.data import db

N = TypeVar("N", int, float)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def number(
    parse: Callable[[str], N],
    accept: Callable[[N], bool] | None = None,
    *,
    not_a_number: str,
    refused: str = "",
) -> Callable[[str], N]:
    """Return an argparse type: parse(text), refused with f"{not_a_number}, not 'TEXT'" when it is
    no number, and with f"{refused}, not TEXT" when accept says no."""

    def convert(text: str) -> N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{not_a_number}, not {text!r}") from None
        if accept is not None and not accept(value):
            raise argparse.ArgumentTypeError(f"{refused}, not {text}")
        return value

    return convert


sample_share = number(
    float,
    lambda v: math.isfinite(v) and 0 < v <= 1,
    not_a_number="expected a share of leads such as 0.1",
    refused="expected a share of leads above 0 and at most 1",
)
positive_int = number(
    int,
    lambda v: v >= 1,
    not_a_number="expected a whole number",
    refused="expected a whole number >= 1",
)
positive_float = number(
    float,
    lambda v: v > 0 and math.isfinite(v),
    not_a_number="expected a number",
    refused="expected a number > 0",
)
whole_number = number(int, not_a_number="expected a whole number")
finite_number = number(
    float, math.isfinite, not_a_number="expected a number", refused="expected a finite number"
)


def currency_code(text: str) -> Currency:
    """Return the currency an ISO 4217 code names (an argparse type: refused in one line)."""
    try:
        return currency.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_quarter(command: argparse.ArgumentParser, default: str = "all history") -> None:
    """Add --quarter (a fiscal quarter such as 2026Q1) to a command."""
    command.add_argument("--quarter", help=f"fiscal quarter such as 2026Q1 (default: {default})")


def add_scope(
    command: argparse.ArgumentParser, channel: str = "only leads of this channel"
) -> None:
    """Add --quarter (default: all history) and --channel to a command."""
    add_quarter(command)
    command.add_argument("--channel", help=channel)


def add_out(command: argparse.ArgumentParser, help: str) -> None:
    """Add --out (the file the command writes) and --replace (overwrite it) to a command."""
    command.add_argument("--out", required=True, type=Path, help=help)
    command.add_argument(
        "--replace", action="store_true", help="overwrite the file if it exists (default: refuse)"
    )


def refuse_existing(out: Path, replace: bool) -> None:
    """Refuse to overwrite a file the command would write, unless --replace was given."""
    if out.exists() and not replace:
        raise db.FunnelcastError(
            f"{out} already exists; choose another file or pass --replace to overwrite it"
        )
