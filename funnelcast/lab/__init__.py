"""The Threshold Lab engine: what-if MQL definitions, backtested on history, fast at 1M leads.

A definition's MQL moments (queries/computed_mql_moments.sql) depend on the data in two layers:
- what a slider cannot change, held here once per data load (`Materialised`): per lead its fit
  attribute codes and outcomes, and its check moments (its creation and each later moment with
  a scoring event) with the events at each; per half-life, the decay between checks;
- what a weight or fit-point change recomputes from that (`Scores`, see `score`): each check's
  score, fit + per type min(cap, points x decayed sum) (penalties: points x count, undecayed),
  and each lead's record highs. A lead becomes an MQL at the first check whose rounded score
  reaches the threshold, so the record high at check i (its score above every earlier one) is
  the MQL moment for exactly the thresholds in (previous record, score_i]. Records are kept as
  sorted keys (day, bound), so a threshold move counts each day's MQLs with two binary
  searches (see `backtest`).

Scores are compared in integer micro-points: DuckDB's round(x, 6) is round-half-away(x * 1e6)
/ 1e6, so round(x, 6) >= T exactly when that integer reaches `threshold_micro(T)`.

The per-lead loops are compiled (funnelcast.lab_kernels): a lead's decayed sums are carried from
check to check in registers, so nothing per check and event type is ever stored, and a rescore
reads each check once. Two threads score half the leads each.

A Materialised is read-only once built, so sessions can share it; a half-life change makes a
new one that shares all but the decay factors (`with_half_life`). A definition scoring an event
type the materialisation lacks needs a new one (`score` raises Rematerialise); any points, caps
and signs of the types it has can be scored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import numbers
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypedDict

import duckdb
import numpy as np
import polars as pl

from funnelcast.analytics import metrics
from funnelcast.core import periods
from funnelcast.core.stats import rate, ratio
from funnelcast.data import db
from funnelcast.definitions import Definition, FitRule
from funnelcast.lab._fast import kernels

DAY_US = 86_400_000_000
NEVER = kernels.NEVER  # a moment that never came: no MQL, no SQL, no customer
# Keys pack (day, score in micro-points): 2^43 micro-points is 8.8 million points either way.
SCORE_BITS = kernels.SCORE_BITS
BIAS = kernels.BIAS
# Checks handled per vectorised step of a half-life change: temporaries stay small.
CHUNK = 1 << 18
# The SQL leads' records are sorted into this many buckets by upper bound (see Scores).
SQL_BUCKET_BITS = 10
FIT_ATTRIBUTES = ("channel", "industry", "company_size_band", "country", "region", "seniority")
PERSONA = ("channel", "seniority", "company_size_band", "industry", "region")
NO_VALUE = "(none)"


class Rematerialise(ValueError):
    """A definition scores event types, or decays by a half-life, the materialisation lacks."""


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

    Arrays indexed by lead follow lead_id order. Checks are laid out lead by lead, each lead's
    in time order: check_start[i] is lead i's first (its creation), check_start[i + 1] ends
    them. Each check holds check_groups of the lead's event groups (events of one moment and
    type: type and count), in order; events before creation (early_*) count from creation on,
    decayed by their age then. decay (per check: 0.5^(gap from the previous check / half-life))
    and early_weight (count x 0.5^(age / half-life)) are all a half-life changes.
    """

    half_life_days: float
    event_types: tuple[str, ...]
    calendar: Calendar
    lead_id: pl.Series
    codes: dict[str, np.ndarray]  # fit attribute -> value code per lead (len(values): none)
    values: dict[str, tuple[str, ...]]  # fit attribute -> its values, sorted
    created_us: np.ndarray
    recorded_mql_us: np.ndarray
    reached_sql_us: np.ndarray
    reached_customer_us: np.ndarray
    stage_totals: dict[str, np.ndarray]  # 'sql', 'customer' -> leads reaching it per quarter
    reached_quarter: dict[str, np.ndarray]  # 'sql', 'customer' -> per lead, its quarter (-1: not)
    check_start: np.ndarray  # per lead, plus the end
    check_us: np.ndarray  # moment of each check
    check_day: np.ndarray  # day index of each check
    check_groups: np.ndarray  # event groups at each check
    group_start: np.ndarray  # per lead, plus the end
    group_type: np.ndarray
    group_count: np.ndarray
    early_start: np.ndarray  # per lead, plus the end
    early_type: np.ndarray
    early_count: np.ndarray
    early_age_us: np.ndarray
    decay: np.ndarray
    early_weight: np.ndarray
    # score's buffers for the SQL leads' records, reused so that a rescore does not fault in
    # fresh memory
    # (shared by the half-life variants of one history; one scoring at a time uses them)
    buffers: dict = field(default_factory=dict, repr=False)
    buffers_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # the arrays of a scoring no one holds any more, for the next scoring (see _Outputs)
    spare: list = field(default_factory=list, repr=False)
    # per fit-rule set, its points per lead: a weight change leaves the fit as it was
    fit_cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_leads(self) -> int:
        """Return the number of leads."""
        return len(self.created_us)

    @property
    def n_checks(self) -> int:
        """Return the number of check moments."""
        return len(self.check_us)

    @property
    def nbytes(self) -> int:
        """Return the bytes the numpy arrays hold."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)) + sum(
            c.nbytes for c in self.codes.values()
        )

    @property
    def history(self) -> tuple:
        """Return the arrays the compiled loops read (funnelcast.lab_kernels), in their order."""
        return (
            self.check_start,
            self.group_start,
            self.early_start,
            self.check_groups,
            self.group_type,
            self.group_count,
            self.early_type,
            self.early_count,
            self.early_weight,
            self.decay,
        )

    @functools.cached_property
    def key_stretches(self) -> dict[tuple[int, int], np.ndarray]:
        """Return per half of the leads (see _halves) where each quarter's stretch of record
        keys starts among the half's checks, plus the end: as many places as the half has
        checks in the quarter, for a day's run of a lead's records has a check that day."""
        cal = self.calendar
        stretches = {}
        for first, stop in _halves(self):
            at, end = self.check_start[first], self.check_start[stop]
            quarter = cal.quarter_of_day[self.check_day[at:end]]
            stretches[first, stop] = np.concatenate(
                [[0], np.cumsum(np.bincount(quarter, minlength=len(cal.quarters)))]
            )
        return stretches

    @functools.cached_property
    def sql_leads(self) -> int:
        """Return how many leads reached SQL."""
        return int(np.count_nonzero(self.reached_sql_us != NEVER))

    @functools.cached_property
    def most_checks(self) -> int:
        """Return the most checks any lead has (once: every rescore and sample asks)."""
        return int(np.diff(self.check_start).max(initial=1))

    def lead_index(self, lead_id: str) -> int:
        """Return a lead's index; FunnelcastError when there is no such lead."""
        position = int(self.lead_id.search_sorted(lead_id))
        if position >= len(self.lead_id) or self.lead_id[position] != lead_id:
            raise db.FunnelcastError(f"no lead with id {lead_id!r}")
        return position


