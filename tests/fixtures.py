"""Hand-made Funnelcast databases, built from named journeys.

A journey is one lead with what it did (events) and what sales recorded (stage changes), named for
the story it tells, like PostHog's conversion_time_cases: "mql_then_rejected",
"demo_request_without_mql". Tests list the journeys they need, build a small database from them
and compare a query's rows with rows worked out by hand. Times are ISO text, stored as UTC.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from funnelcast.data import db

LEAD_ATTRIBUTES = (
    "campaign",
    "company",
    "industry",
    "company_size",
    "country",
    "region",
    "job_title",
    "seniority",
)


def at(text: str) -> dt.datetime:
    """Return the timestamp an ISO text names ('2026-01-31' is midnight)."""
    return dt.datetime.fromisoformat(text)


def day(text: str) -> dt.date:
    """Return the date an ISO text names."""
    return dt.date.fromisoformat(text)


@dataclass(frozen=True)
class Journey:
    """One lead: when and where it came from, its fit attributes, its events and its stages.

    events: (event_type, occurred_at) pairs. stages: (stage, changed_at) or
    (stage, changed_at, amount) tuples, as the CRM recorded them.
    """

    lead_id: str
    created_at: str
    channel: str = "search"
    events: Sequence[tuple[str, str]] = ()
    stages: Sequence[tuple[Any, ...]] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Definition:
    """A version of the MQL definition with its rules.

    fit_rules: (attribute, value, points) or (attribute, value, points, is_disqualifier).
    behaviour_rules: (event_type, points) or (event_type, points, cap_points).
    """

    definition_id: int
    effective_from: str
    threshold: float
    half_life_days: float
    fit_rules: Sequence[tuple[Any, ...]] = ()
    behaviour_rules: Sequence[tuple[Any, ...]] = ()
    name: str = ""
    created_at: str = "2024-12-01"


@dataclass(frozen=True)
class Spend:
    """Marketing spend of one channel (and campaign) for the period starting on a day."""

    period_start: str
    channel: str
    amount: float
    campaign: str = ""


def new_database(
    path: str | Path = ":memory:", *, fy_start_month: int = 1
) -> duckdb.DuckDBPyConnection:
    """Return a connection to a new, empty Funnelcast database."""
    con = db.connect(path, create=True)
    if fy_start_month != 1:
        db.set_meta(con, "fiscal_year_start_month", str(fy_start_month))
    return con


def add_journeys(con: duckdb.DuckDBPyConnection, journeys: Iterable[Journey]) -> None:
    """Insert each journey's lead, then its events and stage changes."""
    journeys = list(journeys)
    for journey in journeys:
        unknown = set(journey.attributes) - set(LEAD_ATTRIBUTES)
        if unknown:
            raise ValueError(f"{journey.lead_id}: not lead attributes: {sorted(unknown)}")
        values = {
            "lead_id": journey.lead_id,
            "created_at": at(journey.created_at),
            "channel": journey.channel,
            **{name: journey.attributes.get(name) for name in LEAD_ATTRIBUTES},
        }
        columns = ", ".join(values)
        placeholders = ", ".join(f"${name}" for name in values)
        con.execute(f"insert into leads ({columns}) values ({placeholders})", values)
    for journey in sorted(journeys, key=lambda j: j.lead_id):
        for event_type, occurred_at in journey.events:
            con.execute(
                "insert into events (lead_id, occurred_at, event_type) values ($l, $t, $e)",
                {"l": journey.lead_id, "t": at(occurred_at), "e": event_type},
            )
        for stage in journey.stages:
            name, changed_at, amount = (*stage, None)[:3]
            con.execute(
                "insert into stage_changes (lead_id, stage, changed_at, amount) "
                "values ($l, $s, $t, $a)",
                {"l": journey.lead_id, "s": name, "t": at(changed_at), "a": amount},
            )


