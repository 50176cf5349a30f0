"""The Threshold Lab engine: what-if MQL definitions, backtested on history, fast at 1M leads.

A definition's MQL moments (queries/computed_mql_moments.sql) depend on the data in two layers:
- what a slider cannot change, held here once per data load and half-life (`Materialised`):
  per lead its fit attribute codes and outcomes, and per check moment (its creation and each
  scoring event at or after it) the decayed sum of each event type, sum 0.5^(age / half-life)
  over its events so far (penalty types: the plain count, as penalties do not decay);
- what a weight or fit-point change recomputes from that (`Scores`, see `score`): each check's
  score, fit + sum over types of min(cap, points x decayed sum), and each lead's record highs.
  A lead becomes an MQL at the first check whose rounded score reaches the threshold, so the
  record high at check i (its score above every earlier one) is the MQL moment for exactly the
  thresholds in (previous record, score_i]. Records are kept as sorted keys (day, bound), so a
  threshold move counts each day's MQLs with two binary searches (see `backtest`).

Scores are compared in integer micro-points: DuckDB's round(x, 6) is round-half-away(x * 1e6)
/ 1e6, so round(x, 6) >= T exactly when that integer reaches `threshold_micro(T)`.

Checks live in one array in position-major order: all leads' creation checks first, then every
lead's second check, and so on, leads ranked by how many checks they have. A lead's running sums
and running maximum then move block by block in a few hundred vectorised steps.

A Materialised is read-only once built, so sessions can share it; a half-life change makes a
new one that shares all but the sums (`with_half_life`). A new event type, or a type turning
from reward to penalty, needs a new materialisation (`score` raises Rematerialise).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import numbers
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import polars as pl

from funnelcast import db, metrics, periods
from funnelcast.definitions import Definition
from funnelcast.stats import rate, ratio

DAY_US = 86_400_000_000
NEVER = np.iinfo(np.int64).max  # a moment that never came: no MQL, no SQL, no customer
# Keys pack (day, score in micro-points): 2^43 micro-points is 8.8 million points either way.
SCORE_BITS = 44
BIAS = 1 << (SCORE_BITS - 1)
# Rows handled per vectorised step: small enough that a chunk's temporaries stay in cache.
CHUNK = 1 << 15
FIT_ATTRIBUTES = ("channel", "industry", "company_size_band", "country", "region", "seniority")
PERSONA = ("channel", "seniority", "company_size_band", "industry", "region")
NO_VALUE = "(none)"


class Rematerialise(ValueError):
    """A definition scores event types, or signs of points, the materialised sums do not hold."""


# =====================================================================================
# what a slider cannot change
# =====================================================================================


@dataclass(frozen=True)
class Calendar:
    """Days and fiscal quarters of the data: day 0 is the first quarter's first day."""

    quarters: list[periods.Quarter]
    day0: dt.date
    as_of: dt.datetime | None
    quarter_start_day: np.ndarray  # day index where each quarter starts, plus the end
    quarter_of_day: np.ndarray  # quarter index of each day
    is_mature: np.ndarray  # per quarter: its MQL cohort has had time to convert
    spend: np.ndarray  # per quarter

    @property
    def n_days(self) -> int:
        """Return the number of days the quarters cover."""
        return len(self.quarter_of_day)

    def day_of(self, us: np.ndarray) -> np.ndarray:
        """Return the day index of moments in microseconds since the epoch."""
        return (us - _day_us(self.day0)) // DAY_US

    def quarter_indices(self, labels: Sequence[str] | None) -> np.ndarray:
        """Return the indices of quarters by label (all quarters for None)."""
        if labels is None:
            return np.arange(len(self.quarters))
        index = {q.label: i for i, q in enumerate(self.quarters)}
        unknown = [label for label in labels if label not in index]
        if unknown:
            span = f"{self.quarters[0].label} to {self.quarters[-1].label}"
            raise metrics.MetricsInputError(
                f"quarter {', '.join(unknown)} is not in the data ({span})"
            )
        return np.array(sorted({index[label] for label in labels}), dtype=np.int64)


@dataclass(eq=False)
class Materialised:
    """Per lead and per check moment, what no weight, cap, fit point or threshold changes.

    Arrays indexed by lead follow lead_id order; arrays indexed by row follow the position-major
    check layout (row offsets[j] + rank is the j-th check of the lead with that rank).
    """

    half_life_days: float
    event_types: tuple[str, ...]  # types that decay, then penalty types
    n_decaying: int
    calendar: Calendar
    lead_id: pl.Series
    codes: dict[str, np.ndarray]  # fit attribute -> value code per lead (len(values): none)
    values: dict[str, tuple[str, ...]]  # fit attribute -> its values, sorted
    created_us: np.ndarray
    recorded_mql_us: np.ndarray
    reached_sql_us: np.ndarray
    reached_customer_us: np.ndarray
    stage_totals: dict[str, np.ndarray]  # 'sql', 'customer' -> leads reaching it per quarter
    order: np.ndarray  # lead index of each rank: leads with more checks first
    rank: np.ndarray  # rank of each lead
    offsets: np.ndarray  # first row of each check position, plus the end
    check_us: np.ndarray  # moment of each check
    check_day: np.ndarray  # day index of each check
    decayed: np.ndarray  # (decaying types, checks): sum of 0.5^(age / half-life)
    counts: np.ndarray  # (penalty types, checks): events so far
    event_row: np.ndarray  # decaying-type events at or after creation: their check row,
    event_type: np.ndarray  # type and how many at that moment
    event_count: np.ndarray
    early_rank: np.ndarray  # decaying-type events before creation: the lead's rank,
    early_age_us: np.ndarray  # age at creation, type and count
    early_type: np.ndarray
    early_count: np.ndarray

    @property
    def n_leads(self) -> int:
        """Return the number of leads."""
        return len(self.order)

    @property
    def n_checks(self) -> int:
        """Return the number of check moments."""
        return len(self.check_us)

    @property
    def nbytes(self) -> int:
        """Return the bytes the numpy arrays hold."""
        return sum(
            v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)
        ) + sum(c.nbytes for c in self.codes.values())

    def lead_index(self, lead_id: str) -> int:
        """Return a lead's index; FunnelcastError when there is no such lead."""
        position = int(self.lead_id.search_sorted(lead_id))
        if position >= len(self.lead_id) or self.lead_id[position] != lead_id:
            raise db.FunnelcastError(f"no lead with id {lead_id!r}")
        return position


