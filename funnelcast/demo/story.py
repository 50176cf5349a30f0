"""The demo's story as parameters: the calendar, the channels and their campaigns, the personas
and companies, the content leads engage with, the default MQL definition, and the stages sales
records, with the rates, costs and shares planted in them.

Only data lives here (frozen dataclasses and tables, read by the generators in people, events,
stages and spend); changing a number changes the story, and the same seed then gives other data.
"""

from __future__ import annotations

from dataclasses import dataclass

# ===== the calendar =====

QUARTERS = 12  # fiscal quarters of history, up to the one holding the demo's `end`
# Leads come in units of this many, each drawn from its own random streams (the first unit from
# the seed's own, so a demo of up to this many leads is what it always was); a build writes
# whole units at a time, so its block size never changes the data.
UNIT_LEADS = 20_000
# Every recorded stage of an MQL (or of a direct SQL) lies within this many days of it.
LAG_CAP_DAYS = 180
ANNUAL_GROWTH = 1.3
# Lead volume by calendar month: a summer and a December dip, an autumn push.
MONTH_FACTOR = (1.0, 1.05, 1.1, 1.0, 1.0, 0.95, 0.85, 0.75, 1.05, 1.15, 1.05, 0.7)
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)  # Monday first


# ===== channels and campaigns =====


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
    seniority_tilt: tuple[float, ...]  # multiplies SENIORITY_WEIGHT, intern to c_level


# fmt: off
CHANNELS = (
    #        name       share at start, end  cost/lead  MQL>SQL  SQL>won  intent  seniority tilt
    Channel("search",   0.26, 0.24,  220.0,  0.22,  0.17,  1.1,  (1, 1, 1, 1, 1, 1)),
    Channel("social",   0.12, 0.18,  160.0,  0.11,  0.10,  0.8,  (1.5, 1.3, 1, 0.8, 0.8, 0.8)),
    Channel("email",    0.12, 0.10,   45.0,  0.14,  0.13,  0.9,  (1, 1, 1, 1, 1, 1)),
    Channel("display",  0.12, 0.07,  260.0,  0.08,  0.08,  0.7,  (1.2, 1.2, 1, 0.9, 0.8, 0.8)),
    Channel("events",   0.07, 0.09,  650.0,  0.25,  0.19,  1.2,  (0.5, 0.7, 1, 1.4, 1.5, 1.4)),
    Channel("content",  0.16, 0.17,  130.0,  0.15,  0.13,  0.9,  (1.6, 1.4, 1, 0.8, 0.7, 0.6)),
    Channel("referral", 0.05, 0.06,   30.0,  0.40,  0.28,  1.3,  (0.3, 0.6, 1, 1.3, 1.5, 1.6)),
    Channel("direct",   0.10, 0.09,    0.0,  0.28,  0.20,  1.2,  (1, 1, 1, 1, 1, 1)),
)
# fmt: on
CHANNEL_INDEX = {c.name: i for i, c in enumerate(CHANNELS)}


@dataclass(frozen=True)
class Campaign:
    """A campaign of a channel: its share of the channel's leads and its relative cost."""

    channel: str
    name: str | None  # None: the channel's leads come without a campaign
    share: float
    relative_cost: float  # scaled so that the channel's mean cost per lead is its own


# In channel order: a campaign's index in this table is its code in the generated arrays.
# fmt: off
CAMPAIGNS = (
    Campaign("search",   "search-brand",         0.35, 0.5),
    Campaign("search",   "search-generic",       0.45, 1.2),
    Campaign("search",   "search-competitor",    0.20, 1.5),
    Campaign("social",   "social-linkedin",      0.55, 1.3),
    Campaign("social",   "social-facebook",      0.25, 0.6),
    Campaign("social",   "social-twitter",       0.20, 0.7),
    Campaign("email",    "email-nurture",        0.5,  1.0),
    Campaign("email",    "email-newsletter",     0.3,  0.8),
    Campaign("email",    "email-partner-list",   0.2,  1.4),
    Campaign("display",  "display-retargeting",  0.45, 0.8),
    Campaign("display",  "display-programmatic", 0.55, 1.15),
    Campaign("events",   "events-tradeshow",     0.4,  1.5),
    Campaign("events",   "events-webinars",      0.4,  0.5),
    Campaign("events",   "events-roadshow",      0.2,  1.0),
    Campaign("content",  "content-ebook",        0.45, 1.1),
    Campaign("content",  "content-report",       0.30, 1.1),
    Campaign("content",  "content-blog",         0.25, 0.6),
    Campaign("referral", "referral-partner",     0.6,  1.2),
    Campaign("referral", "referral-customer",    0.4,  0.7),
    # Direct visitors come without a campaign; their spend row is the channel's, at zero.
    Campaign("direct",   None,                   1.0,  1.0),
)
# fmt: on
CAMPAIGN_CHANNEL = tuple(CHANNEL_INDEX[c.channel] for c in CAMPAIGNS)
CAMPAIGN_INDEX = {c.name: i for i, c in enumerate(CAMPAIGNS)}


