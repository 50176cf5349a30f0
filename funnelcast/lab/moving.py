"""Who moves: the leads a candidate definition takes in or drops against the current one.

who_moves counts them by persona dimension and value and samples the most marginal (closest to
the threshold on either side) with their candidate MQL moments, on every threshold move; movers
lists them all, for a CSV download. Both read a scoring's best score per lead (Scores.lead_max,
its own array) and the current definitions' MQL moments.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import polars as pl

from funnelcast.lab import _fast
from funnelcast.lab._fast import BIAS, NEVER
from funnelcast.lab.history import Materialised
from funnelcast.lab.scores import Scores
from funnelcast.lab.weights import threshold_micro

PERSONA = ("channel", "seniority", "company_size_band", "industry", "region")
NO_VALUE = "(none)"


@dataclass(frozen=True)
class Movers:
    """The leads a candidate definition takes in or drops, against the current one, over history.

    by_group: one row per persona dimension and value: entering, leaving, net.
    sample: the most marginal movers, those closest to the threshold on either side.
    """

    entering: int
    leaving: int
    staying: int
    by_group: pl.DataFrame
    sample: pl.DataFrame


# Who moves runs on every threshold move against the same current moments: the mask of
# which leads they make MQLs is kept, by a weak reference to moments no one can change.
_IS_MQL: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def _is_mql(mql_us: np.ndarray) -> np.ndarray:
    """Return mql_us != NEVER, kept for read-only moments (as mql_moments returns them)."""
    kept = _IS_MQL.get(id(mql_us))
    if kept is not None and kept[0]() is mql_us:
        return kept[1]
    mask = mql_us != NEVER
    if mql_us.flags.writeable:
        return mask
    for key, (ref, _) in list(_IS_MQL.items()):  # moments go with their definitions
        if ref() is None:
            _IS_MQL.pop(key, None)
    if len(_IS_MQL) < 8:
        _IS_MQL[id(mql_us)] = (weakref.ref(mql_us), mask)
    return mask


@dataclass(frozen=True)
class _MoverIndex:
    """Who moves for any threshold of one scoring against one set of current moments: the keys
    of the leads that may enter and of those that may leave, sorted (counting.mover_keys), and
    their counts by persona every MOVER_STEP keys."""

    keys_in: np.ndarray
    keys_out: np.ndarray
    index_bits: int
    marks_in: np.ndarray
    marks_out: np.ndarray
    total_in: np.ndarray  # the counts by persona of every lead that may enter
    width: int

    def at(
        self, s: int, codes: tuple, ins: np.ndarray, outs: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
        """Return who moves at s >= 0 as _fast.who_moves does, adding to ins and outs."""
        bits, width = self.index_bits, self.width
        top = (1 << bits) - 1
        p_in = int(np.searchsorted(self.keys_in, s << bits))
        p_out = int(np.searchsorted(self.keys_out, (s + 1) << bits))  # best < s
        below = np.zeros_like(ins)
        _fast.movers_before(self.keys_in, bits, False, self.marks_in, codes, width, p_in, below)
        ins += self.total_in - below
        _fast.movers_before(self.keys_out, bits, True, self.marks_out, codes, width, p_out, outs)
        closest_in = self.keys_in[p_in : p_in + k] & top
        closest_out = (top - (self.keys_out[max(p_out - k, 0) : p_out] & top))[::-1].copy()
        entering, leaving = len(self.keys_in) - p_in, p_out
        return closest_in, closest_out, entering, leaving, len(self.keys_out) - leaving


# per scoring, per current moments' mask (by identity): how often who moves asked, the index
_MOVER_INDEX: weakref.WeakKeyDictionary[Scores, dict[int, tuple[np.ndarray, _MoverIndex | None]]]
_MOVER_INDEX = weakref.WeakKeyDictionary()
_MOVER_LOCK = threading.Lock()


def _mover_index(
    scores: Scores, is_mql: np.ndarray, codes: tuple, width: int
) -> _MoverIndex | None:
    """Return the movers' index of this scoring against this mask (of moments no one can
    change), built the second time who moves asks of them (None the first time)."""
    with _MOVER_LOCK:
        asked = _MOVER_INDEX.setdefault(scores, {})
        kept = asked.get(id(is_mql))
        if kept is not None and kept[0] is is_mql and kept[1] is not None:
            return kept[1]
        if kept is None or kept[0] is not is_mql:
            asked.clear()  # one set of moments at a time per scoring
            asked[id(is_mql)] = (is_mql, None)
            return None
        bits = max(1, len(scores.lead_max).bit_length())
        top = int(scores.lead_max.max()) + 1 if len(scores.lead_max) else 0
        if top.bit_length() + bits > 62:
            return None
        keys_in, keys_out = _fast.mover_keys(scores.lead_max, is_mql, bits)
        _fast.sort_keys(keys_in)
        _fast.sort_keys(keys_out)
        total_in = np.zeros((len(codes), width), dtype=np.int64)
        marks_in = _fast.mover_checkpoints(keys_in, bits, False, codes, width)
        _fast.movers_before(keys_in, bits, False, marks_in, codes, width, len(keys_in), total_in)
        index = _MoverIndex(
            keys_in,
            keys_out,
            bits,
            marks_in,
            _fast.mover_checkpoints(keys_out, bits, True, codes, width),
            total_in,
            width,
        )
        asked[id(is_mql)] = (is_mql, index)
        return index


def _moving(
    current_mql_us: np.ndarray, scores: Scores, threshold: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Return the leads entering and leaving MQL (in lead order), and how many stay."""
    qualifies = scores.lead_max >= threshold_micro(threshold)
    current = _is_mql(current_mql_us)
    entering = np.flatnonzero(qualifies & ~current)
    leaving = np.flatnonzero(current & ~qualifies)
    return entering, leaving, int(np.count_nonzero(qualifies & current))