def materialise(
    cur: duckdb.DuckDBPyConnection,
    half_life_days: float,
    event_types: Iterable[str],
    penalty_types: Iterable[str] = (),
) -> Materialised:
    """Return the history materialised for scoring with these event types and half-life.

    penalty_types are the event types whose points are negative: they count, undecayed.
    """
    penalties = set(penalty_types)
    wanted = list(dict.fromkeys(event_types))
    types = tuple([t for t in wanted if t not in penalties] + [t for t in wanted if t in penalties])
    n_decaying = sum(t not in penalties for t in types)

    leads = db.run(cur, "lab_leads")
    codes, values = {}, {}
    for attribute in FIT_ATTRIBUTES:
        codes[attribute], values[attribute] = _encode(leads[attribute])
    moments = {
        name: leads[f"{name}_us"].fill_null(NEVER).to_numpy()
        for name in ("created", "recorded_mql", "reached_sql", "reached_customer")
    }
    lead_id = leads["lead_id"]
    del leads
    calendar = _calendar(cur, moments.values())

    # the frame goes straight in, so that nothing here keeps its 12 bytes per event alive
    layout = _layout(
        db.run(cur, "lab_check_events", event_types=list(types)),
        moments["created"], n_decaying, len(types) - n_decaying,
    )
    check_day = calendar.day_of(layout["check_us"])
    if len(check_day) and (check_day.min() < 0 or check_day.max() >= calendar.n_days):
        raise db.FunnelcastError("a lead or event lies outside the data's quarters")
    stage_totals = {}
    for stage in ("sql", "customer"):
        reached = moments[f"reached_{stage}"]
        reached = reached[reached != NEVER]
        stage_totals[stage] = np.bincount(
            calendar.quarter_of_day[calendar.day_of(reached)], minlength=len(calendar.quarters)
        )
    result = Materialised(
        half_life_days=float(half_life_days),
        event_types=types,
        n_decaying=n_decaying,
        calendar=calendar,
        lead_id=lead_id,
        codes=codes,
        values=values,
        created_us=moments["created"],
        recorded_mql_us=moments["recorded_mql"],
        reached_sql_us=moments["reached_sql"],
        reached_customer_us=moments["reached_customer"],
        stage_totals=stage_totals,
        check_day=check_day.astype(np.min_scalar_type(-calendar.n_days)),
        decayed=np.empty((n_decaying, len(layout["check_us"]))),
        **layout,
    )
    _sum_decayed(result, half_life_days)
    return result


def materialise_for(cur: duckdb.DuckDBPyConnection, *definitions: Definition) -> Materialised:
    """Return the history materialised for scoring these definitions (the first's half-life)."""
    rules = [rule for d in definitions for rule in d.behaviour_rules]
    return materialise(
        cur,
        definitions[0].half_life_days,
        [rule.event_type for rule in rules],
        [rule.event_type for rule in rules if rule.points < 0],
    )


def with_half_life(m: Materialised, half_life_days: float) -> Materialised:
    """Return the history with its decayed sums re-summed for another half-life.

    Everything else is shared with m, which stays as it was (other sessions may be using it);
    the new sums take as much memory again as m's.
    """
    other = dataclasses.replace(m, decayed=np.empty_like(m.decayed))
    _sum_decayed(other, half_life_days)
    return other


def _sum_decayed(m: Materialised, half_life_days: float) -> None:
    """Fill m's decayed sums for a half-life, in place (penalty counts do not decay)."""
    if not half_life_days > 0:
        raise ValueError(f"half-life must be more than 0 days, not {half_life_days}")
    d = m.decayed
    d.fill(0.0)
    d[m.event_type, m.event_row] = m.event_count
    # events before creation count from the creation check on, decayed by their age then
    np.add.at(
        d,
        (m.early_type, m.early_rank),
        m.early_count * np.exp2(-m.early_age_us / (DAY_US * half_life_days)),
    )
    # each check carries the previous check's sums forward, halved per half-life between them
    scale = -1.0 / (DAY_US * half_life_days)
    for j in range(1, len(m.offsets) - 1):
        here, before = m.offsets[j], m.offsets[j - 1]
        active = m.offsets[j + 1] - here
        for r0 in range(0, active, CHUNK):
            r1 = min(active, r0 + CHUNK)
            gap = m.check_us[here + r0 : here + r1] - m.check_us[before + r0 : before + r1]
            d[:, here + r0 : here + r1] += d[:, before + r0 : before + r1] * np.exp2(gap * scale)
    m.half_life_days = float(half_life_days)


def _calendar(cur: duckdb.DuckDBPyConnection, moments: Iterable[np.ndarray]) -> Calendar:
    """Return the data's quarters, stretched to hold these moments (us; NEVER: none), with
    spend and cohort maturity per quarter."""
    ctx = metrics.load_context(cur)
    if not ctx.quarters:
        raise db.FunnelcastError("the database has no leads: load leads to use the Threshold Lab")
    # a stage change may come before the first lead or after the last activity
    known = np.concatenate([us[us != NEVER] for us in moments])
    first, last = (
        (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(f(known)))).date()
        for f in (np.min, np.max)
    )
    quarters = periods.quarters_between(
        min(first, ctx.quarters[0].start),
        max(last, ctx.quarters[-1].end - dt.timedelta(days=1)),
        ctx.fy_start_month,
    )
    day0 = quarters[0].start
    starts = np.array([(q.start - day0).days for q in quarters] + [(quarters[-1].end - day0).days])
    quarter_of_day = np.repeat(np.arange(len(quarters)), np.diff(starts))
    spend_rows = db.run(cur, "spend_by_quarter", fy_start_month=ctx.fy_start_month)
    by_start = dict(spend_rows.select("quarter_start", "spend").rows())
    # as metrics.funnel_by_quarter: a quarter is mature once 90% of past MQL-to-customer
    # journeys would have closed after its end
    mature_days = metrics.maturity_days(cur, db.run(cur, "recorded_mql_moments"))
    as_of = ctx.as_of or _utc_now()
    return Calendar(
        quarters=quarters,
        day0=day0,
        as_of=ctx.as_of,
        quarter_start_day=starts,
        quarter_of_day=quarter_of_day,
        is_mature=np.array([
            dt.datetime.combine(q.end, dt.time()) + dt.timedelta(days=mature_days) <= as_of
            for q in quarters
        ]),
        spend=np.array([float(by_start.get(q.start, 0.0)) for q in quarters]),
    )