# ===== personas =====

SENIORITY = ("intern", "junior", "manager", "director", "vp", "c_level")
SENIORITY_WEIGHT = (0.06, 0.22, 0.32, 0.20, 0.12, 0.08)
# Persona multipliers on the channel's base rates: juniors reach SQL now and then but never sign.
SENIORITY_SQL_MULT = (0.0, 0.35, 0.8, 1.3, 1.5, 1.4)
SENIORITY_CUSTOMER_MULT = (0.0, 0.0, 0.7, 1.2, 1.5, 1.6)
SENIORITY_DEAL_MULT = (0.0, 0.0, 0.8, 1.0, 1.15, 1.3)  # on the company size's median deal
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
TITLES = tuple(title for titles in JOB_TITLES for title in titles)


# ===== companies =====


@dataclass(frozen=True)
class SizeBand:
    """A company size band: name as lead_fit_attributes bands it, employees, how common it is,
    its multiplier on the rates and its median deal."""

    name: str
    low: int
    high: int
    weight: float
    multiplier: float
    median_deal: float


@dataclass(frozen=True)
class Industry:
    """An industry: how common it is, its multiplier on the rates and on the deal size."""

    name: str
    weight: float
    multiplier: float
    deal_mult: float


@dataclass(frozen=True)
class Region:
    """A sales region: how common, its multiplier on the rates, the reps covering it (rep_NN)."""

    name: str
    weight: float
    multiplier: float
    reps: tuple[int, ...]


@dataclass(frozen=True)
class Country:
    """A country and its weight within its region."""

    region: str
    code: str
    weight: float


# fmt: off
SIZE_BANDS = (
    #        name        employees      weight  multiplier  median deal
    SizeBand("1-10",         1,      10,  0.14,  0.3,   2_000.0),
    SizeBand("11-50",       11,      50,  0.22,  0.6,   4_000.0),
    SizeBand("51-200",      51,     200,  0.24,  0.9,   8_000.0),
    SizeBand("201-1000",   201,    1000,  0.20,  1.4,  15_000.0),
    SizeBand("1001-5000", 1001,    5000,  0.12,  1.5,  28_000.0),
    SizeBand("5000+",     5001, 120_000,  0.08,  0.9,  45_000.0),
)
INDUSTRIES = (
    #        name           weight  multiplier  deal
    Industry("software",      0.26,  1.4,  1.0),
    Industry("finance",       0.14,  1.3,  1.2),
    Industry("healthcare",    0.12,  0.9,  1.0),
    Industry("manufacturing", 0.13,  0.8,  1.0),
    Industry("retail",        0.11,  0.7,  1.0),
    Industry("education",     0.09,  0.5,  1.0),
    Industry("government",    0.06,  0.6,  1.0),
    Industry("media",         0.09,  0.8,  1.0),
)
REGIONS = (
    #      name            weight  multiplier  reps
    Region("north_america", 0.42,  1.1,  (1, 2, 3, 4, 5)),
    Region("europe",        0.32,  1.0,  (6, 7, 8, 9)),
    Region("apac",          0.12,  0.8,  (10, 11)),
    Region("latam",         0.08,  0.7,  (12,)),
    # The company does not sell here: the definition disqualifies it and nobody buys.
    Region("mena",          0.06,  0.0,  (12,)),
)
COUNTRIES = (
    Country("north_america", "US", 0.85), Country("north_america", "CA", 0.15),
    Country("europe", "GB", 0.25), Country("europe", "DE", 0.22), Country("europe", "FR", 0.15),
    Country("europe", "NL", 0.10), Country("europe", "ES", 0.08), Country("europe", "IT", 0.08),
    Country("europe", "SE", 0.07), Country("europe", "PL", 0.05),
    Country("apac", "AU", 0.30), Country("apac", "IN", 0.25), Country("apac", "JP", 0.20),
    Country("apac", "SG", 0.15), Country("apac", "NZ", 0.10),
    Country("latam", "BR", 0.45), Country("latam", "MX", 0.30), Country("latam", "AR", 0.10),
    Country("latam", "CO", 0.10), Country("latam", "CL", 0.05),
    Country("mena", "AE", 0.40), Country("mena", "SA", 0.35), Country("mena", "EG", 0.25),
)
COMPANY_SUFFIXES = {
    "software": ("Software", "Labs", "Systems", "Cloud", "Technologies"),
    "finance": ("Capital", "Financial", "Bank", "Insurance", "Partners"),
    "healthcare": ("Health", "Medical", "Care", "Clinics"),
    "manufacturing": ("Industries", "Manufacturing", "Machines", "Components"),
    "retail": ("Retail", "Stores", "Market", "Goods"),
    "education": ("Academy", "University", "Learning", "Schools"),
    "government": ("Agency", "Authority", "Council"),
    "media": ("Media", "Studios", "Publishing", "Broadcasting"),
}
COMPANY_NAME_PARTS = (
    ("North", "Blue", "Silver", "Bright", "Red", "Green", "Iron", "Clear", "Swift", "Summit",
     "Stone", "Cedar", "Maple", "Harbor", "Eagle", "Lumen", "Nova", "Atlas", "Pine", "Coral"),
    ("wind", "peak", "field", "bridge", "wave", "point", "line", "gate", "path", "ridge",
     "brook", "light", "stream", "crest", "works", "forge", "vale", "port", "mark", "view"),
)
# fmt: on
REGION_INDEX = {r.name: i for i, r in enumerate(REGIONS)}
COUNTRY_REGION = tuple(REGION_INDEX[c.region] for c in COUNTRIES)
REPS = tuple(f"rep_{i:02d}" for i in range(1, 13))