def materialise(
    cur: duckdb.DuckDBPyConnection, half_life_days: float, event_types: Iterable[str]
) -> Materialised:
    """Return the history materialised for scoring these event types at this half-life.

    Any points, caps or signs (rewards decay, penalties count) can then score it.
    """
    types = tuple(dict.fromkeys(event_types))
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

    event_start, at_us, kind = kernels.sort_events(
        _event_batches(cur, types), len(moments["created"])
    )
    db.release_cached_blocks(cur)  # the events' blocks DuckDB kept: 200 MB at 20M events
    layout = _layout(event_start, at_us, kind, moments["created"], len(types))
    del event_start, at_us, kind
    check_day = calendar.day_of(layout["check_us"])
    if len(check_day) and (check_day.min() < 0 or check_day.max() >= calendar.n_days):
        raise db.FunnelcastError("a lead or event lies outside the data's quarters")
    stage_totals, reached_quarter = {}, {}
    for stage in ("sql", "customer"):
        at = moments[f"reached_{stage}"]
        reached = at != NEVER
        quarter = np.full(len(at), -1, dtype=np.int16)
        quarter[reached] = calendar.quarter_of_day[calendar.day_of(at[reached])]
        reached_quarter[stage] = quarter
        stage_totals[stage] = np.bincount(quarter[reached], minlength=len(calendar.quarters))
    return Materialised(
        half_life_days=float(half_life_days),
        event_types=types,
        calendar=calendar,
        lead_id=lead_id,
        codes=codes,
        values=values,
        created_us=moments["created"],
        recorded_mql_us=moments["recorded_mql"],
        reached_sql_us=moments["reached_sql"],
        reached_customer_us=moments["reached_customer"],
        stage_totals=stage_totals,
        reached_quarter=reached_quarter,
        check_day=check_day.astype(np.min_scalar_type(-calendar.n_days)),
        **layout,
        **_decays(
            layout["check_us"],
            layout["check_start"],
            layout["early_count"],
            layout["early_age_us"],
            half_life_days,
        ),
    )


def materialise_for(cur: duckdb.DuckDBPyConnection, *definitions: Definition) -> Materialised:
    """Return the history materialised for scoring these definitions (the first's half-life)."""
    return materialise(
        cur,
        definitions[0].half_life_days,
        [rule.event_type for d in definitions for rule in d.behaviour_rules],
    )


def with_half_life(m: Materialised, half_life_days: float) -> Materialised:
    """Return the history decayed by another half-life.

    Everything but the decay factors is shared with m, which stays as it was (other sessions
    may be using it).
    """
    decayed = dataclasses.replace(
        m,
        half_life_days=float(half_life_days),
        **_decays(m.check_us, m.check_start, m.early_count, m.early_age_us, half_life_days),
    )
    # what is worked out once from the layout holds for the copy too (key_stretches: 75 ms)
    for name in ("key_stretches", "most_checks", "sql_leads"):
        if name in vars(m):
            vars(decayed)[name] = vars(m)[name]
    return decayed


def _decays(
    check_us: np.ndarray,
    check_start: np.ndarray,
    early_count: np.ndarray,
    early_age_us: np.ndarray,
    half_life_days: float,
) -> _Decays:
    """Return per check 0.5^(gap since the lead's previous check / half-life) (1 at a lead's
    first), and per early event group count x 0.5^(age at creation / half-life)."""
    if not half_life_days > 0:
        raise ValueError(f"half-life must be more than 0 days, not {half_life_days}")
    scale = -1.0 / (DAY_US * half_life_days)
    decay = np.empty(len(check_us))
    decay[0:1] = 1.0
    with np.errstate(over="ignore"):  # from one lead's last check to the next lead's first
        for start in range(1, len(check_us), CHUNK):
            stop = min(len(check_us), start + CHUNK)
            gap = check_us[start:stop] - check_us[start - 1 : stop - 1]
            np.exp2(gap * scale, out=decay[start:stop])
    decay[check_start[:-1]] = 1.0
    return _Decays(
        decay=decay,
        early_weight=early_count * np.exp2(-early_age_us / (DAY_US * half_life_days)),
    )


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
        is_mature=np.array(
            [
                dt.datetime.combine(q.end, dt.time()) + dt.timedelta(days=mature_days) <= as_of
                for q in quarters
            ]
        ),
        spend=np.array([float(by_start.get(q.start, 0.0)) for q in quarters]),
    )