def _encode(column: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return a text column as codes into its sorted distinct values (missing: len(values))."""
    values = column.drop_nulls().unique().sort()
    codes = values.search_sorted(column.fill_null(""), side="left").to_numpy()
    codes = codes.astype(np.min_scalar_type(len(values)))
    codes[column.is_null().to_numpy()] = len(values)
    return codes, tuple(values.to_list())


def _layout(
    events: pl.DataFrame, created_us: np.ndarray, n_decaying: int, n_penalty: int
) -> dict[str, np.ndarray]:
    """Return the check layout, penalty counts and the events a half-life change re-sums.

    events: lab_check_events.sql's rows, one per event, sorted by lead, moment and type.
    """
    n_leads = len(created_us)
    lead = events["lead_index"].to_numpy()
    at_us = events["occurred_us"].to_numpy()
    kind = events["type_index"].to_numpy()
    del events
    # events of one lead, moment and type count together
    first = np.ones(len(lead), dtype=bool)
    first[1:] = (lead[1:] != lead[:-1]) | (at_us[1:] != at_us[:-1]) | (kind[1:] != kind[:-1])
    if first.all():
        count = np.ones(len(lead), dtype=np.uint8)
    else:
        starts = np.flatnonzero(first)
        count = np.diff(np.append(starts, len(lead)))
        count = count.astype(_count_dtype(count))
        lead, at_us, kind = lead[starts], at_us[starts], kind[starts]
        del starts
    del first

    # An event after creation opens a check at its moment (one per moment, whatever the types);
    # one at the creation moment belongs to the creation check.
    created = created_us[lead]
    early = at_us < created
    opens = at_us > created
    del created
    opens[1:] &= (lead[1:] != lead[:-1]) | (at_us[1:] != at_us[:-1])
    n_checks = 1 + np.bincount(lead[opens], minlength=n_leads)
    position = np.cumsum(opens, dtype=np.int32)
    lead_first = np.flatnonzero(np.diff(lead, prepend=-1))
    before_lead = np.where(lead_first > 0, position[lead_first - 1], 0)
    position -= np.repeat(before_lead, np.diff(np.append(lead_first, len(lead))))
    del lead_first, before_lead

    order = np.argsort(-n_checks, kind="stable").astype(np.int32)
    rank = np.empty(n_leads, dtype=np.int32)
    rank[order] = np.arange(n_leads, dtype=np.int32)
    active = n_leads - np.cumsum(np.bincount(n_checks))[: n_checks.max(initial=1)]
    offsets = np.concatenate([[0], np.cumsum(active)]).astype(np.int64)
    row_type = np.int32 if offsets[-1] < 2**31 else np.int64
    row = offsets.astype(row_type)[position]
    del position
    row += rank[lead]

    check_us = np.empty(offsets[-1], dtype=np.int64)
    check_us[:n_leads] = created_us[order]
    check_us[row[opens]] = at_us[opens]
    del opens

    # penalties count without decay, whatever the half-life: sum them up once, here
    penalty = kind >= n_decaying
    most = np.bincount(
        lead[penalty].astype(np.int64) * max(n_penalty, 1) + kind[penalty] - n_decaying,
        weights=count[penalty],
    )
    counts = np.zeros((n_penalty, offsets[-1]), dtype=_count_dtype(most))
    later = penalty & ~early
    counts[kind[later] - n_decaying, row[later]] = count[later]
    sooner = penalty & early
    np.add.at(counts, (kind[sooner] - n_decaying, rank[lead[sooner]]), count[sooner])
    for j in range(1, len(offsets) - 1):
        here, before = offsets[j], offsets[j - 1]
        active_j = offsets[j + 1] - here
        counts[:, here : here + active_j] += counts[:, before : before + active_j]

    later = ~penalty & ~early
    sooner = ~penalty & early
    return {
        "order": order,
        "rank": rank,
        "offsets": offsets,
        "check_us": check_us,
        "counts": counts,
        "event_row": row[later],
        "event_type": kind[later].astype(np.int8 if n_decaying < 128 else np.int16),
        "event_count": count[later],
        "early_rank": rank[lead[sooner]],
        "early_age_us": created_us[lead[sooner]] - at_us[sooner],
        "early_type": kind[sooner],
        "early_count": count[sooner],
    }


def _count_dtype(count: np.ndarray) -> np.dtype:
    """Return the smallest unsigned integer type that holds every count given."""
    return np.min_scalar_type(int(count.max(initial=1)))


def _utc_now() -> dt.datetime:
    """Return the current moment in UTC, without a time zone, as the database stores times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _day_us(day: dt.date) -> int:
    """Return microseconds since the epoch at midnight UTC starting day."""
    return (day - dt.date(1970, 1, 1)).days * DAY_US


# =====================================================================================
# what a weight or fit-point change recomputes
# =====================================================================================


@dataclass(frozen=True, eq=False)
class Weights:
    """A definition compiled against a materialisation: per-lead fit, per-type points and caps."""

    fit_points: np.ndarray  # per lead
    is_disqualified: np.ndarray  # per lead
    points: np.ndarray  # per decaying type, then per penalty type (0: does not score)
    cap_over_points: np.ndarray  # per decaying type: min(cap, p * d) = p * min(cap / p, d)


def compile_weights(m: Materialised, definition: Definition) -> Weights:
    """Return a definition's points laid out for scoring; Rematerialise if m cannot score it."""
    index = {t: i for i, t in enumerate(m.event_types)}
    points = np.zeros(len(m.event_types))
    cap_over_points = np.full(m.n_decaying, np.inf)
    for rule in definition.behaviour_rules:
        i = index.get(rule.event_type)
        if i is None:
            raise Rematerialise(f"event type {rule.event_type!r} is not materialised")
        is_penalty = i >= m.n_decaying
        if (rule.points < 0 and not is_penalty) or (rule.points > 0 and is_penalty):
            raise Rematerialise(
                f"event type {rule.event_type!r} changed between reward and penalty"
            )
        points[i] = rule.points
        if not is_penalty and rule.points > 0 and rule.cap is not None:
            cap_over_points[i] = rule.cap / rule.points
    fit = np.zeros(m.n_leads)
    disqualified = np.zeros(m.n_leads, dtype=bool)
    tables = {a: np.zeros(len(m.values[a]) + 1) for a in FIT_ATTRIBUTES}
    disqualifying = {a: np.zeros(len(m.values[a]) + 1, dtype=bool) for a in FIT_ATTRIBUTES}
    for rule in definition.fit_rules:
        known = m.values.get(rule.attribute, ())
        # a rule on a value no lead has matches nobody
        if rule.value in known:
            code = known.index(rule.value)
            tables[rule.attribute][code] += rule.points
            disqualifying[rule.attribute][code] |= bool(rule.is_disqualifier)
    for attribute in FIT_ATTRIBUTES:
        if tables[attribute].any():
            fit += tables[attribute][m.codes[attribute]]
        if disqualifying[attribute].any():
            disqualified |= disqualifying[attribute][m.codes[attribute]]
    return Weights(fit, disqualified, points, cap_over_points)


def _chunk_scores(m: Materialised, w: Weights, first: int = 0, stop: int | None = None):
    """Yield (position, first rank, scores) chunk by chunk, in position-major order.

    Only ranks first..stop-1; scores are unrounded, -inf at every check of a disqualified lead.
    """
    stop = m.n_leads if stop is None else stop
    fit_by_rank = np.where(w.is_disqualified, -np.inf, w.fit_points)[m.order]
    terms = np.empty((len(m.event_types), CHUNK))
    for j in range(len(m.offsets) - 1):
        here = m.offsets[j]
        active = min(m.offsets[j + 1] - here, stop)
        for r0 in range(first, active, CHUNK):
            r1 = min(active, r0 + CHUNK)
            rows = slice(here + r0, here + r1)
            yield j, r0, fit_by_rank[r0:r1] + _behaviour(m, w, rows, terms[:, : r1 - r0])


def _behaviour(m: Materialised, w: Weights, rows, out: np.ndarray) -> np.ndarray:
    """Return the behaviour points at some checks: per type min(cap, points x decayed sum), or
    points x count for penalties, added type by type in one fixed order (out: scratch)."""
    np.minimum(m.decayed[:, rows], w.cap_over_points[:, None], out=out[: m.n_decaying])
    np.copyto(out[m.n_decaying :], m.counts[:, rows])
    # einsum adds the types in order whatever the number of checks; a BLAS product would be
    # faster, but its threads and kernels may add them in another order
    return np.einsum("t,tn->n", w.points, out)


@dataclass(frozen=True, eq=False)
class Scores:
    """A definition's record highs, arranged so that any threshold is answered fast.

    key_lo / key_hi: per record, day << SCORE_BITS | (bound + BIAS), each sorted; a record is
    the lead's MQL moment for thresholds in (lo, hi] (micro-points). sql_lo, sql_hi and
    sql_facts repeat the records of leads that reached SQL, sorted by hi, with what precision
    and capture count of each (see _sql_facts).
    """

    definition: Definition
    half_life_days: float
    key_lo: np.ndarray
    key_hi: np.ndarray
    sql_lo: np.ndarray
    sql_hi: np.ndarray
    sql_facts: dict[str, np.ndarray]
    lead_max: np.ndarray  # per lead: highest score in micro-points (-BIAS when disqualified)
    weights: Weights
    # who_moves' index, built on first use for one set of current MQL moments
    movers: dict = field(default_factory=dict, repr=False)

    @property
    def n_records(self) -> int:
        """Return the number of record highs that are an MQL moment for some threshold >= 0."""
        return len(self.key_lo)


def score(m: Materialised, definition: Definition) -> Scores:
    """Return a definition's record highs over the materialised history.

    The definition's half-life must be the materialisation's (see with_half_life).
    """
    if definition.half_life_days != m.half_life_days:
        raise Rematerialise(
            f"the sums are materialised for a {m.half_life_days:g}-day half-life, "
            f"not {definition.half_life_days:g}"
        )
    w = compile_weights(m, definition)
    outcomes = (m.reached_sql_us[m.order], m.reached_customer_us[m.order])
    # two threads on two halves of the checks: numpy lets go of the GIL inside each step
    split = _rank_splitting_rows(m)
    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(
            lambda ranks: _records(m, w, outcomes, *ranks), [(0, split), (split, m.n_leads)]
        ))
        key_lo, key_hi = pool.map(
            _sorted_concat, [[half[name] for half in halves] for name in ("lo", "hi")]
        )
    lead_max = np.empty(m.n_leads, dtype=np.int64)
    lead_max[m.order] = np.concatenate([half["best"] for half in halves])
    sql = np.concatenate([half["sql"] for half in halves], axis=1)
    del halves
    # by upper bound, so that a threshold move scans only the records that reach it
    sql = sql[:, np.argsort(sql[1])]
    return Scores(
        definition=definition,
        half_life_days=m.half_life_days,
        key_lo=key_lo,
        key_hi=key_hi,
        sql_lo=sql[0],
        sql_hi=sql[1],
        sql_facts=_sql_facts(m, sql[2], sql[3], sql[4]),
        lead_max=lead_max,
        weights=w,
    )


