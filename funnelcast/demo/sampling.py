"""The draws and time units every demo generator shares: categories picked from weights, and
days as microseconds since the Unix epoch (the generators' clock)."""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import ArrayLike

DAY_US = 86_400_000_000


def day_us(day: dt.date) -> int:
    """Return microseconds since the Unix epoch at midnight UTC starting day."""
    return (day - dt.date(1970, 1, 1)).days * DAY_US


def days_us(days: np.ndarray) -> np.ndarray:
    """Return a duration in days as whole seconds, in microseconds."""
    return np.round(np.asarray(days) * 86_400).astype(np.int64) * 1_000_000


def pick(rng: np.random.Generator, weights: ArrayLike, size: int | None = None) -> np.ndarray:
    """Return category indices drawn from weights: one vector (with size) or one row per draw."""
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        return rng.choice(len(w), size=size, p=w / w.sum())
    cumulative = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), w.shape[1] - 1)
