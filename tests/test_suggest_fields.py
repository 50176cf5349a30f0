"""Suggested weights from every field, on a generated CRM lead export with planted effects
(funnelcast.demo.export: conversion rising with visits, "Do Not Email" = Yes never converting,
occupation values, two columns filled after the sale): the draft finds the effects, leaves the
leaky columns out and names them, ranks held-out leads as well as scikit-learn's plain logistic
regression on the export's own columns, and picks an MQL share by F1; `funnelcast suggest`'s JSON
and --out file.

Until the importer keeps extra columns, the export is loaded by a small loader here: the four
mapped columns into leads, every other column into lead_attributes / lead_attribute_types
(typed number, yes/no or text from the whole column; "Select" and blanks missing).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import fixtures as fx
import numpy as np
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from funnelcast import definitions
from funnelcast.analytics import suggest
from funnelcast.cli import main
from funnelcast.data import db
from funnelcast.demo import export

MAPPED = {"Prospect ID": "lead_id", "Created On": "created_at", "Lead Source": "channel", "Country": "country"}
PLACEHOLDERS = {"", "Select"}


def read_export(path: Path) -> pl.DataFrame:
    """Return the export with every column as text, placeholders as missing."""
    frame = pl.read_csv(path, infer_schema=False)
    return frame.with_columns(
        pl.when(pl.col(c).str.strip_chars().is_in(list(PLACEHOLDERS)))
        .then(None)
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    )


def column_type(values: pl.Series) -> str:
    """Return a column's type from all its known values: number, yes/no or text."""
    known = values.drop_nulls()
    if known.is_empty():
        return "text"
    if known.str.to_lowercase().is_in(["yes", "no"]).all():
        return "yes/no"
    if known.cast(pl.Float64, strict=False).null_count() == 0:
        return "number"
    return "text"


def load_export(con, files: export.ExportFiles) -> dict[str, str]:
    """Load the export into a database; return the custom attributes' types."""
    frame = read_export(files.leads)
    leads = frame.select(
        pl.col("Prospect ID").alias("lead_id"),
        pl.col("Created On").str.to_datetime().alias("created_at"),
        pl.col("Lead Source").fill_null("unknown").alias("channel"),
        pl.col("Country").alias("country"),
    )
    con.register("export_leads", leads)
    con.execute(
        "insert into leads (lead_id, created_at, channel, country) "
        "select lead_id, created_at, channel, country from export_leads"
    )
    types = {c: column_type(frame[c]) for c in frame.columns if c not in MAPPED}
    rows = []
    for name, kind in types.items():
        column = frame.select(pl.col("Prospect ID").alias("lead_id"), pl.col(name).alias("v"))
        column = column.filter(pl.col("v").is_not_null())
        if kind == "text":
            number = pl.lit(None, dtype=pl.Float64)
            text = pl.col("v")
        elif kind == "yes/no":
            number = (pl.col("v").str.to_lowercase() == "yes").cast(pl.Float64)
            text = pl.lit(None, dtype=pl.String)
        else:
            number = pl.col("v").cast(pl.Float64)
            text = pl.lit(None, dtype=pl.String)
        rows.append(
            column.select(
                "lead_id",
                pl.lit(name).alias("attribute"),
                text.alias("text_value"),
                number.alias("number_value"),
            )
        )
    con.register("export_attributes", pl.concat(rows))
    con.execute("insert into lead_attributes select * from export_attributes")
    con.register(
        "export_types",
        pl.DataFrame({"attribute": list(types), "value_type": list(types.values())}),
    )
    con.execute(
        "insert into lead_attribute_types (attribute, value_type, source_file) "
        "select attribute, value_type, 'leads.csv' from export_types"
    )
    stages = pl.read_csv(files.stage_changes, try_parse_dates=True)
    con.register(
        "export_stages",
        stages.select(
            pl.col("Prospect ID").alias("lead_id"),
            pl.col("Stage").alias("stage"),
            pl.col("Changed At").alias("changed_at"),
            pl.col("Amount").alias("amount"),
        ),
    )
    con.execute(
        "insert into stage_changes (lead_id, stage, changed_at, amount) "
        "select lead_id, stage, changed_at, amount from export_stages"
    )
    for name in ("export_leads", "export_attributes", "export_types", "export_stages"):
        con.unregister(name)
    return types