def _rank_splitting_rows(m: Materialised) -> int:
    """Return the rank that splits the checks into two halves of about equal rows."""
    active = np.diff(m.offsets)
    low, high = 0, m.n_leads
    while low < high:
        mid = (low + high) // 2
        if np.minimum(active, mid).sum() * 2 < m.n_checks:
            low = mid + 1
        else:
            high = mid
    return low


def _records(
    m: Materialised,
    w: Weights,
    outcomes: tuple[np.ndarray, np.ndarray],
    first: int,
    stop: int,
) -> dict[str, np.ndarray]:
    """Return the record highs of ranks first..stop-1 as unsorted keys, and their bests.

    outcomes: per rank, when the lead reached SQL and customer (NEVER: not). lo / hi: keys;
    sql: rows lo, hi, moment, the lead's SQL and customer moments, for the records of leads
    that reached SQL; best: each rank's highest score in micro-points.
    """
    reached_sql, reached_customer = outcomes
    is_sql = reached_sql != NEVER
    per_position = np.diff(m.offsets)
    rows_here = int((np.minimum(per_position, stop) - np.minimum(per_position, first)).sum())
    # checks per rank: the positions whose block still holds that rank
    checks = np.searchsorted(-per_position, -np.arange(first, stop), side="left")
    sql_rows = int(checks[is_sql[first:stop]].sum())
    running = np.full(stop - first, -np.inf)
    best = np.full(stop - first, -BIAS, dtype=np.int64)  # micro(running), kept along with it
    # Written in place: a check is a record at most once, so these rows are enough; pages
    # never written are never touched, and no pile of small parts is left behind.
    keys = np.empty((2, rows_here), dtype=np.int64)
    sql = np.empty((5, sql_rows), dtype=np.int64)
    n_keys = n_sql = 0
    for j, r0, x in _chunk_scores(m, w, first, stop):
        at = r0 - first
        before = running[at : at + len(x)]
        hit = np.flatnonzero(x > before)
        np.maximum(before, x, out=before)
        if not len(hit):
            continue
        lo, hi = best[at + hit], micro(x[hit])
        best[at + hit] = hi
        # a record whose rounded score ties the previous high, or is below zero, is the MQL
        # moment of no threshold the Lab allows (>= 0)
        keep = (hi >= 0) & (lo < hi)
        if not keep.all():
            keep = np.flatnonzero(keep)
            hit, lo, hi = hit[keep], lo[keep], hi[keep]
        rows = m.offsets[j] + r0 + hit
        # the day takes the high bits, bound + BIAS the low ones: adding them packs the key
        day = (m.check_day[rows].astype(np.int64) << SCORE_BITS) + BIAS
        n = len(hit)
        np.add(day, lo, out=keys[0, n_keys : n_keys + n])
        np.add(day, hi, out=keys[1, n_keys : n_keys + n])
        n_keys += n
        ranks = r0 + hit
        of_sql = np.flatnonzero(is_sql[ranks])
        ranks, n = ranks[of_sql], len(of_sql)
        for row, values in enumerate((
            lo[of_sql], hi[of_sql], m.check_us[rows[of_sql]], reached_sql[ranks],
            reached_customer[ranks],
        )):
            sql[row, n_sql : n_sql + n] = values
        n_sql += n
    return {"lo": keys[0, :n_keys], "hi": keys[1, :n_keys], "sql": sql[:, :n_sql], "best": best}


