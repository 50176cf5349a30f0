"""A seeded, realistic B2B funnel history for an empty Funnelcast database.

The story the data tells, so that tests and pages can rely on it:
- 12 fiscal quarters of leads ending at `end`, growing about 30% a year, with a summer and a
  December dip; eight channels with their own volume, cost per lead and lead quality.
- Each lead belongs to a company (industry, size, country, region) and has a seniority and a job
  title. Directors and above at 201-5000 employee software and finance companies convert best;
  interns, juniors and the unserved region (mena) never become customers.
- Each lead has an engagement arc: events build up towards a peak and fade after it, and
  higher-intent leads do more middle- and bottom-of-funnel things near their peak.
- The default MQL definition (id 1) scores them; the recorded MQL moments are exactly what
  queries/computed_mql_moments.sql computes for it (found with funnelcast.scoring, its
  linear-time twin). Downstream stages are drawn per lead with a
  planted probability = channel base rate x persona multiplier, stored in demo_planted_rates.
- Every MQL is resolved (SQL, customer, lost, rejected, disqualified) within LAG_CAP_DAYS, so MQL
  and SQL cohorts older than that are mature; nothing after `end` is recorded, so recent cohorts
  are not. Some rejected 'not ready' MQLs are recycled and come back as MQLs again; some demo
  requests that never made MQL go straight to SQL.
- demo_planted_rates holds, per channel and for 'all': mql_to_sql = mean planted P(reach SQL by
  any path) over the MQLs recorded before end + 1 day - LAG_CAP_DAYS; sql_to_customer = mean
  planted P(customer) over the SQLs reached before then; cost_per_lead = the channel's planted
  cost, which spend follows quarter by quarter (direct has spend rows of 0: it costs nothing).
- meta as_of = `end`: the data's today. Targets cover the 12 quarters and the next 2.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

from funnelcast.core import periods
from funnelcast.data import db
from funnelcast.definitions import scoring

DAY_US = 86_400_000_000
QUARTERS = 12
# Every recorded stage of an MQL (or of a direct SQL) lies within this many days of it.
LAG_CAP_DAYS = 180
DEFINITION_ID = 1
THRESHOLD = 65.0
HALF_LIFE_DAYS = 30.0
ANNUAL_GROWTH = 1.3
# Lead volume by calendar month: a summer and a December dip, an autumn push.
MONTH_FACTOR = (1.0, 1.05, 1.1, 1.0, 1.0, 0.95, 0.85, 0.75, 1.05, 1.15, 1.05, 0.7)
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)  # Monday first
COMPANY_NAME_PARTS = (
    (
        "North",
        "Blue",
        "Silver",
        "Bright",
        "Red",
        "Green",
        "Iron",
        "Clear",
        "Swift",
        "Summit",
        "Stone",
        "Cedar",
        "Maple",
        "Harbor",
        "Eagle",
        "Lumen",
        "Nova",
        "Atlas",
        "Pine",
        "Coral",
    ),
    (
        "wind",
        "peak",
        "field",
        "bridge",
        "wave",
        "point",
        "line",
        "gate",
        "path",
        "ridge",
        "brook",
        "light",
        "stream",
        "crest",
        "works",
        "forge",
        "vale",
        "port",
        "mark",
        "view",
    ),
)


@dataclass(frozen=True)
class Channel:
    """A lead source and what the demo plants for it."""

    name: str
    share_start: float  # share of new leads in the first quarter
    share_end: float  # and in the last; shares move linearly in between
    cost_per_lead: float
    mql_to_sql: float  # base rates, multiplied per lead by its persona
    sql_to_customer: float
    intent: float  # how engaged its leads are, relative to their persona
    seniority_tilt: tuple[float, ...]  # multiplies SENIORITY weights
    campaigns: tuple[tuple[str | None, float, float], ...]  # name, share of leads, relative cost


CHANNELS = (
    Channel(
        "search",
        0.26,
        0.24,
        220.0,
        0.22,
        0.17,
        1.1,
        (1, 1, 1, 1, 1, 1),
        (
            ("search-brand", 0.35, 0.5),
            ("search-generic", 0.45, 1.2),
            ("search-competitor", 0.20, 1.5),
        ),
    ),
    Channel(
        "social",
        0.12,
        0.18,
        160.0,
        0.11,
        0.10,
        0.8,
        (1.5, 1.3, 1, 0.8, 0.8, 0.8),
        (
            ("social-linkedin", 0.55, 1.3),
            ("social-facebook", 0.25, 0.6),
            ("social-twitter", 0.20, 0.7),
        ),
    ),
    Channel(
        "email",
        0.12,
        0.10,
        45.0,
        0.14,
        0.13,
        0.9,
        (1, 1, 1, 1, 1, 1),
        (
            ("email-nurture", 0.5, 1.0),
            ("email-newsletter", 0.3, 0.8),
            ("email-partner-list", 0.2, 1.4),
        ),
    ),
    Channel(
        "display",
        0.12,
        0.07,
        260.0,
        0.08,
        0.08,
        0.7,
        (1.2, 1.2, 1, 0.9, 0.8, 0.8),
        (("display-retargeting", 0.45, 0.8), ("display-programmatic", 0.55, 1.15)),
    ),
    Channel(
        "events",
        0.07,
        0.09,
        650.0,
        0.25,
        0.19,
        1.2,
        (0.5, 0.7, 1, 1.4, 1.5, 1.4),
        (
            ("events-tradeshow", 0.4, 1.5),
            ("events-webinars", 0.4, 0.5),
            ("events-roadshow", 0.2, 1.0),
        ),
    ),
    Channel(
        "content",
        0.16,
        0.17,
        130.0,
        0.15,
        0.13,
        0.9,
        (1.6, 1.4, 1, 0.8, 0.7, 0.6),
        (("content-ebook", 0.45, 1.1), ("content-report", 0.30, 1.1), ("content-blog", 0.25, 0.6)),
    ),
    Channel(
        "referral",
        0.05,
        0.06,
        30.0,
        0.40,
        0.28,
        1.3,
        (0.3, 0.6, 1, 1.3, 1.5, 1.6),
        (("referral-partner", 0.6, 1.2), ("referral-customer", 0.4, 0.7)),
    ),
    # Direct visitors come without a campaign; their spend row is the channel's, at zero.
    Channel("direct", 0.10, 0.09, 0.0, 0.28, 0.20, 1.2, (1, 1, 1, 1, 1, 1), ((None, 1.0, 1.0),)),
)

SENIORITY = ("intern", "junior", "manager", "director", "vp", "c_level")
SENIORITY_WEIGHT = (0.06, 0.22, 0.32, 0.20, 0.12, 0.08)
# Persona multipliers on the channel's base rates: juniors reach SQL now and then but never sign.
SENIORITY_SQL_MULT = (0.0, 0.35, 0.8, 1.3, 1.5, 1.4)
SENIORITY_CUSTOMER_MULT = (0.0, 0.0, 0.7, 1.2, 1.5, 1.6)
JOB_TITLES = (
    ("Marketing Intern", "Sales Intern", "Engineering Intern", "Finance Intern"),
    (
        "Marketing Associate",
        "Sales Development Representative",
        "Junior Developer",
        "Data Analyst",
        "Marketing Coordinator",
        "IT Specialist",
    ),
    (
        "Marketing Manager",
        "Sales Manager",
        "IT Manager",
        "Engineering Manager",
        "Operations Manager",
        "Product Manager",
        "Demand Generation Manager",
    ),
    (
        "Director of Marketing",
        "Director of Sales",
        "Director of Engineering",
        "Director of IT",
        "Director of Operations",
        "Finance Director",
    ),
    ("VP Marketing", "VP Sales", "VP Engineering", "VP Operations", "VP Finance"),
    ("CEO", "CTO", "CMO", "CFO", "COO", "CIO"),
)

# name (as lead_fit_attributes bands it), employees low/high, weight, multiplier, median deal
SIZE_BANDS = (
    ("1-10", 1, 10, 0.14, 0.3, 2_000.0),
    ("11-50", 11, 50, 0.22, 0.6, 4_000.0),
    ("51-200", 51, 200, 0.24, 0.9, 8_000.0),
    ("201-1000", 201, 1000, 0.20, 1.4, 15_000.0),
    ("1001-5000", 1001, 5000, 0.12, 1.5, 28_000.0),
    ("5000+", 5001, 120_000, 0.08, 0.9, 45_000.0),
)
# name, weight, multiplier, company name suffixes
INDUSTRIES = (
    ("software", 0.26, 1.4, ("Software", "Labs", "Systems", "Cloud", "Technologies")),
    ("finance", 0.14, 1.3, ("Capital", "Financial", "Bank", "Insurance", "Partners")),
    ("healthcare", 0.12, 0.9, ("Health", "Medical", "Care", "Clinics")),
    ("manufacturing", 0.13, 0.8, ("Industries", "Manufacturing", "Machines", "Components")),
    ("retail", 0.11, 0.7, ("Retail", "Stores", "Market", "Goods")),
    ("education", 0.09, 0.5, ("Academy", "University", "Learning", "Schools")),
    ("government", 0.06, 0.6, ("Agency", "Authority", "Council")),
    ("media", 0.09, 0.8, ("Media", "Studios", "Publishing", "Broadcasting")),
)
# name, weight, multiplier, countries with weights, sales reps covering it
REGIONS = (
    ("north_america", 0.42, 1.1, (("US", 0.85), ("CA", 0.15)), (1, 2, 3, 4, 5)),
    (
        "europe",
        0.32,
        1.0,
        (
            ("GB", 0.25),
            ("DE", 0.22),
            ("FR", 0.15),
            ("NL", 0.10),
            ("ES", 0.08),
            ("IT", 0.08),
            ("SE", 0.07),
            ("PL", 0.05),
        ),
        (6, 7, 8, 9),
    ),
    (
        "apac",
        0.12,
        0.8,
        (("AU", 0.30), ("IN", 0.25), ("JP", 0.20), ("SG", 0.15), ("NZ", 0.10)),
        (10, 11),
    ),
    (
        "latam",
        0.08,
        0.7,
        (("BR", 0.45), ("MX", 0.30), ("AR", 0.10), ("CO", 0.10), ("CL", 0.05)),
        (12,),
    ),
    # The company does not sell here: the definition disqualifies it and nobody buys.
    ("mena", 0.06, 0.0, (("AE", 0.40), ("SA", 0.35), ("EG", 0.25)), (12,)),
)
REPS = tuple(f"rep_{i:02d}" for i in range(1, 13))

EVENT_TYPES = (
    ("email_open", "top"),
    ("email_click", "top"),
    ("content_download", "top"),
    ("webinar_signup", "middle"),
    ("webinar_attended", "middle"),
    ("case_study_view", "middle"),
    ("pricing_page_view", "bottom"),
    ("demo_request", "bottom"),
    ("unsubscribe", None),
    ("email_bounce", None),
)
EVENT_INDEX = {name: i for i, (name, _) in enumerate(EVENT_TYPES)}
EMAIL_EVENTS = ("email_open", "email_click", "unsubscribe", "email_bounce")
WEBINAR_EVENTS = ("webinar_signup", "webinar_attended")
# The form that created the lead: its first event, by channel.
FIRST_EVENT = {
    "search": {
        "content_download": 0.5,
        "pricing_page_view": 0.25,
        "demo_request": 0.1,
        "case_study_view": 0.15,
    },
    "social": {"content_download": 0.7, "webinar_signup": 0.2, "case_study_view": 0.1},
    "email": {"email_click": 0.8, "webinar_signup": 0.2},
    "display": {"content_download": 0.7, "pricing_page_view": 0.2, "case_study_view": 0.1},
    "events": {"webinar_signup": 0.7, "webinar_attended": 0.3},
    "content": {"content_download": 0.85, "case_study_view": 0.15},
    "referral": {
        "demo_request": 0.35,
        "pricing_page_view": 0.25,
        "case_study_view": 0.2,
        "content_download": 0.2,
    },
    "direct": {"pricing_page_view": 0.4, "demo_request": 0.25, "content_download": 0.35},
}
# Event types within each content stage group, for events after the first.
GROUP_EVENTS = {
    "top": {"email_open": 0.58, "email_click": 0.27, "content_download": 0.15},
    "nurture": {"email_open": 0.7, "email_click": 0.3},
    "middle": {"webinar_signup": 0.35, "webinar_attended": 0.25, "case_study_view": 0.40},
    "bottom": {"pricing_page_view": 0.78, "demo_request": 0.22},
    "negative": {"unsubscribe": 0.55, "email_bounce": 0.45},
}

FIT_RULES = (
    # attribute, value, points, is_disqualifier
    ("seniority", "intern", 0, True),
    ("seniority", "junior", -10, False),
    ("seniority", "manager", 5, False),
    ("seniority", "director", 15, False),
    ("seniority", "vp", 20, False),
    ("seniority", "c_level", 20, False),
    ("company_size_band", "1-10", -10, False),
    ("company_size_band", "51-200", 5, False),
    ("company_size_band", "201-1000", 15, False),
    ("company_size_band", "1001-5000", 15, False),
    ("company_size_band", "5000+", 10, False),
    ("industry", "software", 10, False),
    ("industry", "finance", 10, False),
    ("industry", "healthcare", 5, False),
    ("industry", "manufacturing", 5, False),
    ("industry", "education", -5, False),
    ("region", "north_america", 5, False),
    ("region", "europe", 5, False),
    ("region", "mena", 0, True),
)
BEHAVIOUR_RULES = (
    # event_type, points, cap_points
    ("email_open", 1, 5),
    ("email_click", 3, 12),
    ("content_download", 5, 15),
    ("webinar_signup", 8, 16),
    ("webinar_attended", 15, 30),
    ("case_study_view", 8, 16),
    ("pricing_page_view", 12, 24),
    ("demo_request", 40, None),
    ("unsubscribe", -25, None),
    ("email_bounce", -10, None),
)

STAGES = ("mql", "sal", "sql", "customer", "rejected", "recycled", "disqualified")
REJECT_REASONS = (
    "not ready",
    "no budget",
    "wrong persona",
    "bad contact data",
    "competitor",
    "duplicate",
)
REJECT_WEIGHT = (0.35, 0.15, 0.20, 0.10, 0.10, 0.10)
SAL_LOST_REASONS = ("no budget", "no need", "unresponsive")
DEAL_LOST_REASONS = ("lost to competitor", "no decision", "price", "timing")
REASONS = tuple(dict.fromkeys(REJECT_REASONS + SAL_LOST_REASONS + DEAL_LOST_REASONS))
REASON_INDEX = {name: i for i, name in enumerate(REASONS)}
# Share of eventual SQLs that first get rejected 'not ready', are recycled and come back.
RECYCLED_WIN_SHARE = 0.10
# Non-MQL leads with a demo request that sales takes straight to SQL: this x their P(SQL).
DIRECT_SQL_FACTOR = 1.0

PLANTED_RATES_DDL = """
create table demo_planted_rates (
    metric                  varchar not null check (
        metric in ('mql_to_sql', 'sql_to_customer', 'cost_per_lead')
    ),
    channel                 varchar not null,
    value                   double not null,
    primary key (metric, channel),
)
"""


@dataclass
class Leads:
    """Per-lead arrays, in lead_id order (which is creation order)."""

    created_us: np.ndarray
    channel: np.ndarray
    campaign: np.ndarray  # index into CAMPAIGNS
    company: np.ndarray  # index into the company arrays below
    seniority: np.ndarray
    title: np.ndarray  # index into TITLES
    p_sql: np.ndarray  # planted P(reach SQL | MQL)
    p_customer: np.ndarray  # planted P(customer | SQL)
    intent: np.ndarray  # 0..1: how much and how deep it engages
    deal_median: np.ndarray
    rep: np.ndarray  # index into REPS
    company_name: np.ndarray
    company_industry: np.ndarray
    company_size: np.ndarray
    company_country: np.ndarray  # index into COUNTRIES
    company_region: np.ndarray


CHANNEL_INDEX = {c.name: i for i, c in enumerate(CHANNELS)}
CAMPAIGNS = tuple(
    (c, name, share, cost) for c, ch in enumerate(CHANNELS) for name, share, cost in ch.campaigns
)
TITLES = tuple(title for titles in JOB_TITLES for title in titles)
COUNTRIES = tuple((r, code, w) for r, region in enumerate(REGIONS) for code, w in region[3])


def build_demo(
    con: duckdb.DuckDBPyConnection,
    leads: int = 20_000,
    seed: int = 7,
    end: dt.date = dt.date(2026, 9, 30),
    engagement: float = 1.0,
) -> dict:
    """Fill an empty Funnelcast database with the demo history; return row counts and timings.

    History covers the 12 fiscal quarters up to the one holding `end`, through the end of the
    day `end`. All of it is written in one transaction: on failure the database stays empty.
    engagement scales how many events a lead has after its first (1: about 12 in all; the
    benchmarks use more to reach 20 events per lead).
    """
    if leads < 1:
        raise ValueError(f"leads must be at least 1, not {leads}")
    if not engagement > 0:
        raise ValueError(f"engagement must be more than 0, not {engagement}")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    cur = con.cursor()
    try:
        _check_empty(cur)
        fy_start_month = int(db.get_meta(cur, "fiscal_year_start_month", "1") or 1)
        last = periods.quarter_of(end, fy_start_month)
        quarters = [last.shifted(i - QUARTERS + 1, fy_start_month) for i in range(QUARTERS + 2)]
        start_us = _day_us(quarters[0].start)
        end_us = _day_us(end + dt.timedelta(days=1))  # exclusive: the whole day `end` counts
        rng_leads, rng_events, rng_stages, rng_money = np.random.default_rng(seed).spawn(4)

        tick = time.perf_counter()
        people = _make_leads(rng_leads, leads, start_us, end_us)
        events = _make_events(rng_events, people, end_us, engagement)
        timings["generate"] = time.perf_counter() - tick

        cur.execute("begin transaction")
        try:
            tick = time.perf_counter()
            lead_ids = _lead_ids(leads)
            _insert(cur, "leads", _leads_table(people, lead_ids))
            _insert(cur, "events", _events_table(events, lead_ids))
            _insert_definition(cur, quarters[0].start)
            timings["insert"] = time.perf_counter() - tick

            tick = time.perf_counter()
            mql_us = _computed_mql_moments(cur, leads)
            timings["scoring"] = time.perf_counter() - tick

            tick = time.perf_counter()
            first_demo_us = _first_event_us(events, leads, EVENT_INDEX["demo_request"])
            stages, planted = _make_stages(rng_stages, people, mql_us, first_demo_us, end_us)
            _insert(cur, "stage_changes", _stages_table(stages, lead_ids, people))
            bounds = np.array([_day_us(q.start) for q in quarters] + [_day_us(quarters[-1].end)])
            _insert(cur, "spend", _spend_table(rng_money, people, quarters, bounds))
            _insert(cur, "targets", _targets_table(rng_money, stages, quarters, bounds))
            cur.execute(PLANTED_RATES_DDL)
            cur.executemany("insert into demo_planted_rates values (?, ?, ?)", planted)
            db.set_meta(cur, "as_of", end.isoformat())
            db.set_meta(cur, "demo_seed", str(seed))
            db.set_meta(cur, "demo_leads", str(leads))
            timings["stages"] = time.perf_counter() - tick

            tick = time.perf_counter()
            cur.execute("commit")
            timings["commit"] = time.perf_counter() - tick
        except BaseException:
            cur.execute("rollback")
            raise
        counts = {
            table: _count(cur, f"select count(*) from {table}")
            for table in (*db.CANONICAL_TABLES, "demo_planted_rates")
        }
    finally:
        cur.close()
    return {
        "counts": counts,
        "seconds": round(time.perf_counter() - started, 3),
        "phase_seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def _check_empty(cur: duckdb.DuckDBPyConnection) -> None:
    """Return nothing; raise FunnelcastError when the database already holds data."""
    for table in db.CANONICAL_TABLES:
        if table != "meta" and _count(cur, f"select count(*) from {table}"):
            raise db.FunnelcastError(
                f"the database is not empty (table {table} has rows); the demo needs a new one"
            )
    exists = _count(
        cur,
        "select count(*) from information_schema.tables where table_name = 'demo_planted_rates'",
    )
    if exists:
        raise db.FunnelcastError("the database already holds a demo (demo_planted_rates exists)")


def _count(cur: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Return the number a `select count(*) ...` query gives (a table name, never user text)."""
    [(n,)] = cur.execute(sql).fetchall()
    return n