# ===== content: what leads do =====

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


# ===== the default MQL definition (id 1) =====

DEFINITION_ID = 1
THRESHOLD = 65.0
HALF_LIFE_DAYS = 30.0
# Rows of definition_fit_rules: (attribute, value, points, is_disqualifier), by attribute.
# fmt: off
FIT_RULES = (
    ("seniority", "intern", 0, True), ("seniority", "junior", -10, False),
    ("seniority", "manager", 5, False), ("seniority", "director", 15, False),
    ("seniority", "vp", 20, False), ("seniority", "c_level", 20, False),
    ("company_size_band", "1-10", -10, False), ("company_size_band", "51-200", 5, False),
    ("company_size_band", "201-1000", 15, False), ("company_size_band", "1001-5000", 15, False),
    ("company_size_band", "5000+", 10, False),
    ("industry", "software", 10, False), ("industry", "finance", 10, False),
    ("industry", "healthcare", 5, False), ("industry", "manufacturing", 5, False),
    ("industry", "education", -5, False),
    ("region", "north_america", 5, False), ("region", "europe", 5, False),
    ("region", "mena", 0, True),
)
# Rows of definition_behaviour_rules: (event_type, points, cap_points), by content stage.
BEHAVIOUR_RULES = (
    ("email_open", 1, 5), ("email_click", 3, 12), ("content_download", 5, 15),
    ("webinar_signup", 8, 16), ("webinar_attended", 15, 30), ("case_study_view", 8, 16),
    ("pricing_page_view", 12, 24), ("demo_request", 40, None),
    ("unsubscribe", -25, None), ("email_bounce", -10, None),
)
# fmt: on


# ===== stages sales records =====

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
SAL_LOST_WEIGHT = (0.4, 0.3, 0.3)
DEAL_LOST_REASONS = ("lost to competitor", "no decision", "price", "timing")
DEAL_LOST_WEIGHT = (0.35, 0.3, 0.2, 0.15)
REASONS = tuple(dict.fromkeys(REJECT_REASONS + SAL_LOST_REASONS + DEAL_LOST_REASONS))
REASON_INDEX = {name: i for i, name in enumerate(REASONS)}
# MQLs that never reach SQL: this share is accepted and dropped at SAL, the rest rejected.
SAL_LOST_SHARE = 0.35
# Of the MQLs rejected 'not ready', this share is recycled; of those, this share comes back as
# an MQL, and of those this share is rejected again (the rest accepted, then dropped).
RECYCLED_SHARE = 0.5
BACK_AS_MQL_SHARE = 0.35
REJECTED_AGAIN_SHARE = 0.5
# Share of eventual SQLs that first get rejected 'not ready', are recycled and come back.
RECYCLED_WIN_SHARE = 0.10
# Non-MQL leads with a demo request that sales takes straight to SQL: this x their P(SQL).
DIRECT_SQL_FACTOR = 1.0
