"""Suggested weights from every field, on a generated CRM lead export with planted effects
(funnelcast.demo.export: conversion rising with visits, "Do Not Email" = Yes never converting,
occupation values, two columns filled after the sale): the draft finds the effects, leaves the
leaky columns out and names them, ranks held-out leads as well as scikit-learn's plain logistic
regression on the export's own columns, and picks an MQL share by F1; `funnelcast suggest`'s JSON
and --out file.

The export is loaded as a new user would load it: `funnelcast import` with no mapping at all
(the lead id, creation date and channel are recognised by their headers; every other column is
kept as a typed custom attribute, "Select" and blanks missing).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

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

# The plain baseline reads the export itself: the four columns the importer maps to built-in
# fields, and every column as text with the placeholders missing.
MAPPED = {
    "Prospect ID": "lead_id",
    "Created On": "created_at",
    "Lead Source": "channel",
    "Country": "country",
}
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


# =====================================================================================
# The generated export with its known answers
# =====================================================================================

LEADS, SEED = 9_000, 17


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xeducation")
    files = export.write_export(folder, leads=LEADS, seed=SEED)
    path = folder / "export.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        capture = _Capture()
        patch.setattr("sys.stdout", capture)
        assert main(["import", "--db", str(path), "--table", "leads", str(files.leads)]) == 0
        printed = capture.text()
        assert (
            main(
                ["import", "--db", str(path), "--table", "stage_changes", str(files.stage_changes)]
            )
            == 0
        )
    return files, path, printed


class _Capture(io.StringIO):
    def text(self) -> str:
        return self.getvalue()


@pytest.fixture(scope="module")
def export_db(imported):
    return imported[:2]


def test_the_export_imports_with_no_mapping_every_column_kept_and_typed(imported):
    files, path, printed = imported
    assert "'Prospect ID' read as lead_id" in printed
    assert "'Created On' read as created_at" in printed
    con = db.connect(path, read_only=True)
    try:
        types = dict(
            con.execute("select attribute, value_type from lead_attribute_types").fetchall()
        )
        header = pl.read_csv(files.leads, n_rows=1, infer_schema=False).columns
        builtin = {"Prospect ID", "Created On", "Lead Source", "Country"}
        assert set(types) == set(header) - builtin  # every other column kept
        assert types["TotalVisits"] == "number"
        assert types["Do Not Email"] == "yes/no"
        assert types["What is your current occupation"] == "text"
        assert types["Lead Number"] == "number"
        assert con.execute("select count(*) from leads").fetchall()[0][0] == LEADS
        # "Select" is the export's blank: never stored as a value
        selects = con.execute(
            "select count(*) from lead_attributes where text_value = 'Select'"
        ).fetchall()[0][0]
        assert selects == 0
        frame = pl.read_csv(files.leads, infer_schema=False)
        blank = frame.filter(
            pl.col("Specialization").is_in(["Select", ""]) | pl.col("Specialization").is_null()
        ).height
        stored = con.execute(
            "select count(*) from lead_attributes where attribute = 'Specialization'"
        ).fetchall()[0][0]
        assert stored == LEADS - blank
        assert f"Specialization: text, {blank:,} empty" in printed
    finally:
        con.close()


@pytest.fixture(scope="module")
def export_cur(export_db):
    con = db.connect(export_db[1], read_only=True)
    yield con.cursor()
    con.close()


@pytest.fixture(scope="module")
def suggestion(export_cur):
    return suggest.suggest_weights(export_cur)


def test_the_export_is_seeded_and_shaped_like_a_crm_lead_export(tmp_path, export_db):
    files, _ = export_db
    again = export.write_export(tmp_path, leads=LEADS, seed=SEED)
    assert again.leads.read_bytes() == files.leads.read_bytes()
    assert again.stage_changes.read_bytes() == files.stage_changes.read_bytes()
    frame = pl.read_csv(files.leads, infer_schema=False)
    assert frame.height == LEADS and 35 <= frame.width <= 40
    for column in ("Prospect ID", "Lead Number", "Do Not Email", "TotalVisits", "Tags"):
        assert column in frame.columns
    assert (frame["Specialization"] == "Select").sum() > LEADS * 0.1  # the blank placeholder
    stages = pl.read_csv(files.stage_changes)
    never = frame.filter(pl.col("Do Not Email") == "Yes")["Prospect ID"]
    assert never.len() > 500 and not stages["Prospect ID"].is_in(never.implode()).any()


def _rows(s: suggest.Suggestion, field: str) -> list[dict]:
    return s.weights.filter(pl.col("attribute") == field).to_dicts()


def test_the_visit_bands_rise(suggestion):
    bands = [r for r in _rows(suggestion, "TotalVisits") if r["op"] == "between"]
    assert len(bands) >= 3
    points = [r["points"] for r in bands]  # in the bands' order, lowest visits first
    assert points == sorted(points) and points[-1] >= points[0] + 15
    # and the draft says so with open-ended bands
    rules = [r for r in suggestion.draft.fit_rules if r.attribute == "TotalVisits"]
    assert any(r.op == "between" and r.value[1] is None and r.points > 0 for r in rules)


def test_do_not_email_yes_disqualifies(suggestion):
    (rule,) = [r for r in suggestion.draft.fit_rules if r.attribute == "Do Not Email"]
    assert (rule.op, rule.value, rule.is_disqualifier) == ("is", "Yes", True)


def test_working_professionals_score_best_and_unknown_occupation_worse(suggestion):
    field = "What is your current occupation"
    points = {r["value"]: r["points"] for r in _rows(suggestion, field)}
    assert points["Working Professional"] == max(points.values()) >= 25
    assert points["Working Professional"] > points["Unemployed"] > points[""]  # "" : unknown
    assert any(
        r.attribute == field and r.value == "Working Professional" and r.points >= 25
        for r in suggestion.draft.fit_rules
    )


def test_the_columns_filled_after_the_sale_are_left_out_and_named(suggestion):
    reasons = dict(suggestion.left_out.iter_rows())
    for field in export.PLANTED["leaky"]:
        assert reasons[field].startswith(suggest.AFTER_OUTCOME)
        assert field not in suggestion.weights["attribute"]
        assert all(r.attribute != field for r in suggestion.draft.fit_rules)
    assert "filled for 9" in reasons["Tags"]  # 92% of the converted
    assert "alone it predicts" in reasons["Lead Status"]


def test_the_draft_is_a_valid_definition_of_readable_rules(suggestion):
    draft = suggestion.draft
    assert definitions.validate(draft, suggestion.fields) == []
    ops = {r.op for r in draft.fit_rules}
    assert ops <= {"between", "is", "is any of", "is none of", "is unknown", "is known"}
    assert {"between", "is"} <= ops
    assert all(-100 <= r.points <= 100 for r in draft.fit_rules)
    assert draft.behaviour_rules == ()  # the export has no event stream
    assert 0 < draft.threshold <= 1000


def _plain_auc(cur, s: suggest.Suggestion, files: export.ExportFiles) -> float:
    """Return scikit-learn's plain logistic regression's held-out AUC on the export's own
    columns (the fields the suggestion learnt from), on the suggestion's split."""
    f = suggest.known_outcome_features(cur)
    ids = f.leads["lead_id"]
    frame = read_export(files.leads).rename({k: v for k, v in MAPPED.items()})
    left_out = set(s.left_out["field"]) | {"lead_id", "created_at"}
    used = [c for c in frame.columns if c not in left_out]
    types = {c: column_type(frame[c]) for c in used}
    numbers = [c for c in used if types[c] == "number"]
    texts = [c for c in used if types[c] != "number"]
    table = (
        pl.DataFrame({"lead_id": ids, "y": f.converted})
        .join(frame, on="lead_id", how="left", maintain_order="left")
        .with_columns(pl.col(numbers).cast(pl.Float64))
        .to_pandas()
    )
    model = make_pipeline(
        ColumnTransformer(
            [
                (
                    "numbers",
                    make_pipeline(
                        SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                    ),
                    numbers,
                ),
                (
                    "texts",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="(missing)"),
                        OneHotEncoder(handle_unknown="ignore"),
                    ),
                    texts,
                ),
            ]
        ),
        LogisticRegression(max_iter=2_000),
    )
    n_train = s.train_leads
    train, test = table.iloc[:n_train], table.iloc[n_train:]
    model.fit(train[used], train["y"])
    return float(roc_auc_score(test["y"], model.predict_proba(test[used])[:, 1]))