def add_definitions(con: duckdb.DuckDBPyConnection, definitions: Iterable[Definition]) -> None:
    """Insert MQL definitions with their fit and behaviour rules."""
    for d in definitions:
        con.execute(
            "insert into definitions values ($id, $name, $from, $threshold, $half_life, $created, null)",
            {
                "id": d.definition_id,
                "name": d.name or f"definition {d.definition_id}",
                "from": day(d.effective_from),
                "threshold": d.threshold,
                "half_life": d.half_life_days,
                "created": at(d.created_at),
            },
        )
        for number, (attribute, value, points, *rest) in enumerate(d.fit_rules, 1):
            con.execute(
                "insert into definition_fit_rules (definition_id, rule_no, attribute, operator, "
                "field_type, value, points, is_disqualifier) "
                "values ($id, $n, $a, 'is', 'text', $v, $p, $dq)",
                {
                    "id": d.definition_id,
                    "n": number,
                    "a": attribute,
                    "v": value,
                    "p": points,
                    "dq": bool(rest and rest[0]),
                },
            )
        for event_type, points, *rest in d.behaviour_rules:
            con.execute(
                "insert into definition_behaviour_rules values ($id, $e, $p, $cap)",
                {
                    "id": d.definition_id,
                    "e": event_type,
                    "p": points,
                    "cap": rest[0] if rest else None,
                },
            )


def add_spend(con: duckdb.DuckDBPyConnection, spend: Iterable[Spend]) -> None:
    """Insert spend rows."""
    for s in spend:
        con.execute(
            "insert into spend values ($p, $c, $campaign, $a)",
            {"p": day(s.period_start), "c": s.channel, "campaign": s.campaign, "a": s.amount},
        )


def build(
    journeys: Iterable[Journey] = (),
    *,
    spend: Iterable[Spend] = (),
    definitions: Iterable[Definition] = (),
    fy_start_month: int = 1,
    path: str | Path = ":memory:",
) -> duckdb.DuckDBPyConnection:
    """Return a connection to a new Funnelcast database holding the given journeys and spend."""
    con = new_database(path, fy_start_month=fy_start_month)
    add_definitions(con, definitions)
    add_journeys(con, journeys)
    add_spend(con, spend)
    return con


def with_moments(
    cur: duckdb.DuckDBPyConnection,
    moments: pl.DataFrame | Sequence[tuple[str, str]],
    name: str,
    **params: Any,
) -> pl.DataFrame:
    """Return queries/NAME.sql's rows with the given (lead_id, mql_at) visible as mql_moments."""
    if not isinstance(moments, pl.DataFrame):
        moments = pl.DataFrame(
            {"lead_id": [m[0] for m in moments], "mql_at": [at(m[1]) for m in moments]},
            schema={"lead_id": pl.String, "mql_at": pl.Datetime("us")},
        )
    cur.register("mql_moments", moments.select("lead_id", "mql_at"))
    try:
        return db.run(cur, name, **params)
    finally:
        cur.unregister("mql_moments")