def _day_us(day: dt.date) -> int:
    """Return microseconds since the Unix epoch at midnight UTC starting day."""
    return (day - dt.date(1970, 1, 1)).days * DAY_US


def _pick(rng: np.random.Generator, weights: ArrayLike, size: int | None = None) -> np.ndarray:
    """Return category indices drawn from weights: one vector (with size) or one row per draw."""
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        return rng.choice(len(w), size=size, p=w / w.sum())
    cumulative = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), w.shape[1] - 1)


def _days_us(days: np.ndarray) -> np.ndarray:
    """Return a duration in days as whole seconds, in microseconds."""
    return np.round(np.asarray(days) * 86_400).astype(np.int64) * 1_000_000


# ===== leads =====


def _make_leads(rng: np.random.Generator, n: int, start_us: int, end_us: int) -> Leads:
    """Return n leads created between start and end, with channels, companies and personas."""
    created_us = _creation_times(rng, n, start_us, end_us)
    progress = (created_us - start_us) / (end_us - start_us)

    shares_start = np.array([c.share_start for c in CHANNELS])
    shares_end = np.array([c.share_end for c in CHANNELS])
    channel_weights = np.outer(1 - progress, shares_start) + np.outer(progress, shares_end)
    channel = _pick(rng, channel_weights)
    campaign = np.empty(n, dtype=np.int64)
    for c in range(len(CHANNELS)):
        members = np.flatnonzero(channel == c)
        ids = [i for i, camp in enumerate(CAMPAIGNS) if camp[0] == c]
        campaign[members] = np.array(ids)[_pick(rng, [CAMPAIGNS[i][2] for i in ids], len(members))]

    companies = _make_companies(rng, max(20, n // 4))
    popularity = companies["size"].astype(float) ** 0.25
    company = _pick(rng, popularity, n)

    tilt = np.array([c.seniority_tilt for c in CHANNELS]) * np.array(SENIORITY_WEIGHT)
    seniority = _pick(rng, tilt[channel])
    title_offsets = np.cumsum([0] + [len(t) for t in JOB_TITLES])
    title_counts = np.diff(title_offsets)
    title = title_offsets[seniority] + (rng.random(n) * title_counts[seniority]).astype(np.int64)

    band = companies["band"][company]
    industry = companies["industry"][company]
    region = companies["region"][company]
    firm_mult = (
        np.array([b[4] for b in SIZE_BANDS])[band]
        * np.array([i[2] for i in INDUSTRIES])[industry]
        * np.array([r[2] for r in REGIONS])[region]
    )
    sql_mult = np.array(SENIORITY_SQL_MULT)[seniority] * firm_mult
    customer_mult = np.array(SENIORITY_CUSTOMER_MULT)[seniority] * firm_mult
    p_sql = np.clip(np.array([c.mql_to_sql for c in CHANNELS])[channel] * sql_mult, 0, 1)
    p_customer = np.clip(
        np.array([c.sql_to_customer for c in CHANNELS])[channel] * customer_mult, 0, 1
    )
    # Intent follows buying power, so better personas engage more and reach MQL more often.
    channel_intent = np.array([c.intent for c in CHANNELS])[channel]
    intent = rng.beta(0.6 + 0.9 * np.minimum(sql_mult, 3.0) * channel_intent, 2.5)

    seniority_deal = np.array([0.0, 0.0, 0.8, 1.0, 1.15, 1.3])[seniority]
    deal_median = (
        np.array([b[5] for b in SIZE_BANDS])[band]
        * np.where(industry == 1, 1.2, 1.0)
        * seniority_deal
    )

    region_reps = [np.array(r[4]) - 1 for r in REGIONS]
    rep = np.empty(n, dtype=np.int64)
    for r, reps in enumerate(region_reps):
        members = np.flatnonzero(region == r)
        rep[members] = reps[rng.integers(0, len(reps), len(members))]

    return Leads(
        created_us=created_us,
        channel=channel,
        campaign=campaign,
        company=company,
        seniority=seniority,
        title=title,
        p_sql=p_sql,
        p_customer=p_customer,
        intent=intent,
        deal_median=deal_median,
        rep=rep,
        company_name=companies["name"],
        company_industry=companies["industry"],
        company_size=companies["size"],
        company_country=companies["country"],
        company_region=companies["region"],
    )


def _creation_times(rng: np.random.Generator, n: int, start_us: int, end_us: int) -> np.ndarray:
    """Return n sorted creation times (us) with growth, seasonality and quiet weekends."""
    n_days = (end_us - start_us) // DAY_US
    days = np.arange(n_days)
    dates = np.datetime64(start_us // DAY_US, "D") + days
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weight = (
        ANNUAL_GROWTH ** (days / 365.25)
        * np.array(MONTH_FACTOR)[month]
        * np.array(WEEKDAY_FACTOR)[weekday]
    )
    day = _pick(rng, weight, n)
    # Office hours across the served time zones: centred on 14:00 UTC.
    seconds_of_day = np.mod(rng.normal(14 * 3600, 3.5 * 3600, n), 86_400).astype(np.int64)
    return np.sort(start_us + day * DAY_US + seconds_of_day * 1_000_000)


def _make_companies(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Return n companies: name, industry, size band, employees, country and region."""
    industry = _pick(rng, [i[1] for i in INDUSTRIES], n)
    band = _pick(rng, [b[3] for b in SIZE_BANDS], n)
    low = np.array([b[1] for b in SIZE_BANDS], dtype=float)[band]
    high = np.array([b[2] for b in SIZE_BANDS], dtype=float)[band]
    # Log-uniform within the band: small companies are more common than large ones.
    size = np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1)))).astype(np.int64)
    size = np.clip(size, low.astype(np.int64), high.astype(np.int64))
    region = _pick(rng, [r[1] for r in REGIONS], n)
    country = np.empty(n, dtype=np.int64)
    for r in range(len(REGIONS)):
        members = np.flatnonzero(region == r)
        ids = [i for i, c in enumerate(COUNTRIES) if c[0] == r]
        country[members] = np.array(ids)[_pick(rng, [COUNTRIES[i][2] for i in ids], len(members))]

    first, second = (np.array(part) for part in COMPANY_NAME_PARTS)
    stem = np.char.add(
        first[rng.integers(0, len(first), n)], second[rng.integers(0, len(second), n)]
    )
    suffix = np.empty(n, dtype=object)
    for i, (_, _, _, suffixes) in enumerate(INDUSTRIES):
        members = np.flatnonzero(industry == i)
        suffix[members] = np.array(suffixes, dtype=object)[
            rng.integers(0, len(suffixes), len(members))
        ]
    name = np.char.add(np.char.add(stem, " "), suffix.astype(str))
    return {
        "name": name,
        "industry": industry,
        "band": band,
        "size": size,
        "country": country,
        "region": region,
    }


def _lead_ids(n: int) -> pa.Array:
    """Return lead ids L0000001.. zero-padded so that string order is numeric order."""
    width = max(7, len(str(n)))
    digits = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise("L", digits, "")


def _dictionary(codes: np.ndarray, values: tuple, mask: np.ndarray | None = None) -> pa.Array:
    """Return a dictionary-encoded string column: codes index values, masked rows are null."""
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string()))


def _timestamps(us: np.ndarray) -> pa.Array:
    """Return microseconds since the epoch as an Arrow timestamp column."""
    return pa.array(us.astype("datetime64[us]"))


def _leads_table(people: Leads, lead_ids: pa.Array) -> pa.Table:
    """Return the leads as an Arrow table in the leads table's column order."""
    company = people.company
    campaign_names = tuple(c[1] for c in CAMPAIGNS)
    no_campaign = np.array([name is None for name in campaign_names])[people.campaign]
    return pa.table(
        {
            "lead_id": lead_ids,
            "created_at": _timestamps(people.created_us),
            "channel": _dictionary(people.channel, tuple(c.name for c in CHANNELS)),
            "campaign": _dictionary(
                people.campaign, tuple(n or "" for n in campaign_names), no_campaign
            ),
            "company": pa.array(people.company_name[company]),
            "industry": _dictionary(
                people.company_industry[company], tuple(i[0] for i in INDUSTRIES)
            ),
            "company_size": pa.array(people.company_size[company].astype(np.int32)),
            "country": _dictionary(people.company_country[company], tuple(c[1] for c in COUNTRIES)),
            "region": _dictionary(people.company_region[company], tuple(r[0] for r in REGIONS)),
            "job_title": _dictionary(people.title, TITLES),
            "seniority": _dictionary(people.seniority, SENIORITY),
        }
    )


def _insert(cur: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    """Return nothing; append an Arrow table to a table by column name."""
    view = f"demo_incoming_{table}"  # a name no canonical table has
    cur.register(view, data)
    try:
        columns = ", ".join(data.column_names)
        cur.execute(f"insert into {table} ({columns}) select {columns} from {view}")
    finally:
        cur.unregister(view)


# ===== events =====


def _make_events(
    rng: np.random.Generator, people: Leads, end_us: int, engagement: float = 1.0
) -> dict[str, np.ndarray]:
    """Return the leads' events up to end, sorted by lead and time, as arrays."""
    n = len(people.created_us)
    intent = people.intent
    # Peak of interest: a third peak at once, the others weeks or months after creation.
    peak_days = np.where(rng.random(n) < 0.35, rng.exponential(2.0, n), rng.gamma(1.5, 20.0, n))
    later = rng.poisson((4.0 + 24.0 * intent) * rng.gamma(2.0, 0.5, n) * engagement)
    count = 1 + later
    lead = np.repeat(np.arange(n), count)
    first = np.zeros(len(lead), dtype=bool)
    first[np.cumsum(count) - count] = True
    total = len(lead)

    created = people.created_us[lead]
    peak_d = peak_days[lead]
    lead_intent = intent[lead]
    # Later events: some background nurture mail over a year, the rest on the arc: building up
    # towards the peak (density rising to it) or fading after it.
    nurture = ~first & (rng.random(total) < 0.15)
    before = ~first & ~nurture & (rng.random(total) < 0.6 * (1 - np.exp(-peak_d / 7.0)))
    after = ~first & ~nurture & ~before
    offset_d = np.zeros(total)
    offset_d[nurture] = rng.uniform(0, 365, nurture.sum())
    offset_d[before] = peak_d[before] * np.sqrt(rng.random(before.sum()))
    offset_d[after] = peak_d[after] + rng.exponential(20.0, after.sum())
    occurred = created + _days_us(offset_d)

    # Closer to the peak, and with more intent, a lead does deeper things.
    closeness = np.where(nurture | first, 0.0, np.exp(-np.abs(offset_d - peak_d) / 10.0))
    w_bottom = 0.005 + 0.22 * lead_intent * closeness
    w_middle = 0.04 + 0.28 * (0.25 + 0.75 * lead_intent) * closeness
    w_negative = 0.012 + 0.05 * (1 - lead_intent) * (offset_d > peak_d)
    u = rng.random(total)
    groups = list(GROUP_EVENTS)
    group = np.select(
        [u < w_bottom, u < w_bottom + w_middle, u < w_bottom + w_middle + w_negative],
        [groups.index("bottom"), groups.index("middle"), groups.index("negative")],
        groups.index("top"),
    )
    group[nurture & (group == groups.index("top"))] = groups.index("nurture")
    event_type = np.empty(total, dtype=np.int64)
    for g, weights in enumerate(GROUP_EVENTS.values()):
        members = np.flatnonzero(~first & (group == g))
        event_type[members] = np.array([EVENT_INDEX[e] for e in weights])[
            _pick(rng, list(weights.values()), len(members))
        ]
    first_idx = np.flatnonzero(first)
    first_weights = np.zeros((len(CHANNELS), len(EVENT_TYPES)))
    for c, ch in enumerate(CHANNELS):
        for name, w in FIRST_EVENT[ch.name].items():
            first_weights[c, EVENT_INDEX[name]] = w
    event_type[first_idx] = _pick(rng, first_weights[people.channel[lead[first_idx]]])

    campaign = _touch_campaigns(rng, people.campaign[lead], event_type, first)

    keep = occurred < end_us
    order = np.argsort(
        lead[keep] * (end_us // 1_000_000 + 1) + occurred[keep] // 1_000_000, kind="stable"
    )
    return {
        "lead": lead[keep][order],
        "occurred_us": occurred[keep][order],
        "event_type": event_type[keep][order],
        "campaign": campaign[keep][order],
    }


def _touch_campaigns(
    rng: np.random.Generator, own: np.ndarray, event_type: np.ndarray, first: np.ndarray
) -> np.ndarray:
    """Return the campaign each event is a touch of: mostly the lead's own, mail by email."""
    index = {name: i for i, (_, name, _, _) in enumerate(CAMPAIGNS)}
    campaign = own.copy()
    total = len(own)
    own_channel = np.array([c[0] for c in CAMPAIGNS])[own]
    u = rng.random(total)
    email = np.isin(event_type, [EVENT_INDEX[e] for e in EMAIL_EVENTS])
    mailed = ~first & email & ~((own_channel == CHANNEL_INDEX["email"]) & (u < 0.5))
    campaign[mailed] = np.where(
        rng.random(mailed.sum()) < 0.7, index["email-nurture"], index["email-newsletter"]
    )
    webinar = np.isin(event_type, [EVENT_INDEX[e] for e in WEBINAR_EVENTS])
    hosted = ~first & webinar & ~((own_channel == CHANNEL_INDEX["events"]) & (u < 0.5))
    campaign[hosted] = index["events-webinars"]
    # Three in ten other touches come through retargeting or brand search.
    elsewhere = ~first & ~email & ~webinar & (u < 0.3)
    retargeting = np.array(
        [index["display-retargeting"], index["social-linkedin"], index["search-brand"]]
    )
    campaign[elsewhere] = retargeting[_pick(rng, [0.4, 0.3, 0.3], elsewhere.sum())]
    return campaign


def _events_table(events: dict[str, np.ndarray], lead_ids: pa.Array) -> pa.Table:
    """Return the events as an Arrow table in the events table's column order."""
    event_type = events["event_type"]
    stage_of_type = {"top": 0, "middle": 1, "bottom": 2, None: -1}
    stage = np.array([stage_of_type[s] for _, s in EVENT_TYPES])[event_type]
    campaign = events["campaign"]
    campaign_names = tuple(c[1] or "" for c in CAMPAIGNS)
    no_campaign = np.array([c[1] is None for c in CAMPAIGNS])[campaign]
    return pa.table(
        {
            "lead_id": pc.take(lead_ids, pa.array(events["lead"])),
            "occurred_at": _timestamps(events["occurred_us"]),
            "event_type": _dictionary(event_type, tuple(e for e, _ in EVENT_TYPES)),
            "content_stage": _dictionary(
                np.maximum(stage, 0), ("top", "middle", "bottom"), stage < 0
            ),
            "channel": _dictionary(
                np.array([c[0] for c in CAMPAIGNS])[campaign], tuple(c.name for c in CHANNELS)
            ),
            "campaign": _dictionary(campaign, campaign_names, no_campaign),
        }
    )


def _first_event_us(events: dict[str, np.ndarray], n: int, event_type: int) -> np.ndarray:
    """Return each lead's first event of a type (us), or -1 where it has none."""
    first = np.full(n, -1, dtype=np.int64)
    match = np.flatnonzero(events["event_type"] == event_type)
    leads, at = np.unique(events["lead"][match], return_index=True)
    first[leads] = events["occurred_us"][match[at]]  # events are sorted by lead, then time
    return first


# ===== the MQL definition and its moments =====


def _insert_definition(cur: duckdb.DuckDBPyConnection, effective_from: dt.date) -> None:
    """Return nothing; insert the default MQL definition with its fit and behaviour rules."""
    cur.execute(
        "insert into definitions values ($id, 'Default 2023', $from, $threshold, $half_life, "
        "$created, 'The demo''s starting definition: fit to the ideal customer plus decayed "
        "engagement.')",
        {
            "id": DEFINITION_ID,
            "from": effective_from,
            "threshold": THRESHOLD,
            "half_life": HALF_LIFE_DAYS,
            "created": dt.datetime.combine(effective_from, dt.time()),
        },
    )
    cur.executemany(
        "insert into definition_fit_rules values (?, ?, ?, ?, ?)",
        [(DEFINITION_ID, *rule) for rule in FIT_RULES],
    )
    cur.executemany(
        "insert into definition_behaviour_rules values (?, ?, ?, ?)",
        [(DEFINITION_ID, *rule) for rule in BEHAVIOUR_RULES],
    )


def _computed_mql_moments(cur: duckdb.DuckDBPyConnection, n: int) -> np.ndarray:
    """Return each lead's MQL moment (us) under the default definition, or -1 if it has none."""
    moments = scoring.computed_mql_moments(cur, DEFINITION_ID)
    lead = moments["lead_id"].str.slice(1).cast(int).to_numpy() - 1
    mql_us = np.full(n, -1, dtype=np.int64)
    mql_us[lead] = moments["mql_at"].dt.epoch("us").to_numpy()
    return mql_us


# ===== recorded stages =====


def _make_stages(
    rng: np.random.Generator,
    people: Leads,
    mql_us: np.ndarray,
    first_demo_us: np.ndarray,
    end_us: int,
) -> tuple[dict[str, np.ndarray], list[tuple[str, str, float]]]:
    """Return the recorded stage changes up to end as arrays, and the planted rates as rows.

    For a lead with a recorded MQL, P(it reaches SQL, by any path) is its planted p_sql: most
    SQLs are accepted and qualified straight away, RECYCLED_WIN_SHARE of them first go through a
    'not ready' rejection, recycling and a second MQL. Every SQL becomes a customer with its
    planted p_customer. All of it happens within LAG_CAP_DAYS of the first MQL (or direct SQL).
    """
    cap_us = LAG_CAP_DAYS * DAY_US
    rows: list[tuple[np.ndarray, str, np.ndarray, np.ndarray | None, np.ndarray | None]] = []

    def record(lead, stage, at, reason=None, amount=None):
        rows.append((lead, stage, at, reason, amount))

    def fixed_reason(lead, name):
        return np.full(len(lead), REASON_INDEX[name])

    def sales_lag(size):
        # Sales usually responds within a few days; one in ten MQLs waits, breaching the SLA.
        quick = np.minimum(rng.gamma(1.2, 1.5, size), 20)
        return np.where(rng.random(size) < 0.1, rng.uniform(5, 20, size), quick)

    mql = np.flatnonzero(mql_us >= 0)
    t0 = mql_us[mql]
    record(mql, "mql", t0)
    reach = rng.random(len(mql)) < people.p_sql[mql]
    via_recycle = reach & (rng.random(len(mql)) < RECYCLED_WIN_SHARE)
    accepted_win = reach & ~via_recycle
    sal_lost = ~reach & (rng.random(len(mql)) < 0.35)
    rejected = ~reach & ~sal_lost

    # Accepted, then qualified.
    lead, start = mql[accepted_win], t0[accepted_win]
    sal_at = start + _days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    # SQLs of all paths are gathered here and closed (won or lost) together below.
    sql_lead_parts = [lead]
    sql_at_parts = [sal_at + _days_us(np.minimum(rng.gamma(2.0, 8.0, len(lead)), 45))]
    sql_deadline_parts = [start + cap_us]

    # Accepted, then dropped at SAL.
    lead, start = mql[sal_lost], t0[sal_lost]
    sal_at = start + _days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    record(
        lead,
        "disqualified",
        sal_at + _days_us(np.minimum(rng.gamma(2.0, 10.0, len(lead)), 60)),
        np.array([REASON_INDEX[r] for r in SAL_LOST_REASONS])[
            _pick(rng, [0.4, 0.3, 0.3], len(lead))
        ],
    )

    # Rejected with a reason; wrong persona is the usual one for leads that would never buy.
    lead, start = mql[rejected], t0[rejected]
    weights = np.tile(REJECT_WEIGHT, (len(lead), 1))
    weights[people.p_sql[lead] < 0.1, REJECT_REASONS.index("wrong persona")] *= 3
    reason = np.array([REASON_INDEX[r] for r in REJECT_REASONS])[_pick(rng, weights)]
    rejected_at = start + _days_us(sales_lag(len(lead)))
    record(lead, "rejected", rejected_at, reason)
    # Half the 'not ready' ones go back to nurturing; a third of those come back as MQLs and
    # are rejected or dropped again (their winning siblings are the via_recycle leads).
    not_ready = reason == REASON_INDEX["not ready"]
    recycled = not_ready & (rng.random(len(lead)) < 0.5)
    recycled_at = rejected_at[recycled] + _days_us(rng.uniform(0, 2, recycled.sum()))
    record(lead[recycled], "recycled", recycled_at, fixed_reason(lead[recycled], "not ready"))
    back = rng.random(recycled.sum()) < 0.35
    back_lead = lead[recycled][back]
    back_at = recycled_at[back] + _days_us(rng.uniform(30, 75, back.sum()))
    record(back_lead, "mql", back_at)
    again = rng.random(len(back_lead)) < 0.5
    record(
        back_lead[again],
        "rejected",
        back_at[again] + _days_us(sales_lag(again.sum())),
        np.array([REASON_INDEX["not ready"], REASON_INDEX["no budget"]])[
            _pick(rng, [0.6, 0.4], again.sum())
        ],
    )
    sal_at = back_at[~again] + _days_us(sales_lag((~again).sum()))
    record(back_lead[~again], "sal", sal_at)
    record(
        back_lead[~again],
        "disqualified",
        sal_at + _days_us(rng.uniform(5, 40, len(sal_at))),
        fixed_reason(back_lead[~again], "no need"),
    )

    # Rejected as not ready, recycled, back as an MQL, and this time qualified.
    lead, start = mql[via_recycle], t0[via_recycle]
    rejected_at = start + _days_us(sales_lag(len(lead)))
    record(lead, "rejected", rejected_at, fixed_reason(lead, "not ready"))
    recycled_at = rejected_at + _days_us(rng.uniform(0, 2, len(lead)))
    record(lead, "recycled", recycled_at, fixed_reason(lead, "not ready"))
    back_at = recycled_at + _days_us(rng.uniform(30, 75, len(lead)))
    record(lead, "mql", back_at)
    sal_at = back_at + _days_us(sales_lag(len(lead)))
    record(lead, "sal", sal_at)
    sql_lead_parts.append(lead)
    sql_at_parts.append(sal_at + _days_us(np.minimum(rng.gamma(2.0, 8.0, len(lead)), 45)))
    sql_deadline_parts.append(start + cap_us)

    # Demo requests sales took straight to SQL, from leads the definition never qualified.
    candidates = np.flatnonzero((first_demo_us >= 0) & (mql_us < 0))
    direct = candidates[rng.random(len(candidates)) < DIRECT_SQL_FACTOR * people.p_sql[candidates]]
    direct_at = first_demo_us[direct] + _days_us(np.minimum(rng.gamma(1.5, 1.0, len(direct)), 10))
    sql_lead_parts.append(direct)
    sql_at_parts.append(direct_at)
    sql_deadline_parts.append(direct_at + cap_us)

    sql_lead, sql_at, sql_deadline = (
        np.concatenate(a) for a in (sql_lead_parts, sql_at_parts, sql_deadline_parts)
    )
    record(sql_lead, "sql", sql_at)
    won = rng.random(len(sql_lead)) < people.p_customer[sql_lead]
    closed_at = np.minimum(sql_at + _days_us(rng.gamma(3.0, 15.0, len(sql_lead))), sql_deadline)
    amount = np.round(people.deal_median[sql_lead[won]] * rng.lognormal(0.0, 0.5, won.sum()), 2)
    record(sql_lead[won], "customer", closed_at[won], None, amount)
    record(
        sql_lead[~won],
        "disqualified",
        closed_at[~won],
        np.array([REASON_INDEX[r] for r in DEAL_LOST_REASONS])[
            _pick(rng, [0.35, 0.3, 0.2, 0.15], (~won).sum())
        ],
    )

    stages = _collect_stages(rows, end_us)
    mature_before = end_us - cap_us
    planted = _planted_rates(
        people,
        mql_leads=mql[t0 < mature_before],
        sql_leads=sql_lead[sql_at < mature_before],
    )
    return stages, planted


def _collect_stages(rows: list, end_us: int) -> dict[str, np.ndarray]:
    """Return the recorded stage changes up to end as arrays, sorted by lead and time."""
    lead = np.concatenate([r[0] for r in rows])
    stage = np.concatenate([np.full(len(r[0]), STAGES.index(r[1])) for r in rows])
    at = np.concatenate([r[2] for r in rows])
    reason = np.concatenate([r[3] if r[3] is not None else np.full(len(r[0]), -1) for r in rows])
    amount = np.concatenate(
        [r[4] if r[4] is not None else np.full(len(r[0]), np.nan) for r in rows]
    )
    keep = at < end_us
    order = np.lexsort((stage[keep], at[keep], lead[keep]))
    return {
        "lead": lead[keep][order],
        "stage": stage[keep][order],
        "changed_us": at[keep][order],
        "reason": reason[keep][order],
        "amount": amount[keep][order],
    }


def _planted_rates(
    people: Leads, mql_leads: np.ndarray, sql_leads: np.ndarray
) -> list[tuple[str, str, float]]:
    """Return (metric, channel, value) rows: mean planted rates over mature cohorts, and CPL."""
    rows = []
    names = [c.name for c in CHANNELS]
    cost = np.array([c.cost_per_lead for c in CHANNELS])
    for metric, leads, p in (
        ("mql_to_sql", mql_leads, people.p_sql),
        ("sql_to_customer", sql_leads, people.p_customer),
    ):
        channel = people.channel[leads]
        for c, name in enumerate(names):
            if (channel == c).any():
                rows.append((metric, name, float(p[leads[channel == c]].mean())))
        if len(leads):
            rows.append((metric, "all", float(p[leads].mean())))
    rows += [("cost_per_lead", name, float(cost[c])) for c, name in enumerate(names)]
    rows.append(("cost_per_lead", "all", float(cost[people.channel].mean())))
    return rows


def _stages_table(stages: dict[str, np.ndarray], lead_ids: pa.Array, people: Leads) -> pa.Table:
    """Return the stage changes as an Arrow table; amounts become decimals, owners reps."""
    reason = stages["reason"]
    amount = stages["amount"]
    return pa.table(
        {
            "lead_id": pc.take(lead_ids, pa.array(stages["lead"])),
            "stage": _dictionary(stages["stage"], STAGES),
            "changed_at": _timestamps(stages["changed_us"]),
            "reason": _dictionary(np.maximum(reason, 0), REASONS, reason < 0),
            "amount": pa.array(amount, mask=np.isnan(amount)).cast(pa.decimal128(18, 2)),
            "owner": _dictionary(people.rep[stages["lead"]], REPS),
        }
    )


# ===== money =====


def _spend_table(
    rng: np.random.Generator, people: Leads, quarters: list, bounds: np.ndarray
) -> pa.Table:
    """Return spend per quarter and campaign: its leads x its channel's cost per lead x noise."""
    quarter = np.searchsorted(bounds, people.created_us, side="right") - 1
    leads = np.bincount(
        quarter * len(CAMPAIGNS) + people.campaign, minlength=QUARTERS * len(CAMPAIGNS)
    ).reshape(QUARTERS, len(CAMPAIGNS))
    campaign_channel = np.array([c[0] for c in CAMPAIGNS])
    # Relative campaign costs are scaled so that a channel's expected cost per lead is its own.
    relative = np.array([c[3] for c in CAMPAIGNS])
    share = np.array([c[2] for c in CAMPAIGNS])
    mean_relative = np.bincount(campaign_channel, share * relative) / np.bincount(
        campaign_channel, share
    )
    cost = np.array([c.cost_per_lead for c in CHANNELS])[campaign_channel] * (
        relative / mean_relative[campaign_channel]
    )
    noise = rng.lognormal(-(0.1**2) / 2, 0.1, leads.shape)  # mean 1
    amount = np.round(leads * cost * noise, 2)
    return pa.table(
        {
            "period_start": pa.array(
                np.repeat([q.start for q in quarters[:QUARTERS]], len(CAMPAIGNS)), pa.date32()
            ),
            "channel": pa.array(np.tile([CHANNELS[c].name for c in campaign_channel], QUARTERS)),
            "campaign": pa.array(np.tile([c[1] or "" for c in CAMPAIGNS], QUARTERS)),
            "amount": pa.array(amount.ravel()).cast(pa.decimal128(18, 2)),
        }
    )


def _targets_table(
    rng: np.random.Generator, stages: dict[str, np.ndarray], quarters: list, bounds: np.ndarray
) -> pa.Table:
    """Return targets for the 12 quarters and the next 2: the growth trend plus some ambition."""
    won = stages["stage"] == STAGES.index("customer")
    quarter = np.searchsorted(bounds, stages["changed_us"][won], side="right") - 1
    customers = np.bincount(quarter, minlength=QUARTERS)[:QUARTERS]
    revenue = np.bincount(quarter, stages["amount"][won], minlength=QUARTERS)[:QUARTERS]
    # The plan follows the trend of the last 8 quarters (the first ones are still ramping up).
    index = np.arange(QUARTERS + 2)
    fit = slice(QUARTERS - 8, QUARTERS)
    trend_customers = np.exp(
        np.polyval(np.polyfit(index[fit], np.log(customers[fit] + 1), 1), index)
    )
    deal = revenue[fit].sum() / max(customers[fit].sum(), 1) or 10_000.0
    ambition = rng.normal(1.05, 0.05, len(index))
    target_customers = np.maximum(1, np.round(trend_customers * ambition)).astype(np.int32)
    target_revenue = np.round(target_customers * deal * rng.normal(1.0, 0.03, len(index)), -3)
    return pa.table(
        {
            "quarter_start": pa.array([q.start for q in quarters], pa.date32()),
            "target_customers": pa.array(target_customers),
            "target_revenue": pa.array(np.maximum(target_revenue, 1000.0)).cast(
                pa.decimal128(18, 2)
            ),
        }
    )


def build_file(
    target: Path,
    *,
    leads: int = 20_000,
    seed: int = 7,
    engagement: float = 1.0,
    replace: bool = False,
) -> dict:
    """Build the demo database in a temporary file beside target, then move it into place.

    Returns build_demo's summary with the whole build's "seconds". A target that exists is
    refused unless replace is set; a failed build leaves no file behind (and target untouched).
    The CLI's `demo` command and the dashboard's first start both build through here.
    """
    if target.exists() and not replace:
        raise db.FunnelcastError(
            f"{target} already exists; choose another path or pass --replace to overwrite it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=".demo-", suffix=".duckdb", dir=target.parent)
    os.close(fd)
    os.unlink(tmp_name)
    try:
        con = db.connect(tmp_name, create=True)
        try:
            summary = build_demo(con, leads=leads, seed=seed, engagement=engagement)
            con.execute("checkpoint")
        finally:
            con.close()
        os.replace(tmp_name, target)
    finally:
        for leftover in (tmp_name, tmp_name + ".wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return {**summary, "seconds": time.perf_counter() - started}