def test_the_draft_ranks_held_out_leads_as_well_as_a_plain_logistic_regression(
    export_cur, export_db, suggestion
):
    plain = _plain_auc(export_cur, suggestion, export_db[0])
    assert plain > 0.8  # the planted effects are there to be found
    assert suggestion.auc["draft"] >= plain - 0.01
    assert suggestion.auc["model"] >= plain - 0.01
    assert abs(suggestion.auc["draft"] - plain) <= 0.01


def test_without_a_definition_the_threshold_takes_the_share_that_maximises_f1(
    export_cur, suggestion
):
    s = suggestion
    assert s.definition_id is None and s.threshold_basis == suggest.BEST_F1
    target = s.mql_share["target"]
    assert 0 < target < 1 and s.mql_share["draft"] == pytest.approx(target, abs=0.005)
    assert "maximises F1" in s.threshold_why
    # no whole-number threshold makes a better F1 on the training leads (all of them scored:
    # fewer than the volume sample, and without events a score never changes)
    f = suggest.known_outcome_features(export_cur)
    score = suggest.score_definition(f, s.draft)[: s.train_leads]
    y = f.converted[: s.train_leads]

    def f1(threshold: float) -> float:
        mql = score >= threshold
        hits = np.count_nonzero(mql & y)
        return 2 * hits / (np.count_nonzero(mql) + np.count_nonzero(y))

    best = max(f1(t) for t in range(0, int(score[np.isfinite(score)].max()) + 2))
    assert f1(s.draft.threshold) == pytest.approx(best)


