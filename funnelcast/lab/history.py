"""The Threshold Lab's history: what no slider changes, materialised once per data load.

A definition's MQL moments (queries/computed_mql_moments.sql) depend on the data in two layers.
This is the first (Materialised): per lead its fit attribute codes and outcomes, and its check
moments (its creation and each later moment with a scoring event) with the events at each; per
half-life, the decay between checks. The second, what a weight or fit-point change recomputes
from it, is funnelcast.lab.scores.

A Materialised is read-only once built, so sessions can share it; a half-life change makes a
new one that shares all but the decay factors (`with_half_life`). A definition scoring an event
type the materialisation lacks needs a new one (compile_weights raises Rematerialise); any
points, caps and signs of the types it has can be scored. The events are sorted and laid out by
the compiled loops of funnelcast.lab._fast.layout; the history also owns the BufferPool its
scorings write into (funnelcast.lab._fast.buffers).

The history is compact: moments are ticks since the first quarter's first day (whole seconds
in 32 bits when every moment is a whole second within 34 years of it, else microseconds in 64),
event types small codes, counts the narrowest integer that holds the largest, and every lead's
checks, groups and early events a stretch of one array each (offsets, not objects per lead).
The events stream from DuckDB in batches, narrowed as they come (lead, tick and type: 9 bytes an
event), and are sorted per lead once all are read (5 bytes an event).

A materialisation reports its progress to a callback (Progress): each step of STEPS in order,
with the share of the whole done so far, from 0.0 to 1.0 at the end; reading the events reports
after each batch, against the events table's row count.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict

import duckdb
import numpy as np
import polars as pl

from funnelcast.data import db
from funnelcast.definitions import Definition
from funnelcast.lab import _fast
from funnelcast.lab._fast import DAY_US, NEVER
from funnelcast.lab.budget import WHOLE, Sample
from funnelcast.lab.fields import FieldStore, load_fields, named_fields
from funnelcast.lab.quarters import Calendar, calendar_from, calendar_parts, day_us

# Checks handled per vectorised step of a half-life change: temporaries stay small.
CHUNK = 1 << 18
FIT_ATTRIBUTES = ("channel", "industry", "company_size_band", "country", "region", "seniority")
BATCH_ROWS = 1 << 20
SECOND_US = 1_000_000
# moments in seconds stay within this many of the epoch, so that any difference of two fits 32 bits
SECONDS_REACH = 1 << 30
MOMENTS = ("created", "recorded_mql", "reached_sql", "reached_customer")
# The steps of a materialisation, in order, each with the share of the whole done when it ends
# (about its share of the time at 1M leads).
STEPS = (("leads", 0.15), ("events", 0.7), ("layout", 0.9), ("decay", 1.0))
# Called with a step's name and the share of the whole materialisation done, in [0, 1].
Progress = Callable[[str, float], None]


def _no_progress(step: str, done: float) -> None:
    """Report nothing (materialise without a progress callback)."""


class _Reporter:
    """Reports a materialisation's steps to a Progress callback as shares of the whole."""

    def __init__(self, progress: Progress | None):
        self.progress = progress or _no_progress
        self.starts = dict(zip((n for n, _ in STEPS), (0.0, *(end for _, end in STEPS))))
        self.ends = dict(STEPS)

    def __call__(self, step: str, within: float) -> None:
        """Report that a share within (0 to 1) of the step is done."""
        start, end = self.starts[step], self.ends[step]
        self.progress(step, start + (end - start) * min(1.0, max(0.0, within)))


class Rematerialise(ValueError):
    """A definition scores event types, or decays by a half-life, the materialisation lacks."""


