"""Cells a spreadsheet would run: every CSV the dashboard or CLI writes goes through csv_safe.

A spreadsheet treats a cell starting with = + - @ as a formula, also after leading spaces or
tabs, and a tab or carriage return at the start as a cell break (OWASP, "CSV Injection"). Such a
text cell is written with a single quote in front, which spreadsheets show and do not run.
"""

from __future__ import annotations

import polars as pl

# A cell starting with one of these, after any leading whitespace, is run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@")
# A cell starting with one of these (before any stripping) breaks the cell.
BREAK_STARTS = ("\t", "\r")
# Whitespace a spreadsheet skips before it looks for a formula sign.
LEADING_SPACE = " \t\r\n\u00a0"


def is_risky(text: str) -> bool:
    """Return whether a spreadsheet would run or split a cell holding this text."""
    return text.startswith(BREAK_STARTS) or text.lstrip(LEADING_SPACE).startswith(FORMULA_STARTS)


def safe_cell(text: str) -> str:
    """Return text as a cell a spreadsheet shows and does not run ('=1+1 for =1+1)."""
    return "'" + text if is_risky(text) else text


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with every risky text cell quoted (see safe_cell); others unchanged."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    signs = "".join("\\" + c for c in FORMULA_STARTS)
    risky = rf"^(?:[\t\r]|[ \t\r\n\u00a0]*[{signs}])"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(risky))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def write_csv(frame: pl.DataFrame) -> bytes:
    """Return the frame as CSV bytes with risky cells quoted."""
    return csv_safe(frame).write_csv().encode()