def _closest(leads: np.ndarray, best: np.ndarray, n: int, highest: bool) -> np.ndarray:
    """Return up to n leads by best score, from the lowest (or highest), ties by lead."""
    if n <= 0:
        return leads[:0]
    key = -best[leads] if highest else best[leads]
    if len(leads) > n:
        part = np.argpartition(key, n - 1)[:n]
        leads, key = leads[part], key[part]
    return leads[np.lexsort((leads, key))]


def who_moves(
    m: Materialised,
    current_mql_us: np.ndarray,
    scores: Scores,
    threshold: float,
    sample: int = 20,
) -> Movers:
    """Return who would become an MQL at some point, or stop being one, under the candidate.

    current_mql_us: each lead's MQL moment under the current definition (NEVER: none).
    """
    s = threshold_micro(threshold)
    # per persona dimension and value, the movers each way; the most marginal of each way,
    # the lowest best score that now qualifies and the highest that no longer does: one pass
    # over the leads (as _moving and mover_groups over its movers would find them)
    codes = tuple(m.codes[dimension] for dimension in PERSONA)
    width = max(len(m.values[dimension]) + 1 for dimension in PERSONA)
    ins = np.zeros((len(PERSONA), width), dtype=np.int64)
    outs = np.zeros((len(PERSONA), width), dtype=np.int64)
    k = max(sample, 0)
    is_mql = _is_mql(current_mql_us)
    # moments no one can change keep their mask (see _is_mql): by it, the index is kept
    fixed = not current_mql_us.flags.writeable
    index = _mover_index(scores, is_mql, codes, width) if fixed else None
    if index is None:  # the first ask of this scoring and these moments: one pass
        closest_in, closest_out, entering, leaving, staying = _fast.who_moves(
            scores.lead_max, is_mql, s, codes, ins, outs, k
        )
    else:  # a binary search per side and a checkpoint's row
        closest_in, closest_out, entering, leaving, staying = index.at(s, codes, ins, outs, k)
    groups = []
    for i, dimension in enumerate(PERSONA):
        values = (*m.values[dimension], NO_VALUE)
        for code in np.flatnonzero(ins[i] + outs[i]):
            into, out_of = int(ins[i, code]), int(outs[i, code])
            groups.append((dimension, values[code], into, out_of, into - out_of))
    by_group = pl.DataFrame(
        groups,
        schema={
            "dimension": pl.String,
            "value": pl.String,
            "entering": pl.Int64,
            "leaving": pl.Int64,
            "net": pl.Int64,
        },
        orient="row",
    )
    # when each entering lead of the sample first reaches s (those leaving never do)
    first_at = np.full(len(closest_in) + len(closest_out), NEVER)
    _fast.crossings(
        closest_in,
        m.history,
        scores.weights.arrays,
        m.check_moments,
        s,
        -NEVER,
        NEVER,
        first_at,
        most=m.most_checks,
    )
    return Movers(
        entering=int(entering),
        leaving=int(leaving),
        staying=int(staying),
        by_group=by_group,
        sample=_lead_frame(
            m,
            np.concatenate([closest_in, closest_out]),
            len(closest_in),
            scores,
            current_mql_us,
            candidate_mql_us=first_at,
        ),
    )


def movers(
    m: Materialised, current_mql_us: np.ndarray, scores: Scores, threshold: float
) -> pl.DataFrame:
    """Return every lead that enters or leaves MQL under the candidate, for a CSV download."""
    entering, leaving, _ = _moving(current_mql_us, scores, threshold)
    entering = _closest(entering, scores.lead_max, len(entering), highest=False)
    leaving = _closest(leaving, scores.lead_max, len(leaving), highest=True)
    return _lead_frame(
        m, np.concatenate([entering, leaving]), len(entering), scores, current_mql_us
    )


def _lead_frame(
    m: Materialised,
    leads: np.ndarray,
    n_entering: int,
    scores: Scores,
    current_mql_us: np.ndarray,
    candidate_mql_us: np.ndarray | None = None,
) -> pl.DataFrame:
    """Return leads (the first n_entering enter, the rest leave) with their persona, best
    candidate score, current and recorded MQL moments and outcomes, and when given the
    candidate's MQL moment (NEVER: none)."""

    def moment(us: np.ndarray) -> pl.Series:
        return (
            pl.Series(np.where(us == NEVER, 0, us), dtype=pl.Int64)
            .cast(pl.Datetime("us"))
            .scatter(np.flatnonzero(us == NEVER), None)
        )

    best = scores.lead_max[leads]
    candidate = {} if candidate_mql_us is None else {"candidate_mql_at": moment(candidate_mql_us)}
    return pl.DataFrame(
        {
            "lead_id": m.lead_id.gather(leads),
            "direction": np.array(["enters", "leaves"])[(np.arange(len(leads)) >= n_entering) * 1],
            **{
                dimension: np.array((*m.values[dimension], NO_VALUE), dtype=object)[
                    m.codes[dimension][leads]
                ]
                for dimension in PERSONA
            },
            "best_score": np.where(best <= -BIAS, np.nan, best / 1e6),
            "current_mql_at": moment(current_mql_us[leads]),
            "recorded_mql_at": moment(m.recorded_mql_us[leads]),
            "reached_sql_at": moment(m.reached_sql_us[leads]),
            "reached_customer_at": moment(m.reached_customer_us[leads]),
            **candidate,
        },
        schema_overrides={"direction": pl.String, **{d: pl.String for d in PERSONA}},
        nan_to_null=True,
    )
