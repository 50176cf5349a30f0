"""Judging scores against known outcomes: AUC (scikit-learn's roc_auc_score), lift by score
decile, operating points (the MQLs a threshold makes and how they convert) and the MQL share that
maximises F1 (from scikit-learn's precision_recall_curve).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_auc_score


def auc(score: np.ndarray, converted: np.ndarray) -> float | None:
    """Return the area under the ROC curve (ties count half), or None with only one class.

    Disqualified leads score -inf: the AUC is of the scores' ranks, which keeps them lowest.
    """
    converted = np.asarray(converted, dtype=bool)
    positives = int(np.count_nonzero(converted))
    if positives == 0 or positives == len(converted):
        return None
    return float(roc_auc_score(converted, rankdata(np.asarray(score, dtype=np.float64))))


def lift_by_decile(score: np.ndarray, converted: np.ndarray, deciles: int = 10) -> pl.DataFrame:
    """Return per score decile (1 = highest scores): leads, converted, rate and rate / overall.

    Leads with the same score share a decile (the one their middle rank falls in), so deciles
    can differ in size and some can be empty (rate and lift null).
    """
    score = np.asarray(score, dtype=np.float64)
    converted = np.asarray(converted, dtype=bool)
    n = len(score)
    if n:
        from_top = n + 1 - rankdata(score)  # 1 = highest score, ties averaged
        decile = np.minimum((deciles * (from_top - 0.5) / n).astype(np.int64), deciles - 1)
    else:
        decile = np.zeros(0, dtype=np.int64)
    leads = np.bincount(decile, minlength=deciles)
    hits = np.bincount(decile, weights=converted, minlength=deciles).astype(np.int64)
    overall = converted.mean() if n else 0.0
    rate = [h / c if c else None for h, c in zip(hits, leads, strict=True)]
    return pl.DataFrame(
        {
            "decile": np.arange(1, deciles + 1),
            "leads": leads,
            "converted": hits,
            "rate": rate,
            "lift": [r / overall if r is not None and overall > 0 else None for r in rate],
        },
        schema={
            "decile": pl.Int64,
            "leads": pl.Int64,
            "converted": pl.Int64,
            "rate": pl.Float64,
            "lift": pl.Float64,
        },
    )


def f1_share(score: np.ndarray, converted: np.ndarray) -> float | None:
    """Return the share of leads at or above the score that maximises F1 (converted leads as
    the positives), never 0 or 1; None when no threshold makes a share strictly between.

    Disqualified leads (-inf) are never above a threshold.
    """
    score = np.asarray(score, dtype=np.float64)
    converted = np.asarray(converted, dtype=bool)
    n = len(score)
    eligible = np.isfinite(score)
    if not n or not converted.any() or not eligible.any():
        return None
    precision, recall, thresholds = precision_recall_curve(
        converted, np.where(eligible, score, np.min(score[eligible]) - 1.0)
    )
    ordered = np.sort(score[eligible])
    # leads at or above each threshold: those not below it
    shares = (len(ordered) - np.searchsorted(ordered, thresholds, side="left")) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1])
    usable = (shares > 0) & (shares < 1) & np.isfinite(f1)
    if not usable.any():
        return None
    best = np.flatnonzero(usable)[np.argmax(f1[usable])]
    return float(shares[best])


def _operating_point(
    name: str, score: np.ndarray, converted: np.ndarray, threshold: float
) -> tuple:
    """Return (score, threshold, MQLs, their share, their conversion rate, share of conversions)."""
    above = score >= threshold
    mqls = int(above.sum())
    hits = int(converted[above].sum())
    total = int(converted.sum())
    return (
        name,
        float(threshold),
        mqls,
        mqls / len(score) if len(score) else None,
        hits / mqls if mqls else None,
        hits / total if total else None,
    )


def lifts(scores: dict[str, np.ndarray], converted: np.ndarray) -> pl.DataFrame:
    """Return lift_by_decile of each named score, one frame with the name in column score."""
    return pl.concat(
        [
            lift_by_decile(s, converted).select(pl.lit(name).alias("score"), pl.all())
            for name, s in scores.items()
        ]
    )


def operating_points(
    scores: dict[str, np.ndarray], converted: np.ndarray, thresholds: dict[str, float]
) -> pl.DataFrame:
    """Return per named score that has a threshold: score, threshold, mqls, share, rate, capture.

    Over the leads at or above the threshold: how many (mqls), their share of all, their
    conversion rate, and their share of the conversions (capture).
    """
    return pl.DataFrame(
        [
            _operating_point(name, scores[name], converted, t)
            for name, t in thresholds.items()
            if name in scores
        ],
        schema={
            "score": pl.String,
            "threshold": pl.Float64,
            "mqls": pl.Int64,
            "share": pl.Float64,
            "rate": pl.Float64,
            "capture": pl.Float64,
        },
        orient="row",
    )