@dataclass(eq=False)
class Materialised:
    """Per lead and per check moment, what no weight, cap, fit point or threshold changes.

    Arrays indexed by lead follow lead_id order. Checks are laid out lead by lead, each lead's
    in time order: check_start[i] is lead i's first (its creation), check_start[i + 1] ends
    them. A check's moment is check_at ticks of tick_us microseconds after epoch_us (the first
    quarter's first day; check_us_of gives them in microseconds), early_age likewise. Each
    check holds check_groups of the lead's event groups (events of one moment and type: type
    and count), in order; events before creation (early_*) count from creation on,
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
    epoch_us: int  # moment 0 of check_at and early_age, in us since the Unix epoch
    tick_us: int  # what one tick of check_at and early_age is, in us (1 or SECOND_US)
    check_at: np.ndarray  # moment of each check, in ticks since epoch_us
    check_groups: np.ndarray  # event groups at each check
    group_start: np.ndarray  # per lead, plus the end
    group_type: np.ndarray
    group_count: np.ndarray
    early_start: np.ndarray  # per lead, plus the end
    early_type: np.ndarray
    early_count: np.ndarray
    early_age: np.ndarray  # in ticks
    decay: np.ndarray
    early_weight: np.ndarray
    # the arrays its scorings write, taken and given back explicitly (shared with the
    # half-life copies: they score into arrays of the same sizes; see lab._fast.buffers)
    pool: _fast.BufferPool = field(default_factory=_fast.BufferPool, repr=False)
    # per fit-rule set, its points per lead: a weight change leaves the fit as it was
    fit_cache: dict = field(default_factory=dict, repr=False)
    # the other lead fields fit rules read, loaded on demand (lab.fields; shared likewise)
    field_store: FieldStore = field(default_factory=FieldStore, repr=False)
    # which leads it holds (lab.budget: all, or a seeded share) and how many the data has
    sample: Sample = WHOLE
    all_leads: int = -1

    @property
    def n_leads(self) -> int:
        """Return the number of leads."""
        return len(self.created_us)

    @property
    def n_checks(self) -> int:
        """Return the number of check moments."""
        return len(self.check_at)

    @property
    def check_moments(self) -> tuple[np.ndarray, int, int]:
        """Return the check moments as the compiled loops read them (lab._fast: moment_us)."""
        return self.check_at, self.epoch_us, self.tick_us

    def check_days(self, first: int, stop: int) -> np.ndarray:
        """Return the day index of checks first..stop-1 (no array of every check's day is
        held: 2 bytes a check, 0.4 GiB at 10M leads; the kernels divide as they go, day_of)."""
        return self.check_at[first:stop] // (DAY_US // self.tick_us)

    def check_us_of(self, first: int, stop: int) -> np.ndarray:
        """Return the moments of checks first..stop-1 in microseconds since the Unix epoch."""
        return self.epoch_us + self.check_at[first:stop].astype(np.int64) * self.tick_us

    @property
    def nbytes(self) -> int:
        """Return the bytes the numpy arrays hold."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray)) + sum(
            c.nbytes for c in self.codes.values()
        )

    @property
    def history(self) -> tuple:
        """Return the arrays the compiled loops read (lab._fast.kernels), in their order."""
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
    def halves(self) -> list[tuple[int, int]]:
        """Return two ranges of leads holding about half the checks each (two threads score
        one each)."""
        split = int(np.searchsorted(self.check_start, self.n_checks // 2))
        return [(0, split), (split, self.n_leads)]

    @functools.cached_property
    def key_stretches(self) -> dict[tuple[int, int], np.ndarray]:
        """Return per half of the leads (see halves) where each quarter's stretch of record
        keys starts among the half's checks, plus the end: as many places as the half has
        checks in the quarter, for a day's run of a lead's records has a check that day."""
        cal = self.calendar
        stretches = {}
        for first, stop in self.halves:
            at, end = self.check_start[first], self.check_start[stop]
            counts = np.zeros(len(cal.quarters), dtype=np.int64)
            for start in range(at, end, CHUNK):
                days = self.check_days(start, min(end, start + CHUNK))
                counts += np.bincount(cal.quarter_of_day[days], minlength=len(cal.quarters))
            stretches[first, stop] = np.concatenate([[0], np.cumsum(counts)])
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
    cur: duckdb.DuckDBPyConnection,
    half_life_days: float,
    event_types: Iterable[str],
    fields: Iterable[str] = (),
    progress: Progress | None = None,
    sample: Sample = WHOLE,
) -> Materialised:
    """Return the history materialised for scoring these event types at this half-life, with
    these lead fields read for fit rules (more: read_fields); progress, if given, hears each
    step of STEPS as it goes (see the module's docstring); sample: which leads it holds (the
    calendar is the whole data's; see lab.budget).

    Any points, caps or signs (rewards decay, penalties count) can then score it.
    """
    report = _Reporter(progress)
    types = tuple(dict.fromkeys(event_types))
    report("leads", 0.0)
    leads = db.run(cur, "lab_leads")
    all_leads, chosen = leads.height, sample.chosen(leads.height)
    calendar = calendar_from(
        calendar_parts(cur, (leads[f"{name}_us"].fill_null(NEVER).to_numpy() for name in MOMENTS))
    )
    if not sample.is_whole:
        leads = leads.filter(pl.Series(chosen))
    codes, values = {}, {}
    for attribute in FIT_ATTRIBUTES:
        codes[attribute], values[attribute] = _encode(leads[attribute])
    moments = {name: leads[f"{name}_us"].fill_null(NEVER).to_numpy() for name in MOMENTS}
    lead_id = leads["lead_id"]
    del leads
    report("leads", 1.0)

    ticks = _Ticks(day_us(calendar.day0), moments["created"])
    batches = _event_batches(cur, types)
    if not sample.is_whole:  # events renumbered to the sampled leads, the others dropped
        batches = _sampled(batches, np.cumsum(chosen) - 1, chosen)
    if progress is not None:
        batches = _counted(batches, _event_rows(cur), report)
    held = ticks.narrowed(batches, len(types))
    created = ticks.of(moments["created"])
    event_start, at, kind = _fast.sort_events(held, len(moments["created"]))
    db.release_cached_blocks(cur)  # the events' blocks DuckDB kept: 200 MB at 20M events
    report("events", 1.0)
    layout = _layout(event_start, at, kind, created, len(types), report)
    del event_start, at, kind, created
    _check_days_within(layout["check_at"], DAY_US // ticks.tick_us, calendar.n_days)
    stage_totals, reached_quarter = {}, {}
    for stage in ("sql", "customer"):
        at = moments[f"reached_{stage}"]
        reached = at != NEVER
        quarter = np.full(len(at), -1, dtype=np.int16)
        quarter[reached] = calendar.quarter_of_day[calendar.day_of(at[reached])]
        reached_quarter[stage] = quarter
        stage_totals[stage] = np.bincount(quarter[reached], minlength=len(calendar.quarters))
    m = Materialised(
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
        epoch_us=ticks.epoch_us,
        tick_us=ticks.tick_us,
        **layout,
        **_decays(
            layout["check_at"],
            ticks.tick_us,
            layout["check_start"],
            layout["early_count"],
            layout["early_age"],
            half_life_days,
        ),
        sample=sample,
        all_leads=all_leads,
    )
    if not sample.is_whole:
        m.field_store.lead_map = np.where(chosen, np.cumsum(chosen) - 1, -1)
    report("decay", 0.5)
    read_fields(m, cur, fields)
    report("decay", 1.0)
    return m


def _event_rows(cur: duckdb.DuckDBPyConnection) -> int:
    """Return how many rows the events table holds (what reading them counts progress by)."""
    rows = db.run(cur, "data_extent").filter(pl.col("table_name") == "events")
    return int(rows["count_rows"].item()) if rows.height else 0


def _counted(
    batches: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]], total: int, report: _Reporter
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield the batches, reporting after each the share of the total rows read so far."""
    seen = 0
    for batch in batches:
        yield batch
        seen += len(batch[0])
        report("events", seen / total if total else 1.0)


def _sampled(
    batches: Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]],
    position: np.ndarray,
    chosen: np.ndarray,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield the batches' events of chosen leads, each lead index its position among them."""
    for lead, at_us, kind in batches:
        keep = chosen[lead]
        yield position[lead[keep]].astype(lead.dtype), at_us[keep], kind[keep]


def read_fields(m: Materialised, cur: duckdb.DuckDBPyConnection, names: Iterable[str]) -> None:
    """Read lead fields fit rules name into the history's field store, once each (shared by
    its half-life copies)."""
    load_fields(m.field_store, cur, names, m.n_leads)


def read_fields_for(
    m: Materialised, cur: duckdb.DuckDBPyConnection, *definitions: Definition
) -> None:
    """Read every field the definitions' fit rules name that the history lacks."""
    names = named_fields(definitions) - set(FIT_ATTRIBUTES) - {"created_at"}
    if names - m.field_store.values.keys():
        read_fields(m, cur, names)


def materialise_for(
    cur: duckdb.DuckDBPyConnection, *definitions: Definition, sample: Sample = WHOLE
) -> Materialised:
    """Return the history materialised for scoring these definitions (the first's half-life),
    of the leads the sample holds."""
    return materialise(
        cur,
        definitions[0].half_life_days,
        [rule.event_type for d in definitions for rule in d.behaviour_rules],
        named_fields(definitions) - set(FIT_ATTRIBUTES) - {"created_at"},
        sample=sample,
    )


def with_half_life(m: Materialised, half_life_days: float) -> Materialised:
    """Return the history decayed by another half-life.

    Everything but the decay factors is shared with m, which stays as it was (other sessions
    may be using it).
    """
    decayed = dataclasses.replace(
        m,
        half_life_days=float(half_life_days),
        **_decays(m.check_at, m.tick_us, m.check_start, m.early_count, m.early_age, half_life_days),
    )
    # what is worked out once from the layout holds for the copy too (key_stretches: 75 ms)
    for name in ("halves", "key_stretches", "most_checks", "sql_leads"):
        if name in vars(m):
            vars(decayed)[name] = vars(m)[name]
    return decayed


def _decays(
    check_at: np.ndarray,
    tick_us: int,
    check_start: np.ndarray,
    early_count: np.ndarray,
    early_age: np.ndarray,
    half_life_days: float,
) -> _Decays:
    """Return per check 0.5^(gap since the lead's previous check / half-life) (1 at a lead's
    first), and per early event group count x 0.5^(age at creation / half-life).

    Gaps and ages are taken in whole microseconds, as before the moments were kept in ticks:
    the same factors, bit for bit, whatever tick they are kept in."""
    if not half_life_days > 0:
        raise ValueError(f"half-life must be more than 0 days, not {half_life_days}")
    scale = -1.0 / (DAY_US * half_life_days)
    decay = np.empty(len(check_at))
    decay[0:1] = 1.0
    with np.errstate(over="ignore"):  # from one lead's last check to the next lead's first
        for start in range(1, len(check_at), CHUNK):
            stop = min(len(check_at), start + CHUNK)
            gap = check_at[start:stop].astype(np.int64) - check_at[start - 1 : stop - 1]
            np.exp2(gap * tick_us * scale, out=decay[start:stop])
    decay[check_start[:-1]] = 1.0
    age_us = early_age.astype(np.int64) * tick_us
    return _Decays(
        decay=decay,
        early_weight=early_count * np.exp2(-age_us / (DAY_US * half_life_days)),
    )


def _check_days_within(check_at: np.ndarray, ticks_a_day: int, n_days: int) -> None:
    """Raise unless every check lies on one of the calendar's days (ticks count from the
    first day's start), a chunk at a time, so that no temporary as long as the checks is made."""
    for start in range(0, len(check_at), CHUNK):
        chunk = check_at[start : start + CHUNK]
        if chunk.min() < 0 or chunk.max() // ticks_a_day >= n_days:
            raise db.FunnelcastError("a lead or event lies outside the data's quarters")


class _Ticks:
    """Moments as ticks since an epoch (the first quarter's first day): whole seconds in int32
    while every moment read is one and lies within SECONDS_REACH of the epoch, else
    microseconds in int64 (events read before a moment did not fit are widened then)."""

    def __init__(self, epoch_us: int, created_us: np.ndarray):
        self.epoch_us = int(epoch_us)
        self.tick_us = SECOND_US if self._in_seconds(created_us) else 1

    def _in_seconds(self, us: np.ndarray) -> bool:
        """Return whether these moments (us) are whole seconds within reach of the epoch."""
        if not len(us):
            return True
        offset = us - self.epoch_us
        if np.any(offset % SECOND_US):
            return False
        low, high = offset.min() // SECOND_US, offset.max() // SECOND_US
        return bool(-SECONDS_REACH <= low and high < SECONDS_REACH)

    @property
    def dtype(self) -> type:
        """Return the integer type a tick is kept in."""
        return np.int32 if self.tick_us == SECOND_US else np.int64

    def of(self, us: np.ndarray) -> np.ndarray:
        """Return moments (us) as ticks."""
        return ((us - self.epoch_us) // self.tick_us).astype(self.dtype)

    def narrowed(
        self, batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], n_types: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Return the event batches (lead, moment in us, type) read and held narrow: lead as
        int32, moment as ticks, type as int8 (int16 for 128 types or more)."""
        type_dtype = np.int8 if n_types < 128 else np.int16
        held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for lead, at_us, kind in batches:
            if self.tick_us == SECOND_US and not self._in_seconds(at_us):
                self.tick_us = 1  # widen what is held: seconds to microseconds, exactly
                held = [(ld, at.astype(np.int64) * SECOND_US, k) for ld, at, k in held]
            held.append((lead.astype(np.int32), self.of(at_us), kind.astype(type_dtype)))
        return held


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
    check_at: np.ndarray
    check_groups: np.ndarray
    group_type: np.ndarray
    group_count: np.ndarray
    early_type: np.ndarray
    early_count: np.ndarray
    early_age: np.ndarray


class _Decays(TypedDict):
    """The Materialised fields a half-life sets (see _decays)."""

    decay: np.ndarray
    early_weight: np.ndarray


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
    at: np.ndarray,
    kind: np.ndarray,
    created: np.ndarray,
    n_types: int,
    report: _Reporter,
) -> _Layout:
    """Return the check layout: checks, event groups and early events, lead by lead.

    event_start, at, kind: the events as lab._fast.sort_events sorts them; at and created in
    the same ticks, which the check moments and early ages keep.
    """
    n_checks, n_groups, n_early, largest = _fast.count_layout(event_start, at, kind, created)
    report("layout", 0.4)
    starts = {
        name: np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        for name, n in (("check", n_checks), ("group", n_groups), ("early", n_early))
    }
    type_dtype = np.int8 if n_types < 128 else np.int16
    out = {
        "check_at": np.empty(starts["check"][-1], dtype=at.dtype),
        "check_groups": np.zeros(
            starts["check"][-1], dtype=np.uint8 if n_types < 256 else np.uint16
        ),
        "group_type": np.empty(starts["group"][-1], dtype=type_dtype),
        "group_count": np.empty(starts["group"][-1], dtype=np.min_scalar_type(largest)),
        "early_type": np.empty(starts["early"][-1], dtype=type_dtype),
        "early_count": np.empty(starts["early"][-1], dtype=np.min_scalar_type(largest)),
        "early_age": np.empty(starts["early"][-1], dtype=at.dtype),
    }
    _fast.fill_layout(
        event_start,
        at,
        kind,
        created,
        starts["check"],
        starts["group"],
        starts["early"],
        *out.values(),
    )
    report("layout", 1.0)
    return _Layout(
        check_start=starts["check"],
        group_start=starts["group"],
        early_start=starts["early"],
        check_at=out["check_at"],
        check_groups=out["check_groups"],
        group_type=out["group_type"],
        group_count=out["group_count"],
        early_type=out["early_type"],
        early_count=out["early_count"],
        early_age=out["early_age"],
    )