def _sorted_concat(parts: list[np.ndarray]) -> np.ndarray:
    """Return the parts end to end, sorted."""
    whole = np.concatenate(parts)
    whole.sort()
    return whole


def micro(x: np.ndarray) -> np.ndarray:
    """Return scores as integer micro-points, rounded as DuckDB's round(x, 6) rounds them.

    That is half away from zero; -inf and anything beyond +-2^43 clip to the key's range.
    """
    y = np.asarray(x, dtype=np.float64) * 1e6
    rounded = np.rint(y)
    with np.errstate(invalid="ignore"):  # -inf, a disqualified lead's score, has no fraction
        tie = np.abs(y - np.trunc(y)) == 0.5  # rint rounds a tie to even, DuckDB away from 0
    rounded[tie] = np.trunc(y[tie]) + np.sign(y[tie])
    return np.clip(rounded, -BIAS, BIAS - 1).astype(np.int64)


def threshold_micro(threshold: float) -> int:
    """Return the least micro-point score s with s / 1e6 >= threshold, as the SQL compares."""
    if not (
        isinstance(threshold, numbers.Real)
        and not isinstance(threshold, bool)
        and math.isfinite(threshold)
        and threshold >= 0
    ):
        raise metrics.MetricsInputError(f"threshold must be a number >= 0, not {threshold!r}")
    threshold = float(threshold)
    s = min(math.ceil(threshold * 1e6), BIAS - 1)
    while s > -BIAS and (s - 1) / 1e6 >= threshold:
        s -= 1
    while s < BIAS - 1 and s / 1e6 < threshold:
        s += 1
    return s


# =====================================================================================
# what a threshold move answers
# =====================================================================================


@dataclass(frozen=True)
class Backtest:
    """A definition at a threshold, replayed on chosen quarters of history.

    quarters: one row per chosen quarter. By MQL cohort: mqls, mqls_reached_sql,
    mqls_reached_customer (reached so far, in any order, as funnel_by_quarter counts them),
    cost_per_mql. By the quarter the lead reached the stage: sqls, sqls_captured (MQL strictly
    before SQL) and the mean days earlier, customers likewise. weeks: whole weeks (Monday
    first) inside the chosen quarters and before the data's today. totals: the chosen quarters
    together, rates with their n and Wilson interval.
    """

    threshold: float
    quarters: pl.DataFrame
    weeks: pl.DataFrame
    totals: dict[str, Any]


def backtest(
    m: Materialised,
    scores: Scores,
    threshold: float,
    quarters: Sequence[str] | None = None,
    sales_capacity_per_week: float | None = None,
) -> Backtest:
    """Return the backtest of scored records at a threshold: a few binary searches per day."""
    s = threshold_micro(threshold)
    cal = m.calendar
    # only the chosen quarters' days are shown, so only they are counted
    days = np.flatnonzero(np.isin(cal.quarter_of_day, cal.quarter_indices(quarters)))
    needles = (days << SCORE_BITS) | (s + BIAS)
    per_day = np.zeros(cal.n_days, dtype=np.int64)
    per_day[days] = np.searchsorted(scores.key_lo, needles)
    per_day[days] -= np.searchsorted(scores.key_hi, needles)
    reach = int(np.searchsorted(scores.sql_hi, s))
    active = reach + np.flatnonzero(scores.sql_lo[reach:] < s)
    facts = {name: values[active] for name, values in scores.sql_facts.items()}
    return _summarise(m, threshold, per_day, facts, quarters, sales_capacity_per_week)