def test_the_draft_scores_as_the_database_does_once_saved(tmp_path, export_db, suggestion):
    """Saved, the draft's rules on custom fields (bands, values, flags, unknowns) score every
    lead in SQL exactly as the suggestion scored it."""
    path = tmp_path / "copy.duckdb"
    path.write_bytes(export_db[1].read_bytes())
    con = db.connect(path)
    cur = con.cursor()
    saved = definitions.save(cur, suggestion.draft, "next")
    f = suggest.known_outcome_features(cur)
    expected = suggest.score_definition(f, suggestion.draft)
    rows = db.run(cur, "lead_scores", definition_id=saved.definition_id, as_of=f.as_of)
    got = dict(
        zip(
            rows["lead_id"].to_list(),
            np.where(rows["is_disqualified"].to_numpy(), -np.inf, rows["score"].to_numpy()),
            strict=True,
        )
    )
    assert [got[i] for i in f.leads["lead_id"].to_list()] == pytest.approx(list(expected))
    con.close()


# =====================================================================================
# funnelcast suggest
# =====================================================================================


def test_the_cli_prints_the_suggestion_as_json(export_db, capsys):
    assert main(["suggest", "--db", str(export_db[1]), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"auc", "lift", "mql_share", "weights", "left_out", "draft"} <= set(out)
    assert set(out["auc"]) == {"model", "draft", "current"} and out["auc"]["current"] is None
    assert {"current", "draft"} <= set(out["mql_share"])
    assert out["mql_share"]["chosen_by"] == "f1" and out["mql_share"]["current"] is None
    assert {r["field"] for r in out["left_out"]} >= {"Tags", "Lead Status"}
    assert all(r["reason"] for r in out["left_out"])
    assert out["draft"]["threshold"] > 0 and out["draft"]["fit_rules"]
    assert not math.isnan(out["auc"]["draft"])


def test_the_cli_table_names_what_was_left_out(export_db, capsys):
    assert main(["suggest", "--db", str(export_db[1])]) == 0
    out = capsys.readouterr().out
    assert "reaching SQL" in out and "Left out:" in out and "Tags: possibly filled" in out
    assert "Do Not Email=Yes" in out and "disqualifies" in out
    assert main(["suggest", "--db", str(export_db[1]), "--outcome", "customer"]) == 0
    assert "reaching customer" in capsys.readouterr().out


def test_the_cli_writes_a_draft_file_that_definition_save_accepts(tmp_path, export_db, capsys):
    path = tmp_path / "copy.duckdb"
    path.write_bytes(export_db[1].read_bytes())
    draft = tmp_path / "draft.toml"
    assert main(["suggest", "--db", str(path), "--out", str(draft)]) == 0
    assert draft.exists() and "wrote" in capsys.readouterr().out
    # refused the second time without --replace
    assert main(["suggest", "--db", str(path), "--out", str(draft)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["definition", "save", "--db", str(path), str(draft), "--quarter", "next"]) == 0
    con = db.connect(path, read_only=True)
    saved = definitions.load(con.cursor(), 1)
    con.close()
    assert any(r.op == "between" and r.attribute == "TotalVisits" for r in saved.fit_rules)
