"""The demo's people: leads created over the history with growth, seasonality and quiet
weekends, each with a channel and campaign, a company (industry, size, country, region), a
seniority and job title, a sales rep, and what the story plants for it: its chances of reaching
SQL and of becoming a customer, its intent and its deal size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from funnelcast.demo.columns import campaign_column, channel_column, dictionary, timestamps
from funnelcast.demo.sampling import DAY_US, pick
from funnelcast.demo.story import (
    ANNUAL_GROWTH,
    CAMPAIGN_CHANNEL,
    CAMPAIGNS,
    CHANNELS,
    COMPANY_NAME_PARTS,
    COMPANY_SUFFIXES,
    COUNTRIES,
    COUNTRY_REGION,
    INDUSTRIES,
    JOB_TITLES,
    MONTH_FACTOR,
    REGIONS,
    SENIORITY,
    SENIORITY_CUSTOMER_MULT,
    SENIORITY_DEAL_MULT,
    SENIORITY_SQL_MULT,
    SENIORITY_WEIGHT,
    SIZE_BANDS,
    TITLES,
    WEEKDAY_FACTOR,
)


@dataclass
class Companies:
    """Per-company arrays; leads index them."""

    name: np.ndarray
    industry: np.ndarray  # index into INDUSTRIES
    band: np.ndarray  # index into SIZE_BANDS
    size: np.ndarray  # employees
    country: np.ndarray  # index into COUNTRIES
    region: np.ndarray  # index into REGIONS


@dataclass
class Leads:
    """Per-lead arrays, in lead_id order (which is creation order)."""

    created_us: np.ndarray
    channel: np.ndarray  # index into CHANNELS
    campaign: np.ndarray  # index into CAMPAIGNS
    company: np.ndarray  # index into companies
    seniority: np.ndarray  # index into SENIORITY
    title: np.ndarray  # index into TITLES
    p_sql: np.ndarray  # planted P(reach SQL | MQL)
    p_customer: np.ndarray  # planted P(customer | SQL)
    intent: np.ndarray  # 0..1: how much and how deep it engages
    deal_median: np.ndarray
    rep: np.ndarray  # index into REPS
    companies: Companies


def make_leads(
    rng: np.random.Generator, created_us: np.ndarray, start_us: int, end_us: int
) -> Leads:
    """Return leads created at created_us (sorted, between start and end), with channels,
    companies and personas: what the same rng draws after creation_times' draws."""
    n = len(created_us)
    progress = (created_us - start_us) / (end_us - start_us)

    shares_start = np.array([c.share_start for c in CHANNELS])
    shares_end = np.array([c.share_end for c in CHANNELS])
    channel_weights = np.outer(1 - progress, shares_start) + np.outer(progress, shares_end)
    channel = pick(rng, channel_weights)
    campaign = _within(rng, channel, len(CHANNELS), CAMPAIGN_CHANNEL, [c.share for c in CAMPAIGNS])

    companies = _make_companies(rng, max(20, n // 4))
    popularity = companies.size.astype(float) ** 0.25
    company = pick(rng, popularity, n)

    tilt = np.array([c.seniority_tilt for c in CHANNELS]) * np.array(SENIORITY_WEIGHT)
    seniority = pick(rng, tilt[channel])
    title_offsets = np.cumsum([0] + [len(t) for t in JOB_TITLES])
    title_counts = np.diff(title_offsets)
    title = title_offsets[seniority] + (rng.random(n) * title_counts[seniority]).astype(np.int64)

    band = companies.band[company]
    industry = companies.industry[company]
    region = companies.region[company]
    firm_mult = (
        np.array([b.multiplier for b in SIZE_BANDS])[band]
        * np.array([i.multiplier for i in INDUSTRIES])[industry]
        * np.array([r.multiplier for r in REGIONS])[region]
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

    deal_median = (
        np.array([b.median_deal for b in SIZE_BANDS])[band]
        * np.array([i.deal_mult for i in INDUSTRIES])[industry]
        * np.array(SENIORITY_DEAL_MULT)[seniority]
    )

    rep = np.empty(n, dtype=np.int64)
    for r, covering in enumerate(REGIONS):
        members = np.flatnonzero(region == r)
        reps = np.array(covering.reps) - 1
        rep[members] = reps[rng.integers(0, len(reps), len(members))]

    return Leads(  # in field order
        created_us, channel, campaign, company, seniority, title,
        p_sql, p_customer, intent, deal_median, rep, companies,
    )  # fmt: skip


def _within(
    rng: np.random.Generator,
    group: np.ndarray,
    n_groups: int,
    group_of: tuple[int, ...],
    weights: list[float],
) -> np.ndarray:
    """Return for each item its member category within its group (a campaign of its channel, a
    country of its region): categories whose group_of is the item's group, picked by weight."""
    out = np.empty(len(group), dtype=np.int64)
    for g in range(n_groups):
        members = np.flatnonzero(group == g)
        ids = [i for i, of in enumerate(group_of) if of == g]
        out[members] = np.array(ids)[pick(rng, [weights[i] for i in ids], len(members))]
    return out


def creation_times(rng: np.random.Generator, n: int, start_us: int, end_us: int) -> np.ndarray:
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
    day = pick(rng, weight, n)
    # Office hours across the served time zones: centred on 14:00 UTC.
    seconds_of_day = np.mod(rng.normal(14 * 3600, 3.5 * 3600, n), 86_400).astype(np.int64)
    return np.sort(start_us + day * DAY_US + seconds_of_day * 1_000_000)


def _make_companies(rng: np.random.Generator, n: int) -> Companies:
    """Return n companies: name, industry, size band, employees, country and region."""
    industry = pick(rng, [i.weight for i in INDUSTRIES], n)
    band = pick(rng, [b.weight for b in SIZE_BANDS], n)
    low = np.array([b.low for b in SIZE_BANDS], dtype=float)[band]
    high = np.array([b.high for b in SIZE_BANDS], dtype=float)[band]
    # Log-uniform within the band: small companies are more common than large ones.
    size = np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1)))).astype(np.int64)
    size = np.clip(size, low.astype(np.int64), high.astype(np.int64))
    region = pick(rng, [r.weight for r in REGIONS], n)
    country = _within(rng, region, len(REGIONS), COUNTRY_REGION, [c.weight for c in COUNTRIES])

    first, second = (np.array(part) for part in COMPANY_NAME_PARTS)
    stem = np.char.add(
        first[rng.integers(0, len(first), n)], second[rng.integers(0, len(second), n)]
    )
    suffix = np.empty(n, dtype=object)
    for i, ind in enumerate(INDUSTRIES):
        suffixes = COMPANY_SUFFIXES[ind.name]
        members = np.flatnonzero(industry == i)
        suffix[members] = np.array(suffixes, dtype=object)[
            rng.integers(0, len(suffixes), len(members))
        ]
    name = np.char.add(np.char.add(stem, " "), suffix.astype(str))
    return Companies(name, industry, band, size, country, region)


def leads_table(people: Leads, lead_ids: pa.Array) -> pa.Table:
    """Return the leads as an Arrow table in the leads table's column order."""
    company, companies = people.company, people.companies
    return pa.table(
        {
            "lead_id": lead_ids,
            "created_at": timestamps(people.created_us),
            "channel": channel_column(people.channel),
            "campaign": campaign_column(people.campaign),
            "company": pa.array(companies.name[company]),
            "industry": dictionary(companies.industry[company], tuple(i.name for i in INDUSTRIES)),
            "company_size": pa.array(companies.size[company].astype(np.int32)),
            "country": dictionary(companies.country[company], tuple(c.code for c in COUNTRIES)),
            "region": dictionary(companies.region[company], tuple(r.name for r in REGIONS)),
            "job_title": dictionary(people.title, TITLES),
            "seniority": dictionary(people.seniority, SENIORITY),
        }
    )