def backtest_moments(
    m: Materialised,
    mql_us: np.ndarray,
    threshold: float | None,
    quarters: Sequence[str] | None = None,
    sales_capacity_per_week: float | None = None,
) -> Backtest:
    """Return the backtest of per-lead MQL moments (NEVER: no MQL), such as the current one's."""
    is_mql = mql_us != NEVER
    per_day = np.bincount(m.calendar.day_of(mql_us[is_mql]), minlength=m.calendar.n_days)
    sql_leads = np.flatnonzero(is_mql & (m.reached_sql_us != NEVER))
    facts = _sql_facts(
        m, mql_us[sql_leads], m.reached_sql_us[sql_leads], m.reached_customer_us[sql_leads]
    )
    return _summarise(m, threshold, per_day, facts, quarters, sales_capacity_per_week)


def _sql_facts(
    m: Materialised, mql_us: np.ndarray, sql_us: np.ndarray, customer_us: np.ndarray
) -> dict[str, np.ndarray]:
    """Return, per MQL moment of a lead that reached SQL, what precision and capture count.

    sql_us, customer_us: when the lead reached those stages (NEVER: not). cohort: the MQL
    moment's quarter; won: the lead became a customer; per stage (sql, customer): the quarter
    it was reached in when that came after the MQL moment (else -1) and how many days later.
    """
    cal = m.calendar
    facts = {
        "cohort": cal.quarter_of_day[cal.day_of(mql_us)].astype(np.int16),
        "won": customer_us != NEVER,
    }
    for stage, at in (("sql", sql_us), ("customer", customer_us)):
        caught = (at != NEVER) & (at > mql_us)  # MQL strictly before the stage
        quarter = np.full(len(at), -1, dtype=np.int16)
        quarter[caught] = cal.quarter_of_day[cal.day_of(at[caught])]
        lag = np.zeros(len(at))
        lag[caught] = (at[caught] - mql_us[caught]) / DAY_US
        facts[f"{stage}_quarter"], facts[f"{stage}_lag"] = quarter, lag
    return facts


def _summarise(
    m: Materialised,
    threshold: float | None,
    per_day: np.ndarray,
    facts: dict[str, np.ndarray],
    quarters: Sequence[str] | None,
    capacity: float | None,
) -> Backtest:
    """Return the backtest from MQLs per day and the facts of the MQLs that reached SQL."""
    cal = m.calendar
    n_quarters = len(cal.quarters)
    chosen = cal.quarter_indices(quarters)
    # is_chosen[q + 1]: whether quarter q is chosen; -1 (a stage never reached) is not
    is_chosen = np.zeros(n_quarters + 1, dtype=bool)
    is_chosen[chosen + 1] = True
    mqls = np.add.reduceat(per_day, cal.quarter_start_day[:-1])
    cohort = facts["cohort"]
    reached_sql = np.bincount(cohort, minlength=n_quarters)
    reached_customer = np.bincount(cohort[facts["won"]], minlength=n_quarters)
    captured, mean_lag, lags = {}, {}, {}
    for stage in ("sql", "customer"):
        quarter, lag = facts[f"{stage}_quarter"], facts[f"{stage}_lag"]
        caught = quarter >= 0
        captured[stage] = np.bincount(quarter[caught], minlength=n_quarters)
        lag_sum = np.bincount(quarter[caught], weights=lag[caught], minlength=n_quarters)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_lag[stage] = lag_sum / captured[stage]
        lags[stage] = lag[is_chosen[quarter + 1]]

    # whole weeks (Monday first) inside the chosen quarters, before the data's today
    days = _chosen_days(cal, chosen)
    mondays = np.flatnonzero((np.arange(cal.n_days - 6) + cal.day0.weekday()) % 7 == 0)
    days_so_far = np.concatenate([[0], np.cumsum(days)])
    whole = mondays[days_so_far[mondays + 7] - days_so_far[mondays] == 7]
    mqls_so_far = np.concatenate([[0], np.cumsum(per_day)])
    weekly = mqls_so_far[whole + 7] - mqls_so_far[whole]

    with np.errstate(invalid="ignore", divide="ignore"):
        cost_per_mql = np.where((cal.spend > 0) & (mqls > 0), cal.spend / mqls, np.nan)
    frame = pl.DataFrame({
        "quarter": [cal.quarters[i].label for i in chosen],
        "quarter_start": [cal.quarters[i].start for i in chosen],
        "is_mature": cal.is_mature[chosen],
        "mqls": mqls[chosen].astype(np.int64),
        "mqls_reached_sql": reached_sql[chosen],
        "mqls_reached_customer": reached_customer[chosen],
        "sqls": m.stage_totals["sql"][chosen],
        "sqls_captured": captured["sql"][chosen],
        "sql_days_earlier_mean": mean_lag["sql"][chosen],
        "customers": m.stage_totals["customer"][chosen],
        "customers_captured": captured["customer"][chosen],
        "customer_days_earlier_mean": mean_lag["customer"][chosen],
        "spend": cal.spend[chosen],
        "cost_per_mql": cost_per_mql[chosen],
    }, nan_to_null=True)
    weeks = pl.DataFrame({
        "week_start": (np.datetime64(cal.day0, "D") + whole).astype("datetime64[D]"),
        "mqls": weekly.astype(np.int64),
    })
    if capacity is not None:
        weeks = weeks.with_columns((pl.col("mqls") > capacity).alias("over_capacity"))
    total_mqls = int(mqls[chosen].sum())
    spend = float(cal.spend[chosen].sum())
    totals: dict[str, Any] = {
        "threshold": threshold,
        "quarters": [cal.quarters[i].label for i in chosen],
        "all_mature": bool(cal.is_mature[chosen].all()),
        "mqls": total_mqls,
        "mql_to_sql": rate(int(reached_sql[chosen].sum()), total_mqls).as_dict(),
        "mql_to_customer": rate(int(reached_customer[chosen].sum()), total_mqls).as_dict(),
        "spend": spend,
        "cost_per_mql": ratio(spend, total_mqls) if spend > 0 else None,
        "mqls_per_week": ratio(total_mqls, days.sum() / 7),
        "sales_capacity_per_week": capacity,
        "weeks": len(whole),
        "peak_week_mqls": int(weekly.max()) if len(weekly) else None,
        "weeks_over_capacity": int((weekly > capacity).sum()) if capacity is not None else None,
    }
    for stage in ("sql", "customer"):
        reached = int(m.stage_totals[stage][chosen].sum())
        totals[f"{stage}s"] = reached
        totals[f"{stage}_capture"] = rate(int(captured[stage][chosen].sum()), reached).as_dict()
        some = len(lags[stage]) > 0
        totals[f"{stage}_days_earlier_median"] = float(np.median(lags[stage])) if some else None
        totals[f"{stage}_days_earlier_mean"] = float(lags[stage].mean()) if some else None
    return Backtest(threshold, frame, weeks, totals)