def _encode(column: pl.Series) -> tuple[np.ndarray, tuple[str, ...]]:
    """Return a text column as codes into its sorted distinct values (missing: len(values))."""
    values = column.drop_nulls().unique().sort()
    codes = values.search_sorted(column.fill_null(""), side="left").to_numpy()
    codes = codes.astype(np.min_scalar_type(len(values)))
    codes[column.is_null().to_numpy()] = len(values)
    return codes, tuple(values.to_list())


class _Layout(TypedDict):
    """The Materialised fields _layout fills (see there)."""

    check_start: np.ndarray
    group_start: np.ndarray
    early_start: np.ndarray
    check_us: np.ndarray
    check_groups: np.ndarray
    group_type: np.ndarray
    group_count: np.ndarray
    early_type: np.ndarray
    early_count: np.ndarray
    early_age_us: np.ndarray


class _Decays(TypedDict):
    """The Materialised fields a half-life sets (see _decays)."""

    decay: np.ndarray
    early_weight: np.ndarray


BATCH_ROWS = 1 << 20


def _event_batches(
    cur: duckdb.DuckDBPyConnection, types: tuple[str, ...]
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield lab_check_events.sql's rows as (lead index, moment in us, type index) arrays, in
    batches streamed from DuckDB (from another engine, its whole result at once)."""
    result = db.relation(cur, "lab_check_events", event_types=list(types))
    columns = ("lead_index", "occurred_us", "type_index")
    if not hasattr(result, "to_arrow_reader"):  # the Spark engine's result
        frame = result.pl()
        yield tuple(frame[c].to_numpy() for c in columns)
        return
    for batch in result.to_arrow_reader(BATCH_ROWS):
        yield tuple(batch.column(c).to_numpy(zero_copy_only=False) for c in columns)


def _layout(
    event_start: np.ndarray,
    at_us: np.ndarray,
    kind: np.ndarray,
    created_us: np.ndarray,
    n_types: int,
) -> _Layout:
    """Return the check layout: checks, event groups and early events, lead by lead.

    event_start, at_us, kind: the events as lab_kernels.sort_events sorts them.
    """
    n_checks, n_groups, n_early, largest = kernels.count_layout(
        event_start, at_us, kind, created_us
    )
    starts = {
        name: np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        for name, n in (("check", n_checks), ("group", n_groups), ("early", n_early))
    }
    type_dtype = np.int8 if n_types < 128 else np.int16
    out = {
        "check_us": np.empty(starts["check"][-1], dtype=np.int64),
        "check_groups": np.zeros(
            starts["check"][-1], dtype=np.uint8 if n_types < 256 else np.uint16
        ),
        "group_type": np.empty(starts["group"][-1], dtype=type_dtype),
        "group_count": np.empty(starts["group"][-1], dtype=np.min_scalar_type(largest)),
        "early_type": np.empty(starts["early"][-1], dtype=type_dtype),
        "early_count": np.empty(starts["early"][-1], dtype=np.int32),
        "early_age_us": np.empty(starts["early"][-1], dtype=np.int64),
    }
    kernels.fill_layout(
        event_start,
        at_us,
        kind,
        created_us,
        starts["check"],
        starts["group"],
        starts["early"],
        *out.values(),
    )
    return _Layout(
        check_start=starts["check"],
        group_start=starts["group"],
        early_start=starts["early"],
        check_us=out["check_us"],
        check_groups=out["check_groups"],
        group_type=out["group_type"],
        group_count=out["group_count"],
        early_type=out["early_type"],
        early_count=out["early_count"],
        early_age_us=out["early_age_us"],
    )


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
    """A definition compiled against a materialisation: per-lead fit, per-type points and caps
    (the tuple funnelcast.lab_kernels reads is `arrays`)."""

    fit_points: np.ndarray  # per lead: fit points, -inf when disqualified
    is_disqualified: np.ndarray  # per lead
    kind: np.ndarray  # per type: lab_kernels.NO_SCORE, REWARD, CAPPED or PENALTY
    points: np.ndarray  # per type
    slot: np.ndarray  # per type: its place among the capped types (-1: not capped)
    cap_over_points: np.ndarray  # per capped type: min(cap, p * d) = p * min(cap / p, d)
    capped_points: np.ndarray  # per capped type

    @functools.cached_property
    def arrays(self) -> tuple:
        """Return the arrays the compiled loops read, in their order: these, then per type
        the points of rewards and of penalties (0 for the other kinds), then the caps and
        capped points padded with zeros to lab_kernels.VECTOR_SLOTS slots (made once: who moves
        scores a few leads again on every threshold move)."""
        return (
            self.fit_points,
            self.kind,
            self.points,
            self.slot,
            self.cap_over_points,
            self.capped_points,
            np.where(self.kind == kernels.REWARD, self.points, 0.0),
            np.where(self.kind == kernels.PENALTY, self.points, 0.0),
            _padded(self.cap_over_points),
            _padded(self.capped_points),
        )


def _padded(values: np.ndarray) -> np.ndarray:
    """Return values with zeros after them, to at least lab_kernels.VECTOR_SLOTS of them."""
    out = np.zeros(max(len(values), kernels.VECTOR_SLOTS))
    out[: len(values)] = values
    return out


def compile_weights(m: Materialised, definition: Definition) -> Weights:
    """Return a definition's points laid out for scoring; Rematerialise if m cannot score it."""
    if definition.half_life_days != m.half_life_days:
        raise Rematerialise(
            f"the sums are materialised for a {m.half_life_days:g}-day half-life, "
            f"not {definition.half_life_days:g}"
        )
    index = {t: i for i, t in enumerate(m.event_types)}
    kind = np.full(len(m.event_types), kernels.NO_SCORE, dtype=np.int8)
    points = np.zeros(len(m.event_types))
    slot = np.full(len(m.event_types), -1, dtype=np.int64)
    caps: list[tuple[float, float]] = []
    for rule in definition.behaviour_rules:
        i = index.get(rule.event_type)
        if i is None:
            raise Rematerialise(f"event type {rule.event_type!r} is not materialised")
        points[i] = rule.points
        if rule.points < 0:
            kind[i] = kernels.PENALTY
        elif rule.points > 0 and rule.cap is not None:
            kind[i] = kernels.CAPPED
            slot[i] = len(caps)
            caps.append((rule.cap / rule.points, rule.points))
        elif rule.points > 0:
            kind[i] = kernels.REWARD
    capped = np.array(caps, dtype=np.float64).reshape(len(caps), 2)
    fit, disqualified = _fit(m, definition.fit_rules)
    return Weights(
        fit_points=fit,
        is_disqualified=disqualified,
        kind=kind,
        points=points,
        slot=slot,
        cap_over_points=capped[:, 0].copy(),
        capped_points=capped[:, 1].copy(),
    )


FIT_CACHE_SIZE = 4


def _fit(m: Materialised, rules: tuple[FitRule, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Return per lead the fit points of these rules (-inf when disqualified) and whether
    disqualified; the last few rule sets' are kept on m (read-only arrays, shared)."""
    key = tuple(rules)
    cached = m.fit_cache.get(key)
    if cached is not None:
        return cached
    fit = np.empty(m.n_leads)
    disqualified = np.empty(m.n_leads, dtype=bool)
    tables = {a: np.zeros(len(m.values[a]) + 1) for a in FIT_ATTRIBUTES}
    disqualifying = {a: np.zeros(len(m.values[a]) + 1, dtype=bool) for a in FIT_ATTRIBUTES}
    for fit_rule in rules:
        known = m.values.get(fit_rule.attribute, ())
        # a rule on a value no lead has matches nobody
        if fit_rule.value in known:
            code = known.index(fit_rule.value)
            tables[fit_rule.attribute][code] += fit_rule.points
            disqualifying[fit_rule.attribute][code] |= bool(fit_rule.is_disqualifier)
    # one pass over the leads; an attribute no rule names adds 0.0, which changes no sum
    parts = tuple((np.asarray(m.codes[a]), tables[a], disqualifying[a]) for a in FIT_ATTRIBUTES)
    kernels.fit_points(parts, fit, disqualified)
    fit.flags.writeable = False
    disqualified.flags.writeable = False
    # several sessions may add at once: a dict's single operations are atomic under the GIL
    if len(m.fit_cache) >= FIT_CACHE_SIZE:
        try:
            m.fit_cache.pop(next(iter(m.fit_cache)), None)
        except (RuntimeError, StopIteration):  # another session changed it meanwhile
            pass
    m.fit_cache[key] = (fit, disqualified)
    return fit, disqualified


@dataclass(frozen=True, eq=False)
class Scores:
    """A definition's record highs, arranged so that any threshold is answered fast.

    key_lo / key_hi: per day's run of records of a lead, day << SCORE_BITS | (bound + BIAS);
    the run holds the lead's MQL moment for thresholds in (lo, hi] (micro-points). They come
    in pieces, one per half of the leads and quarter (key_quarter), as the compiled pass wrote
    them: sorted_keys sorts a quarter's pieces the first time a threshold is asked of it. A
    rescore so sorts none, and the page then sorts only the quarters it shows.
    sql_lo, sql_hi, sql_code and sql_lag repeat every record of the leads that reached SQL,
    with what precision and capture count of each (as lab_kernels.records writes them; see
    _sql_facts for the same of MQL moments). They are in buckets by hi: bucket b holds the records
    sql_start[b]:sql_start[b + 1], whose hi >> sql_shift is b (the last bucket: or more), so
    the records reaching a threshold start at its bucket. A counting sort into buckets costs
    a tenth of an argsort and gather.
    """

    definition: Definition
    half_life_days: float
    key_lo: tuple[np.ndarray, ...]
    key_hi: tuple[np.ndarray, ...]
    key_quarter: tuple[int, ...]  # each piece's quarter
    sql_lo: np.ndarray
    sql_hi: np.ndarray
    sql_code: np.ndarray  # the records' cohort, won, SQL and customer quarters (see records)
    sql_lag: np.ndarray  # the records' days to SQL and to customer (see records)
    sql_start: np.ndarray  # where each bucket of SQL records starts, plus the end
    sql_shift: int
    lead_max: np.ndarray  # per lead: highest score in micro-points (-BIAS when disqualified)
    weights: Weights
    # which pieces are sorted; each is sorted under its lock (sessions share scorings)
    key_sorted: list[bool] = field(default_factory=list, repr=False)
    sort_locks: tuple[threading.Lock, ...] = field(default=(), repr=False)

    @property
    def n_records(self) -> int:
        """Return the number of (lead, day) record runs that are an MQL moment for some
        threshold >= 0."""
        return sum(len(piece) for piece in self.key_lo)

    def pieces_of(self, quarters: np.ndarray) -> list[int]:
        """Return the pieces of keys of the given quarters, the longest first."""
        wanted = {int(q) for q in quarters}
        pieces = [i for i, q in enumerate(self.key_quarter) if q in wanted]
        return sorted(pieces, key=lambda i: -len(self.key_lo[i]))

    def sort_piece(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        """Return piece i's (quarter, key_lo, key_hi), sorted: in place, the first time it is
        asked for, under the piece's lock. It stays so: no reader sees a piece being sorted."""
        if not self.key_sorted[i]:
            with self.sort_locks[i]:
                if not self.key_sorted[i]:
                    self.key_lo[i].sort()
                    self.key_hi[i].sort()
                    self.key_sorted[i] = True
        return self.key_quarter[i], self.key_lo[i], self.key_hi[i]

    def sorted_keys(self, quarters: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Return (quarter, key_lo, key_hi) of every piece of the given quarters, sorted (those
        not yet sorted are, on two threads)."""
        pieces = self.pieces_of(quarters)
        if all(self.key_sorted[i] for i in pieces):
            return [self.sort_piece(i) for i in pieces]
        with ThreadPoolExecutor(2) as pool:
            return list(pool.map(self.sort_piece, pieces))


@dataclass(frozen=True, eq=False)
class _Outputs:
    """The arrays a scoring writes and its Scores keeps: record keys as long as the checks,
    each lead's best, SQL records as many as the SQL leads' checks (only the pages written are
    touched).

    Fresh memory is dear: its pages fault in as they are first written, a 4 KiB page at a
    time when the system has no huge page to spare, and that took a rescore from 80 to over
    200 ms. So when a Scores is gone, its arrays go to its history's spare list (give_back),
    and the next scoring writes over them if nothing else holds a view of them by then.
    """

    key_lo: np.ndarray
    key_hi: np.ndarray
    lead_max: np.ndarray
    sql_bound: np.ndarray
    sql_code: np.ndarray
    sql_lag: np.ndarray

    @staticmethod
    def take(m: Materialised) -> _Outputs:
        """Return a spare set of the history's that no one uses, or new arrays."""
        while True:
            try:
                spare = m.spare.pop()
            except IndexError:
                break
            if spare._unused():
                return spare
        n_sql = int(np.diff(m.check_start)[m.reached_sql_us != NEVER].sum())
        return _Outputs(
            key_lo=np.empty(m.n_checks, dtype=np.int64),
            key_hi=np.empty(m.n_checks, dtype=np.int64),
            lead_max=np.empty(m.n_leads, dtype=np.int64),
            sql_bound=np.empty((2, n_sql), dtype=np.int64),
            sql_code=np.empty((4, n_sql), dtype=np.int16),
            sql_lag=np.empty((2, n_sql)),
        )

    def _unused(self) -> bool:
        """Return whether nothing but this set refers to its arrays: no view of one was kept
        past its Scores."""
        # the references: this set's, the loop's and getrefcount's own
        return all(sys.getrefcount(array) == 3 for array in vars(self).values())

    def give_back(self, spare: list) -> None:
        """Put the arrays on the spare list, which keeps the latest set only (a set is 100-150
        MB at 1M leads). Called as their Scores goes, when it still holds its views: take checks
        they are gone."""
        spare.append(self)
        del spare[:-1]


def _halves(m: Materialised) -> list[tuple[int, int]]:
    """Return two ranges of leads holding about half the checks each."""
    split = int(np.searchsorted(m.check_start, m.n_checks // 2))
    return [(0, split), (split, m.n_leads)]


def score(m: Materialised, definition: Definition) -> Scores:
    """Return a definition's record highs over the materialised history.

    The definition's half-life must be the materialisation's (see with_half_life). Two threads
    score half the leads each, then sort the record keys and the SQL leads' records at once.
    """
    weights = compile_weights(m, definition)
    w = weights.arrays
    most = m.most_checks
    outcomes = (
        m.check_day,
        m.check_us,
        m.calendar.quarter_of_day,
        m.reached_sql_us,
        m.reached_customer_us,
        m.reached_quarter["sql"],
        m.reached_quarter["customer"],
    )

    # Each half's keys go to its own stretch of two arrays as long as the checks, each quarter's
    # to its own part of that (Materialised.key_stretches): only the pages written are ever
    # touched, and each part is one piece of keys.
    outputs = _Outputs.take(m)
    key_lo, key_hi, lead_max = outputs.key_lo, outputs.key_hi, outputs.lead_max

    def half(leads: tuple[int, int]) -> tuple[list, tuple[np.ndarray, ...], np.ndarray]:
        first, stop = leads
        at, end = int(m.check_start[first]), int(m.check_start[stop])
        stretch = m.key_stretches[leads]
        fill = stretch[:-1].copy()
        bound, code, lag, places = buffers[leads]
        n_sql = kernels.records(
            first,
            stop,
            m.history,
            w,
            outcomes,
            key_lo[at:end],
            key_hi[at:end],
            fill,
            bound,
            code,
            lag,
            lead_max,
            np.empty(most),
            kernels.new_scratch(w),
            np.empty(most, dtype=np.int64),
        )
        pieces = [
            (q, key_lo[at + a : at + b], key_hi[at + a : at + b])
            for q, (a, b) in enumerate(zip(stretch[:-1], fill))
        ]
        return pieces, (bound[:, :n_sql], code[:, :n_sql], lag[:, :n_sql]), places[:n_sql]

    # as many SQL records as the SQL leads' checks at most: pages never written are never touched
    own = m.buffers_lock.acquire(blocking=False)
    try:
        buffers = m.buffers if own else {}
        for first, stop in _halves(m):
            if (first, stop) not in buffers:
                of_sql = m.reached_sql_us[first:stop] != NEVER
                n_sql = int(np.diff(m.check_start[first : stop + 1])[of_sql].sum())
                buffers[first, stop] = (
                    np.empty((2, n_sql), dtype=np.int64),
                    np.empty((4, n_sql), dtype=np.int16),
                    np.empty((2, n_sql)),
                    np.empty(n_sql, dtype=np.int64),  # each record's place in its bucket
                )
        with ThreadPoolExecutor(2) as pool:
            halves = list(pool.map(half, _halves(m)))
            # by upper bound, so that a threshold move scans only the records that reach it
            start, shift, bound, code, lag = _bucketed(
                [h[1] for h in halves], [h[2] for h in halves], outputs, pool
            )
        pieces = [piece for h in halves for piece in h[0]]
        del halves
    finally:
        if own:
            m.buffers_lock.release()
    scores = Scores(
        definition=definition,
        half_life_days=m.half_life_days,
        key_lo=tuple(p[1] for p in pieces),
        key_hi=tuple(p[2] for p in pieces),
        key_quarter=tuple(p[0] for p in pieces),
        sql_lo=bound[0],
        sql_hi=bound[1],
        sql_code=code,
        sql_lag=lag,
        sql_start=start,
        sql_shift=shift,
        lead_max=lead_max,
        weights=weights,
        key_sorted=[False] * len(pieces),
        sort_locks=tuple(threading.Lock() for _ in pieces),
    )
    # when the Scores goes (not at exit: nothing would write over them)
    weakref.finalize(scores, outputs.give_back, m.spare).atexit = False
    return scores


def _bucketed(
    parts: list[tuple[np.ndarray, ...]],
    places: list[np.ndarray],
    outputs: _Outputs,
    pool: ThreadPoolExecutor,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """Return SQL records given in parts of (bound, code, lag) columns in buckets by upper
    bound (see Scores): where each bucket starts, the shift, and the bound, code and lag
    (in outputs' arrays). Each part is placed on a thread of the pool's; places: scratch, one
    per record of each part."""
    top = max((int(bound[1].max()) for bound, _, _ in parts if bound.shape[1]), default=0)
    shift = max(0, top.bit_length() - SQL_BUCKET_BITS)
    counts = []
    for bound, _, _ in parts:
        counts.append(np.zeros((1 << SQL_BUCKET_BITS) + 1, dtype=np.int64))
        kernels.count_buckets(bound[1], shift, counts[-1])
    start = np.cumsum(sum(counts))
    n = int(start[-1])
    out = (outputs.sql_bound[:, :n], outputs.sql_code[:, :n], outputs.sql_lag[:, :n])
    # each part's records take its places in each bucket after the earlier parts'
    fills = np.cumsum([start[:-1], *(c[1:] for c in counts[:-1])], axis=0)

    def move(part: tuple[np.ndarray, ...], fill: np.ndarray, place: np.ndarray) -> None:
        kernels.bucket_places(part[0][1], shift, fill, place)
        for rows, target in zip(part, out, strict=True):
            kernels.scatter(rows, place, target)

    list(pool.map(move, parts, fills, places))
    return start, shift, *out


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

    threshold: float | None  # None: replayed from given MQL moments (backtest_moments)
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
    per_day = np.zeros(cal.n_days, dtype=np.int64)
    needles = (np.arange(cal.n_days) << SCORE_BITS) | (s + BIAS)
    for q, lo, hi in scores.sorted_keys(cal.quarter_indices(quarters)):
        days = slice(cal.quarter_start_day[q], cal.quarter_start_day[q + 1])
        per_day[days] += np.searchsorted(lo, needles[days]) - np.searchsorted(hi, needles[days])
    # the records from s's bucket on (less those of its bucket below s), counted in one pass
    bucket = min(max(s, 0) >> scores.sql_shift, len(scores.sql_start) - 2)
    n_quarters = len(cal.quarters)
    reached, captured, lag_sum, sql_lags, customer_lags = kernels.sql_counts(
        scores.sql_lo,
        scores.sql_hi,
        scores.sql_code,
        scores.sql_lag,
        int(scores.sql_start[bucket]),
        int(scores.sql_start[bucket + 1]),
        s,
        _is_chosen(cal, quarters),
        n_quarters,
        m.sql_leads,
    )
    counted = _Counted(
        reached_sql=reached[0],
        reached_customer=reached[1],
        captured={"sql": captured[0], "customer": captured[1]},
        lag_sum={"sql": lag_sum[0], "customer": lag_sum[1]},
        lags={"sql": sql_lags, "customer": customer_lags},
    )
    return _summarise(m, threshold, per_day, counted, quarters, sales_capacity_per_week)


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
    counted = _counted(facts, _is_chosen(m.calendar, quarters), len(m.calendar.quarters))
    return _summarise(m, threshold, per_day, counted, quarters, sales_capacity_per_week)


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


@dataclass(frozen=True)
class _Counted:
    """What precision and capture count of the MQLs that reached SQL (see _sql_facts)."""

    reached_sql: np.ndarray  # per quarter of the MQL moment: MQLs that reached SQL
    reached_customer: np.ndarray  # and customer
    captured: dict[str, np.ndarray]  # per stage, per quarter it was reached: MQL first
    lag_sum: dict[str, np.ndarray]  # their days from MQL to the stage, summed
    lags: dict[str, np.ndarray]  # those days, of the captures in the chosen quarters


def _is_chosen(cal: Calendar, quarters: Sequence[str] | None) -> np.ndarray:
    """Return is_chosen[q + 1]: whether quarter q is chosen; -1 (a stage never reached) is not."""
    is_chosen = np.zeros(len(cal.quarters) + 1, dtype=bool)
    is_chosen[cal.quarter_indices(quarters) + 1] = True
    return is_chosen


def _counted(facts: dict[str, np.ndarray], is_chosen: np.ndarray, n_quarters: int) -> _Counted:
    """Return the counts of the facts of MQL moments (as lab_kernels.sql_counts counts
    scored records: the same sums, added in the same order)."""
    cohort = facts["cohort"]
    captured, lag_sum, lags = {}, {}, {}
    for stage in ("sql", "customer"):
        quarter, lag = facts[f"{stage}_quarter"], facts[f"{stage}_lag"]
        caught = quarter >= 0
        captured[stage] = np.bincount(quarter[caught], minlength=n_quarters)
        lag_sum[stage] = np.bincount(quarter[caught], weights=lag[caught], minlength=n_quarters)
        lags[stage] = lag[is_chosen[quarter + 1]]
    return _Counted(
        reached_sql=np.bincount(cohort, minlength=n_quarters),
        reached_customer=np.bincount(cohort[facts["won"]], minlength=n_quarters),
        captured=captured,
        lag_sum=lag_sum,
        lags=lags,
    )


def _summarise(
    m: Materialised,
    threshold: float | None,
    per_day: np.ndarray,
    counted: _Counted,
    quarters: Sequence[str] | None,
    capacity: float | None,
) -> Backtest:
    """Return the backtest from MQLs per day and the counts of the MQLs that reached SQL."""
    cal = m.calendar
    chosen = cal.quarter_indices(quarters)
    mqls = np.add.reduceat(per_day, cal.quarter_start_day[:-1])
    reached_sql, reached_customer = counted.reached_sql, counted.reached_customer
    captured, lags = counted.captured, counted.lags
    mean_lag = {}
    for stage in ("sql", "customer"):
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_lag[stage] = counted.lag_sum[stage] / captured[stage]

    # whole weeks (Monday first) inside the chosen quarters, before the data's today
    days = _chosen_days(cal, chosen)
    mondays = np.flatnonzero((np.arange(cal.n_days - 6) + cal.day0.weekday()) % 7 == 0)
    days_so_far = np.concatenate([[0], np.cumsum(days)])
    whole = mondays[days_so_far[mondays + 7] - days_so_far[mondays] == 7]
    mqls_so_far = np.concatenate([[0], np.cumsum(per_day)])
    weekly = mqls_so_far[whole + 7] - mqls_so_far[whole]

    with np.errstate(invalid="ignore", divide="ignore"):
        cost_per_mql = np.where((cal.spend > 0) & (mqls > 0), cal.spend / mqls, np.nan)
    frame = pl.DataFrame(
        {
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
        },
        nan_to_null=True,
    )
    over = {} if capacity is None else {"over_capacity": weekly > capacity}
    weeks = pl.DataFrame(
        {
            "week_start": (np.datetime64(cal.day0, "D") + whole).astype("datetime64[D]"),
            "mqls": weekly.astype(np.int64),
            **over,
        }
    )
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
    grid = default_thresholds(scores) if thresholds is None else thresholds
    s = np.array([threshold_micro(t) for t in grid], dtype=np.int64)
    mqls = np.zeros(len(s), dtype=np.int64)
    # a record run is an MQL moment at s when lo < s <= hi: count, per threshold, the runs in
    # the chosen days with lo < s and take those with hi < s (their lo is lower still)
    order = np.argsort(s, kind="stable")
    ranked = s[order]
    # the SQL leads' records, by the selections precision and capture count
    is_chosen = np.zeros(len(cal.quarters) + 1, dtype=bool)  # [q + 1]: quarter q chosen
    is_chosen[chosen + 1] = True
    hist = np.zeros((2, len(ranked) + 1), dtype=np.int64)  # key_lo's, key_hi's
    sql_hist = np.zeros((4, len(ranked) + 1), dtype=np.int64)

    def keys_histogram(piece: int) -> np.ndarray:
        """Return the histogram of a piece's key_lo (row 0) and key_hi (row 1), sorting it first
        if no threshold has been asked of its quarter yet (one will be): once sort_piece hands
        it out, no other session sorts it."""
        _, lo, hi = scores.sort_piece(piece)
        counts = np.zeros((2, len(ranked) + 1), dtype=np.int64)
        kernels.key_histogram(lo, ranked, counts[0])
        kernels.key_histogram(hi, ranked, counts[1])
        return counts

    with ThreadPoolExecutor(2) as pool:  # the SQL records and the pieces, on two threads
        sql_done = pool.submit(
            kernels.sql_histograms,
            scores.sql_lo,
            scores.sql_hi,
            scores.sql_code,
            is_chosen,
            ranked,
            sql_hist,
        )
        for counts in pool.map(keys_histogram, scores.pieces_of(chosen)):
            hist += counts
        sql_done.result()
    mqls[order] = np.cumsum(hist[0] - hist[1])[: len(ranked)]
    active = np.empty((4, len(s)), dtype=np.int64)
    active[:, order] = np.cumsum(sql_hist, axis=1)[:, : len(ranked)]
    columns = {
        "threshold": np.asarray(grid, dtype=np.float64),
        "mqls": mqls,
        "mqls_reached_sql": active[0],
        "mqls_reached_customer": active[1],
    }
    for row, stage in ((2, "sql"), (3, "customer")):
        total = m.stage_totals[stage][chosen].sum()
        captured = active[row]
        columns[f"{stage}s_captured"] = captured
        columns[f"{stage}_capture"] = captured / total if total else np.full(len(s), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["mql_to_sql"] = columns["mqls_reached_sql"] / mqls
        columns["mql_to_customer"] = columns["mqls_reached_customer"] / mqls
    return pl.DataFrame(columns, nan_to_null=True)


QUANTILE_SAMPLE = 100_000


def default_thresholds(scores: Scores, steps: int = 200) -> np.ndarray:
    """Return thresholds from 0 to about the 99.9th percentile of leads' best scores."""
    # every k-th lead tells the percentile closely enough (taken before the test for >= 0,
    # which over every lead took longer than the percentile)
    best = scores.lead_max[:: max(1, len(scores.lead_max) // QUANTILE_SAMPLE)]
    best = best[best >= 0]
    top = float(np.quantile(best, 0.999)) / 1e6 if len(best) else 0.0
    raw = max(top, 1.0) / steps
    step = min(m * 10**e for e in range(-2, 6) for m in (1, 2, 5) if m * 10**e >= raw)
    return np.round(np.arange(0, math.ceil(top / step) * step + step / 2, step), 6)


# =====================================================================================
# MQL moments, movers and explanations
# =====================================================================================


def mql_moments(
    m: Materialised,
    definition: Definition,
    threshold: float | None = None,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """Return each lead's MQL moment (us; NEVER for none) at a threshold, checking every moment.

    window: (since, until) in us: only checks in [since, until) can be the moment. This is the
    straightforward pass over all checks; `backtest` answers the same from Scores.
    """
    s = threshold_micro(definition.threshold if threshold is None else threshold)
    since, until = window if window is not None else (-NEVER, NEVER)
    w = compile_weights(m, definition).arrays
    first = np.empty(m.n_leads, dtype=np.int64)
    most = m.most_checks

    def half(leads: tuple[int, int]) -> None:
        kernels.first_crossings(
            np.arange(*leads),
            m.history,
            w,
            m.check_us,
            s,
            since,
            until,
            first[leads[0] : leads[1]],
            np.empty(most),
            kernels.new_scratch(w),
            np.empty(most, dtype=np.int64),
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(half, _halves(m)))
    first.flags.writeable = False  # moments are facts: who moves keeps their mask (_is_mql)
    return first


def versions_in_force(
    m: Materialised, in_force: Sequence[Definition | None]
) -> list[tuple[Definition, tuple[int, int]]]:
    """Return each definition in force with the moments (us) it governs, [since, until).

    in_force: per quarter of m's calendar, the version in force in it (None: none yet; the
    first version governs the quarters before it, as the data predates the definitions).
    """
    known = [d for d in in_force if d is not None]
    if not known:
        return []
    spans: list[tuple[Definition, tuple[int, int]]] = []
    for quarter, definition in zip(m.calendar.quarters, in_force):
        definition = definition or known[0]
        since, until = _day_us(quarter.start), _day_us(quarter.end)
        if spans and spans[-1][0].definition_id == definition.definition_id:
            spans[-1] = (definition, (spans[-1][1][0], until))
        else:
            spans.append((definition, (since, until)))
    # the first and last spans reach out to whatever lies beyond the calendar
    spans[0] = (spans[0][0], (-NEVER, spans[0][1][1]))
    spans[-1] = (spans[-1][0], (spans[-1][1][0], NEVER))
    return spans


def mql_moments_in_force(
    m: Materialised, spans: Sequence[tuple[Definition, tuple[int, int]]]
) -> np.ndarray:
    """Return each lead's MQL moment when each quarter is judged by the version in force in it:
    the first check, in any span, whose score under that span's version reaches its threshold.

    spans: from versions_in_force. A version with another half-life is scored on m decayed by
    its own (with_half_life).
    """
    moments = np.full(m.n_leads, NEVER, dtype=np.int64)
    for definition, window in spans:
        history = (
            m
            if definition.half_life_days == m.half_life_days
            else with_half_life(m, definition.half_life_days)
        )
        np.minimum(moments, mql_moments(history, definition, window=window), out=moments)
    moments.flags.writeable = False
    return moments


def moments_frame(m: Materialised, mql_us: np.ndarray) -> pl.DataFrame:
    """Return (lead_id, mql_at) for the leads with an MQL moment, as the SQL returns them."""
    has = mql_us != NEVER
    return pl.DataFrame(
        {
            "lead_id": m.lead_id.filter(pl.Series(has)),
            "mql_at": pl.Series(mql_us[has], dtype=pl.Int64).cast(pl.Datetime("us")),
        }
    )


def lead_checks(m: Materialised, w: Weights, lead: int) -> tuple[np.ndarray, np.ndarray]:
    """Return one lead's check moments (us) and unrounded scores at them."""
    first, stop = m.check_start[lead], m.check_start[lead + 1]
    scores = np.empty(stop - first)
    record_at = np.empty(stop - first, dtype=np.int64)
    kernels.one_lead(lead, m.history, w.arrays, scores, kernels.new_scratch(w.arrays), record_at)
    return m.check_us[first:stop], scores


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
    entering, leaving, staying = _moving(current_mql_us, scores, threshold)
    # per persona dimension and value, the movers each way; the most marginal of each way,
    # the lowest best score that now qualifies and the highest that no longer does
    codes = tuple(m.codes[dimension] for dimension in PERSONA)
    width = max(len(m.values[dimension]) + 1 for dimension in PERSONA)
    ins = np.zeros((len(PERSONA), width), dtype=np.int64)
    outs = np.zeros((len(PERSONA), width), dtype=np.int64)
    k = max(sample, 0)
    closest_in = kernels.mover_groups(entering, scores.lead_max, codes, ins, k, True)
    closest_out = kernels.mover_groups(leaving, scores.lead_max, codes, outs, k, False)
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
    w = scores.weights.arrays
    kernels.first_crossings(
        closest_in,
        m.history,
        w,
        m.check_us,
        s,
        -NEVER,
        NEVER,
        first_at,
        np.empty(m.most_checks),
        kernels.new_scratch(w),
        np.empty(m.most_checks, dtype=np.int64),
    )
    return Movers(
        entering=len(entering),
        leaving=len(leaving),
        staying=staying,
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