def rows(
    cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> list[tuple]:
    """Return every row of a SQL statement, fully fetched."""
    return cur.execute(sql, dict(params or {})).fetchall()


# ===== the scoring definition most tests use =====

# threshold 50, half-life 30 days: an event 30 days old counts half, 60 days old a quarter.
SCORING_2026 = Definition(
    definition_id=1,
    name="2026 definition",
    effective_from="2025-01-01",
    threshold=50,
    half_life_days=30,
    fit_rules=(
        ("seniority", "vp", 30),
        ("seniority", "c_level", 60),
        ("company_size_band", "201-1000", 10),
        ("region", "apac", 0, True),  # a region the company does not sell to
    ),
    behaviour_rules=(
        ("demo_request", 80),
        ("content_download", 20, 30),  # many downloads say little more than two
        ("webinar_attended", 40),
        ("unsubscribe", -20),
    ),
)


# ===== a quarter review: the named journeys the funnel and the metrics are checked on =====

# The canonical journey: every stage, in order, inside one quarter (2026Q1).
STRAIGHT_TO_CUSTOMER = Journey(
    "straight_to_customer",
    "2026-01-05",
    "search",
    attributes={"seniority": "vp"},
    events=[("content_download", "2026-01-08")],
    stages=[
        ("mql", "2026-01-10"),
        ("sal", "2026-01-12"),
        ("sql", "2026-02-01"),
        ("customer", "2026-03-01", 10_000),
    ],
)
# Sales rejects an MQL: counted as an MQL and as rejected, never as SAL or SQL.
MQL_THEN_REJECTED = Journey(
    "mql_then_rejected",
    "2026-01-20",
    "search",
    stages=[("mql", "2026-02-01"), ("rejected", "2026-02-05")],
)
# A buyer who asks for a demo and goes straight to SQL: no MQL was ever recorded, yet the lead
# reached SAL and SQL. Marketing's definition missed it; sqls_without_mql counts it.
DEMO_REQUEST_WITHOUT_MQL = Journey(
    "demo_request_without_mql",
    "2026-02-10 09:00",
    "social",
    events=[("demo_request", "2026-02-10 10:00")],
    stages=[("sql", "2026-02-11")],
)
# MQL in 2025Q4, accepted, recycled, MQL again in 2026Q1, won in 2026Q2: only the first MQL
# record counts, so the lead belongs to the 2025Q4 MQL cohort and is one MQL, not two.
RECYCLED_THEN_WON = Journey(
    "recycled_then_won",
    "2025-11-15",
    "social",
    stages=[
        ("mql", "2025-12-01"),
        ("sal", "2025-12-03"),
        ("recycled", "2025-12-20"),
        ("mql", "2026-02-15"),
        ("sql", "2026-03-01"),
        ("customer", "2026-05-10", 5_000),
    ],
)
# MQL and SQL in 2026Q1, customer in 2026Q2: the 2026Q1 cohort converted, but by period the
# customer and its revenue belong to 2026Q2.
WON_IN_NEXT_QUARTER = Journey(
    "won_in_next_quarter",
    "2026-02-20",
    "search",
    stages=[("mql", "2026-03-01"), ("sql", "2026-03-15"), ("customer", "2026-04-10", 20_000)],
)
# A lead that did nothing yet: counts as a lead only.
LEAD_ONLY = Journey("lead_only", "2026-03-30", "social")

QUARTER_REVIEW_JOURNEYS = (
    STRAIGHT_TO_CUSTOMER,
    MQL_THEN_REJECTED,
    DEMO_REQUEST_WITHOUT_MQL,
    RECYCLED_THEN_WON,
    WON_IN_NEXT_QUARTER,
    LEAD_ONLY,
)
QUARTER_REVIEW_SPEND = (
    Spend("2026-01-01", "search", 3_000),
    Spend("2026-02-01", "search", 3_000),
    Spend("2026-01-01", "social", 1_000),
    # spend_without_leads_channel: display bought impressions but brought no leads; its spend
    # must still appear, and count in the total.
    Spend("2026-01-01", "display", 500),
    Spend("2026-04-01", "search", 2_000),
)
# Its definition: threshold 50. Under it straight_to_customer scores 30 (vp) + 20 (download) = 50
# on 2026-01-08 and demo_request_without_mql 80 on 2026-02-10 10:00; nobody else scores.
QUARTER_REVIEW_DEFINITION = SCORING_2026


def quarter_review(
    fy_start_month: int = 1, path: str | Path = ":memory:"
) -> duckdb.DuckDBPyConnection:
    """Return the quarter-review database: six journeys over 2025Q4-2026Q2, spend, a definition."""
    return build(
        QUARTER_REVIEW_JOURNEYS,
        spend=QUARTER_REVIEW_SPEND,
        definitions=[QUARTER_REVIEW_DEFINITION],
        fy_start_month=fy_start_month,
        path=path,
    )


# ===== reasons on recorded stages (funnel and handoff tests) =====


def set_reasons(
    con: duckdb.DuckDBPyConnection, reasons: Iterable[tuple[str, str, str, str]]
) -> None:
    """Record a reason on stage changes already added: (lead_id, stage, changed_at, reason)."""
    for lead_id, stage, changed_at, reason in reasons:
        con.execute(
            "update stage_changes set reason = $r "
            "where lead_id = $l and stage = $s and changed_at = $t",
            {"r": reason, "l": lead_id, "s": stage, "t": at(changed_at)},
        )


# ===== touches: events with the channel and campaign they came through (attribution tests) =====


@dataclass(frozen=True)
class Touch:
    """One event of a lead through a channel and campaign (None: the event does not say)."""

    lead_id: str
    occurred_at: str
    event_type: str
    channel: str | None
    campaign: str | None = None


def add_touches(con: duckdb.DuckDBPyConnection, touches: Iterable[Touch]) -> None:
    """Insert events that carry their channel and campaign; their leads must exist."""
    for t in sorted(touches, key=lambda t: t.lead_id):
        con.execute(
            "insert into events (lead_id, occurred_at, event_type, channel, campaign) "
            "values ($l, $t, $e, $c, $k)",
            {
                "l": t.lead_id,
                "t": at(t.occurred_at),
                "e": t.event_type,
                "c": t.channel,
                "k": t.campaign,
            },
        )


# ===== what the budget bought: the ROI and attribution journeys (2026Q1, against 2025Q4/Q1) =====

# Five touches a week apart, so that every model credits them differently:
# source search/search-brand (18 Jan, the creating download is the same touch), email 25 Jan,
# webinar 1 Feb, MQL 2 Feb (so the webinar is the MQL touch), email 8 Feb, demo request via
# social 15 Feb; won 1 Mar for 3,100.00. An email after the deal is not a touch of it.
# With a 7-day half-life the touches weigh 1/16, 1/8, 1/4, 1/2, 1: shares 1, 2, 4, 8, 16 of 31.
MULTI_TOUCH_WON = Journey(
    "multi_touch_won",
    "2026-01-18",
    "search",
    attributes={"campaign": "search-brand"},
    stages=[
        ("mql", "2026-02-02"),
        ("sal", "2026-02-10"),
        ("sql", "2026-02-16"),
        ("customer", "2026-03-01", 3_100),
    ],
)
# No events: the source is the only touch, and every model gives it all.
SINGLE_TOUCH_WON = Journey(
    "single_touch_won",
    "2026-02-03",
    "referral",
    attributes={"campaign": "referral-partner"},
    stages=[("mql", "2026-02-10"), ("sql", "2026-02-20"), ("customer", "2026-03-10", 1_000)],
)
# Two touches and no MQL (a demo request straight to SQL), for an amount with odd cents: the
# MQL touch falls back to the last touch, and 999.99 splits into whole cents.
TWO_TOUCHES_WITHOUT_MQL = Journey(
    "two_touches_without_mql",
    "2026-03-01",
    "social",
    attributes={"campaign": "social-facebook"},
    stages=[("sql", "2026-03-04"), ("customer", "2026-03-20", 999.99)],
)
# Volume without revenue: an MQL sales rejected, and an SQL not yet won.
MQL_REJECTED = Journey(
    "mql_rejected",
    "2026-01-08",
    "email",
    attributes={"campaign": "email-newsletter"},
    stages=[("mql", "2026-01-15"), ("rejected", "2026-01-20")],
)
SQL_NOT_WON = Journey(
    "sql_not_won",
    "2026-02-01",
    "search",
    attributes={"campaign": "search-generic"},
    stages=[("mql", "2026-02-05"), ("sql", "2026-02-25")],
)
# The comparison quarters: 2025Q4 (previous) and 2025Q1 (a year before).
WON_PREVIOUS_QUARTER = Journey(
    "won_previous_quarter",
    "2025-10-05",
    "search",
    attributes={"campaign": "search-brand"},
    stages=[("mql", "2025-10-10"), ("sql", "2025-10-20"), ("customer", "2025-11-15", 2_000)],
)
WON_YEAR_AGO = Journey(
    "won_year_ago",
    "2025-01-10",
    "email",
    attributes={"campaign": "email-nurture"},
    stages=[("mql", "2025-01-12"), ("sql", "2025-01-20"), ("customer", "2025-02-10", 500)],
)
ROI_JOURNEYS = (
    MULTI_TOUCH_WON, SINGLE_TOUCH_WON, TWO_TOUCHES_WITHOUT_MQL, MQL_REJECTED, SQL_NOT_WON,
    WON_PREVIOUS_QUARTER, WON_YEAR_AGO,
)  # fmt: skip
ROI_TOUCHES = (
    Touch("multi_touch_won", "2026-01-18", "content_download", "search", "search-brand"),
    Touch("multi_touch_won", "2026-01-25", "email_click", "email", "email-nurture"),
    Touch("multi_touch_won", "2026-02-01", "webinar_attended", "events", "events-webinars"),
    Touch("multi_touch_won", "2026-02-08", "email_click", "email", "email-nurture"),
    Touch("multi_touch_won", "2026-02-15", "demo_request", "social", "social-linkedin"),
    Touch("multi_touch_won", "2026-03-05", "email_open", "email", "email-nurture"),
    Touch("two_touches_without_mql", "2026-03-03", "demo_request", "search", "search-generic"),
)
ROI_SPEND = (
    Spend("2026-01-01", "search", 1_000, "search-brand"),
    Spend("2026-02-01", "search", 500),  # on the channel as a whole
    Spend("2026-01-01", "email", 300, "email-nurture"),
    Spend("2026-01-01", "events", 400, "events-webinars"),
    Spend("2026-03-01", "social", 200, "social-linkedin"),
    Spend("2026-01-01", "display", 100),  # bought nothing: no leads, no deals
    Spend("2025-10-01", "search", 800, "search-brand"),
    Spend("2025-01-01", "email", 250, "email-nurture"),
)
ROI_AS_OF = "2026-04-30"


def roi_review(
    path: str | Path = ":memory:", *, events: bool = True, spend: bool = True
) -> duckdb.DuckDBPyConnection:
    """Return the ROI database: seven journeys over 2025Q1-2026Q1, their touches and spend,
    data as of 30 Apr 2026; without events or spend when asked (partial data)."""
    con = build(ROI_JOURNEYS, spend=ROI_SPEND if spend else (), path=path)
    if events:
        add_touches(con, ROI_TOUCHES)
    db.set_meta(con, "as_of", ROI_AS_OF)
    return con


# ===== the funnel and hand-off review: more named journeys, as of 2026-06-30 =====

# Handed over on a Wednesday, accepted twelve days later (8 business days: an SLA breach), and
# still won: waiting did not lose this one.
WON_AFTER_LONG_WAIT = Journey(
    "won_after_long_wait",
    "2026-01-02",
    "events",
    attributes={"seniority": "director"},
    stages=[
        ("mql", "2026-01-07"),
        ("sal", "2026-01-19"),
        ("sql", "2026-02-20"),
        ("customer", "2026-06-01", 8_000),
    ],
)
# Someone phoned sales, no form and no MQL: an SQL by direct contact.
DIRECT_SQL_WITHOUT_MQL = Journey(
    "direct_sql_without_mql",
    "2026-03-02",
    "referral",
    stages=[("sql", "2026-03-05")],
)
# An MQL sales never answered: open, and past any SLA by the as-of day.
MQL_AWAITING_SALES = Journey(
    "mql_awaiting_sales",
    "2026-03-20",
    "search",
    stages=[("mql", "2026-03-25")],
)
# Accepted the next day, then dropped at SAL ("no need").
SAL_THEN_DROPPED = Journey(
    "sal_then_dropped",
    "2026-01-12",
    "email",
    stages=[("mql", "2026-01-14"), ("sal", "2026-01-15"), ("disqualified", "2026-02-01")],
)
# Rejected as 'not ready' on the Monday after a Friday hand-off, recycled, back as an MQL in
# March, accepted and won in April: handed over too early.
NOT_READY_THEN_WON = Journey(
    "not_ready_then_won",
    "2026-01-08",
    "content",
    stages=[
        ("mql", "2026-01-09"),
        ("rejected", "2026-01-12"),
        ("recycled", "2026-01-13"),
        ("mql", "2026-03-02"),
        ("sal", "2026-03-03"),
        ("sql", "2026-03-10"),
        ("customer", "2026-04-20", 7_000),
    ],
)
FUNNEL_REVIEW_JOURNEYS = (
    *QUARTER_REVIEW_JOURNEYS,
    WON_AFTER_LONG_WAIT,
    DIRECT_SQL_WITHOUT_MQL,
    MQL_AWAITING_SALES,
    SAL_THEN_DROPPED,
    NOT_READY_THEN_WON,
)
FUNNEL_REVIEW_REASONS = (
    ("mql_then_rejected", "rejected", "2026-02-05", "wrong persona"),
    ("not_ready_then_won", "rejected", "2026-01-12", "not ready"),
    ("not_ready_then_won", "recycled", "2026-01-13", "not ready"),
    ("sal_then_dropped", "disqualified", "2026-02-01", "no need"),
)


def funnel_review(path: str | Path = ":memory:") -> duckdb.DuckDBPyConnection:
    """Return the funnel-review database: eleven journeys over 2025Q4-2026Q2, with reasons,
    as of 2026-06-30."""
    con = build(FUNNEL_REVIEW_JOURNEYS, path=path)
    set_reasons(con, FUNNEL_REVIEW_REASONS)
    db.set_meta(con, "as_of", "2026-06-30")
    return con


def copy_without_spend(database: Path, copy: Path) -> Path:
    """Copy the database file to copy, delete the copy's spend, and return copy's path."""
    shutil.copy(database, copy)
    con = db.connect(copy)
    try:
        con.execute("delete from spend")
    finally:
        con.close()
    return copy


T = TypeVar("T")


def at_once(work: Callable[[int], T], n: int) -> list[T]:
    """Return [work(0), ..., work(n - 1)], run on n threads that start together (a barrier),
    as n users or sessions would; an exception in any of them is raised here."""
    start = threading.Barrier(n)

    def run(i: int) -> T:
        start.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))