def _chosen_days(cal: Calendar, chosen: np.ndarray) -> np.ndarray:
    """Return per day whether it lies in a chosen quarter and on or before the data's today."""
    days = np.isin(cal.quarter_of_day, chosen)
    if cal.as_of is not None:
        days[max(0, (cal.as_of.date() - cal.day0).days + 1) :] = False
    return days


def tradeoff_curve(
    m: Materialised,
    scores: Scores,
    quarters: Sequence[str] | None = None,
    thresholds: Sequence[float] | None = None,
) -> pl.DataFrame:
    """Return per threshold the chosen quarters' MQLs, SQL and customer rates, and capture."""
    cal = m.calendar
    chosen = cal.quarter_indices(quarters)
    if thresholds is None:
        thresholds = default_thresholds(scores)
    s = np.array([threshold_micro(t) for t in thresholds], dtype=np.int64)
    days = np.flatnonzero(np.isin(cal.quarter_of_day, chosen)).astype(np.int64)
    # day-major needles are sorted, which keeps the binary searches in cache
    needles = ((days[:, None] << SCORE_BITS) | (s[None, :] + BIAS)).ravel()
    mqls = (
        (np.searchsorted(scores.key_lo, needles) - np.searchsorted(scores.key_hi, needles))
        .reshape(len(days), len(s))
        .sum(axis=0)
    )

    def active(select: np.ndarray) -> np.ndarray:
        """Return per threshold how many selected SQL-lead records are an MQL moment."""
        lo, hi = np.sort(scores.sql_lo[select]), np.sort(scores.sql_hi[select])
        return np.searchsorted(lo, s) - np.searchsorted(hi, s)

    facts = scores.sql_facts
    in_cohort = np.isin(facts["cohort"], chosen)
    columns = {
        "threshold": np.asarray(thresholds, dtype=np.float64),
        "mqls": mqls,
        "mqls_reached_sql": active(in_cohort),
        "mqls_reached_customer": active(in_cohort & facts["won"]),
    }
    for stage in ("sql", "customer"):
        total = m.stage_totals[stage][chosen].sum()
        captured = active(np.isin(facts[f"{stage}_quarter"], chosen))
        columns[f"{stage}s_captured"] = captured
        columns[f"{stage}_capture"] = captured / total if total else np.full(len(s), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["mql_to_sql"] = columns["mqls_reached_sql"] / mqls
        columns["mql_to_customer"] = columns["mqls_reached_customer"] / mqls
    return pl.DataFrame(columns, nan_to_null=True)


def default_thresholds(scores: Scores, steps: int = 200) -> np.ndarray:
    """Return thresholds from 0 to about the 99.9th percentile of leads' best scores."""
    best = scores.lead_max[scores.lead_max >= 0]
    top = float(np.quantile(best, 0.999)) / 1e6 if len(best) else 0.0
    raw = max(top, 1.0) / steps
    step = min(m * 10**e for e in range(-2, 6) for m in (1, 2, 5) if m * 10**e >= raw)
    return np.round(np.arange(0, math.ceil(top / step) * step + step / 2, step), 6)


# =====================================================================================
# MQL moments, movers and explanations
# =====================================================================================


def mql_moments(
    m: Materialised, definition: Definition, threshold: float | None = None
) -> np.ndarray:
    """Return each lead's MQL moment (us; NEVER for none) at a threshold, checking every moment.

    This is the straightforward pass over all checks; `backtest` answers the same from Scores.
    """
    if definition.half_life_days != m.half_life_days:
        raise Rematerialise(f"the sums are materialised for a {m.half_life_days:g}-day half-life")
    s = threshold_micro(definition.threshold if threshold is None else threshold)
    w = compile_weights(m, definition)
    first = np.full(m.n_leads, NEVER, dtype=np.int64)
    for j, r0, x in _chunk_scores(m, w):
        mine = first[r0 : r0 + len(x)]
        hit = np.flatnonzero((micro(x) >= s) & (mine == NEVER))
        mine[hit] = m.check_us[m.offsets[j] + r0 + hit]
    out = np.empty_like(first)
    out[m.order] = first
    return out


def moments_frame(m: Materialised, mql_us: np.ndarray) -> pl.DataFrame:
    """Return (lead_id, mql_at) for the leads with an MQL moment, as the SQL returns them."""
    has = mql_us != NEVER
    return pl.DataFrame(
        {"lead_id": m.lead_id.filter(pl.Series(has)),
         "mql_at": pl.Series(mql_us[has], dtype=pl.Int64).cast(pl.Datetime("us"))}
    )


def lead_checks(m: Materialised, w: Weights, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """Return one lead's check moments (us) and unrounded scores at them."""
    rank = m.rank[lead]
    rows = m.offsets[:-1][np.diff(m.offsets) > rank] + rank
    fit = -np.inf if w.is_disqualified[lead] else w.fit_points[lead]
    behaviour = _behaviour(m, w, rows, np.empty((len(m.event_types), len(rows))))
    return m.check_us[rows], fit + behaviour


@dataclass(frozen=True, eq=False)
class MoverIndex:
    """Leads sorted so that who enters or leaves MQL at any threshold takes binary searches.

    keys: per lead, is_current << SCORE_BITS | (best + BIAS), sorted, with order the leads in
    that order (best: the candidate's highest score in micro-points; is_current: an MQL under
    the current definition). by_dimension: per persona dimension, the same keys with the lead's
    value code in front (code << SCORE_BITS + 1), sorted.
    """

    order: np.ndarray
    keys: np.ndarray
    by_dimension: dict[str, np.ndarray]


def mover_index(m: Materialised, current_mql_us: np.ndarray, scores: Scores) -> MoverIndex:
    """Return the leads sorted for who_moves, kept with the scores for these current moments."""
    if scores.movers.get("current") is current_mql_us:
        return scores.movers["index"]
    key = ((current_mql_us != NEVER).astype(np.int64) << SCORE_BITS) | (scores.lead_max + BIAS)
    order = np.argsort(key)
    index = MoverIndex(
        order=order,
        keys=key[order],
        by_dimension={
            d: np.sort((m.codes[d].astype(np.int64) << (SCORE_BITS + 1)) | key) for d in PERSONA
        },
    )
    scores.movers.update(current=current_mql_us, index=index)
    return index


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


def who_moves(
    m: Materialised,
    current_mql_us: np.ndarray,
    scores: Scores,
    threshold: float,
    sample: int = 20,
) -> Movers:
    """Return who would become an MQL at some point, or stop being one, under the candidate.

    current_mql_us: each lead's MQL moment under the current definition (NEVER: none). The
    first call for a scoring and those moments sorts the leads (see mover_index); the next
    ones take a few binary searches.
    """
    index = mover_index(m, current_mql_us, scores)
    s = threshold_micro(threshold) + BIAS
    current = 1 << SCORE_BITS
    # not current MQLs first, by best score: those from `enter` on reach the threshold; then
    # current MQLs: those before `stay` do not
    enter, was, stay = np.searchsorted(index.keys, [s, current, current + s])
    groups = []
    for dimension in PERSONA:
        values = (*m.values[dimension], NO_VALUE)
        base = np.arange(len(values), dtype=np.int64) << (SCORE_BITS + 1)
        found = np.searchsorted(index.by_dimension[dimension], np.stack([
            base | s, base | current, base | (current + s)
        ]))
        ins, outs = found[1] - found[0], found[2] - found[1]
        for code in np.flatnonzero(ins + outs):
            groups.append((dimension, values[code], int(ins[code]), int(outs[code])))
    by_group = pl.DataFrame(
        groups, schema={"dimension": pl.String, "value": pl.String, "entering": pl.Int64,
                        "leaving": pl.Int64}, orient="row",
    ).with_columns((pl.col("entering") - pl.col("leaving")).alias("net"))
    # the most marginal: lowest best score that now qualifies, highest that no longer does
    closest_in = index.order[enter : min(enter + sample, was)]
    closest_out = index.order[max(was, stay - sample) : stay][::-1]
    first_at = []
    for lead in closest_in:
        at, x = lead_checks(m, scores.weights, lead)
        first_at.append(int(at[np.argmax(micro(x) >= s - BIAS)]))
    frame = _lead_frame(m, np.concatenate([closest_in, closest_out]), scores, current_mql_us)
    return Movers(
        entering=int(was - enter),
        leaving=int(stay - was),
        staying=int(len(index.keys) - stay),
        by_group=by_group,
        sample=frame.with_columns(
            pl.Series("direction", ["enters"] * len(closest_in) + ["leaves"] * len(closest_out)),
            pl.Series("candidate_mql_at", first_at + [None] * len(closest_out),
                      dtype=pl.Int64).cast(pl.Datetime("us")),
        ).select("lead_id", "direction", pl.exclude("lead_id", "direction")),
    )


def movers(
    m: Materialised, current_mql_us: np.ndarray, scores: Scores, threshold: float
) -> pl.DataFrame:
    """Return every lead that enters or leaves MQL under the candidate, for a CSV download."""
    index = mover_index(m, current_mql_us, scores)
    s = threshold_micro(threshold) + BIAS
    enter, was, stay = np.searchsorted(index.keys, [s, 1 << SCORE_BITS, (1 << SCORE_BITS) + s])
    entering, leaving = index.order[enter:was], index.order[was:stay]
    return _lead_frame(m, np.concatenate([entering, leaving]), scores, current_mql_us).with_columns(
        pl.Series("direction", ["enters"] * len(entering) + ["leaves"] * len(leaving))
    ).select("lead_id", "direction", pl.exclude("lead_id", "direction"))


def _lead_frame(
    m: Materialised, leads: np.ndarray, scores: Scores, current_mql_us: np.ndarray
) -> pl.DataFrame:
    """Return leads with their persona, best candidate score, current and recorded MQL moments
    and outcomes."""

    def moment(us: np.ndarray) -> pl.Series:
        return pl.Series(np.where(us == NEVER, 0, us), dtype=pl.Int64).cast(
            pl.Datetime("us")
        ).scatter(np.flatnonzero(us == NEVER), None)

    best = scores.lead_max[leads]
    return pl.DataFrame({
        "lead_id": m.lead_id.gather(leads),
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
    }, schema_overrides={d: pl.String for d in PERSONA}, nan_to_null=True)


def explain_score(
    cur: duckdb.DuckDBPyConnection, definition: Definition, lead_id: str, as_of: dt.datetime
) -> pl.DataFrame:
    """Return the rows of a lead's score at a moment (queries/lead_score_explained.sql)."""
    fit = definition.fit_rules
    behaviour = definition.behaviour_rules
    return db.run(
        cur,
        "lead_score_explained",
        lead_id=lead_id,
        as_of=as_of,
        half_life_days=float(definition.half_life_days),
        fit_attributes=[r.attribute for r in fit],
        fit_values=[r.value for r in fit],
        fit_points=[float(r.points) for r in fit],
        fit_disqualifies=[bool(r.is_disqualifier) for r in fit],
        event_types=[r.event_type for r in behaviour],
        event_points=[float(r.points) for r in behaviour],
        event_caps=[None if r.cap is None else float(r.cap) for r in behaviour],
    )
