"""A realistic CRM lead export with planted effects, shaped like the public "X Education" lead
scoring export: one row per lead, 38 columns, lead-level behaviour (visits, time on site, pages
per visit, last activity), profile fields, many yes/no fields, "Select" as a blank placeholder,
and no event stream; beside it the stage changes that say which leads reached SQL and customer.

`write_export(folder, leads=9000, seed=...)` writes, seeded and deterministic:
- leads.csv: "Prospect ID" (the lead id), "Lead Number", "Created On" (ISO time), "Lead Origin",
  "Lead Source" (the channel), the behaviour columns, "Country" and the rest as custom fields;
- stage_changes.csv: "Prospect ID", "Stage" (sql, customer), "Changed At", "Amount" (customers).
The importer maps Prospect ID, Created On, Lead Source and Country to lead_id, created_at,
channel and country; every other column is a custom attribute.

The planted effects (PLANTED), on the log-odds of reaching SQL:
- "Do Not Email" = Yes (8% of leads): never converts;
- "TotalVisits": rises with visits, +0.22 per visit up to 10 (0 visits for about a quarter);
- "Total Time Spent on Website": +1.6 per 1,000 seconds;
- "What is your current occupation": Working Professional +2.5, Housewife +2.0, Businessman
  +1.0, Student -0.3, unknown -0.8 (Unemployed, the most common, 0);
- "Lead Origin": Lead Add Form +1.8, API -0.3; "Lead Source": Reference +1.0, Welingak Website
  +2.0, Olark Chat -0.6; "Last Activity": SMS Sent +1.2, Olark Chat Conversation -1.0,
  Email Bounced -1.0, Converted to Lead -0.8, Had a Phone Conversation +2.0;
- "Asymmetrique Activity Score": +0.12 per point above 14 (unknown for 45%);
- everything else (Page Views Per Visit, Country, City, Specialization, most yes/no fields) is
  noise.
And two leaky columns the CRM fills after the sale:
- "Tags": filled for 92% of the converted leads, 18% of the others ("Will revert after reading
  the email", "Closed by Horizzon" versus "Ringing", "Interested in other courses", ...);
- "Lead Status": always filled, "Closed - Won" for 97% of the converted and 2% of the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_LEADS = 9_000
DEFAULT_SEED = 17
START = dt.datetime(2023, 1, 1)
SPAN_DAYS = 730
PLACEHOLDER = "Select"
BASE_LOG_ODDS = -1.9

LEAD_ORIGIN = {
    "Landing Page Submission": (0.53, 0.0),
    "API": (0.385, -0.3),
    "Lead Add Form": (0.078, 1.8),
    "Lead Import": (0.007, -0.5),
}
LEAD_SOURCE = {
    "Google": (0.31, 0.0),
    "Direct Traffic": (0.275, 0.0),
    "Olark Chat": (0.19, -0.6),
    "Organic Search": (0.125, 0.0),
    "Reference": (0.058, 1.0),
    "Welingak Website": (0.016, 2.0),
    "Referral Sites": (0.014, 0.0),
    "Facebook": (0.006, 0.0),
    "bing": (0.006, 0.0),
}
LAST_ACTIVITY = {
    "Email Opened": (0.372, 0.3),
    "SMS Sent": (0.298, 1.2),
    "Olark Chat Conversation": (0.106, -1.0),
    "Page Visited on Website": (0.07, 0.0),
    "Converted to Lead": (0.047, -0.8),
    "Email Bounced": (0.036, -1.0),
    "Email Link Clicked": (0.029, 0.0),
    "Form Submitted on Website": (0.013, 0.0),
    "Unreachable": (0.01, 0.0),
    "Unsubscribed": (0.007, 0.0),
    "Had a Phone Conversation": (0.012, 2.0),
}
OCCUPATION = {
    "Unemployed": (0.606, 0.0),
    "Working Professional": (0.076, 2.5),
    "Student": (0.023, -0.3),
    "Other": (0.002, 0.0),
    "Housewife": (0.004, 2.0),
    "Businessman": (0.004, 1.0),
}
OCCUPATION_UNKNOWN = (0.285, -0.8)
COUNTRY = {
    "India": 0.70,
    "United States": 0.0075,
    "United Arab Emirates": 0.0057,
    "Singapore": 0.0026,
    "Saudi Arabia": 0.0023,
    "United Kingdom": 0.0016,
    "Australia": 0.0014,
    "Qatar": 0.0011,
}
SPECIALIZATION = (
    "Finance Management",
    "Human Resource Management",
    "Marketing Management",
    "Operations Management",
    "Business Administration",
    "IT Projects Management",
    "Supply Chain Management",
    "Banking, Investment And Insurance",
    "Media and Advertising",
    "Travel and Tourism",
    "International Business",
    "Healthcare Management",
    "Hospitality Management",
    "E-COMMERCE",
    "Retail Management",
    "Rural and Agribusiness",
    "E-Business",
    "Services Excellence",
)
CITY = (
    "Mumbai",
    "Thane & Outskirts",
    "Other Cities",
    "Other Cities of Maharashtra",
    "Other Metro Cities",
    "Tier II Cities",
)
HEARD = (
    "Online Search",
    "Word Of Mouth",
    "Student of SomeSchool",
    "Other",
    "Multiple Sources",
    "Advertisements",
    "Social Media",
    "Email",
    "SMS",
)
LEAD_PROFILE = (
    "Potential Lead",
    "Other Leads",
    "Student of SomeSchool",
    "Lateral Student",
    "Dual Specialization Student",
)
LEAD_QUALITY = ("Might be", "Not Sure", "High in Relevance", "Worst", "Low in Relevance")
INDEX_LEVELS = ("01.High", "02.Medium", "03.Low")
TAGS_AFTER_SALE = (
    "Will revert after reading the email",
    "Closed by Horizzon",
    "Lost to EINS",
    "Busy",
)
TAGS_OTHERS = (
    "Ringing",
    "Interested in other courses",
    "Already a student",
    "switched off",
    "Not doing further education",
)
# Yes/no fields with the share of Yes; none has an effect.
YES_NO_FIELDS = {
    "Do Not Call": 0.0005,
    "Search": 0.0015,
    "Magazine": 0.0,
    "Newspaper Article": 0.0003,
    "X Education Forums": 0.0002,
    "Newspaper": 0.0002,
    "Digital Advertisement": 0.0004,
    "Through Recommendations": 0.0008,
    "Receive More Updates About Our Courses": 0.0,
    "Update me on Supply Chain Content": 0.0,
    "Get updates on DM Content": 0.0,
    "I agree to pay the amount through cheque": 0.0,
    "A free copy of Mastering The Interview": 0.31,
}
DO_NOT_EMAIL_SHARE = 0.08
# What the generator plants, for tests to check against.
PLANTED = {
    "never_converts": ("Do Not Email", "Yes"),
    "rising": "TotalVisits",
    "best_occupation": "Working Professional",
    "leaky": ("Tags", "Lead Status"),
}


@dataclass(frozen=True)
class ExportFiles:
    """The files write_export wrote."""

    leads: Path
    stage_changes: Path


def write_export(
    folder: str | Path, leads: int = DEFAULT_LEADS, seed: int = DEFAULT_SEED
) -> ExportFiles:
    """Write the lead export and its stage changes to folder; return their paths."""
    if leads < 1:
        raise ValueError(f"leads must be at least 1, not {leads}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame, stages = export_frames(leads, seed)
    files = ExportFiles(folder / "leads.csv", folder / "stage_changes.csv")
    frame.write_csv(files.leads)
    stages.write_csv(files.stage_changes)
    return files


def export_frames(
    leads: int = DEFAULT_LEADS, seed: int = DEFAULT_SEED
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return the export (one row per lead) and its stage changes, as write_export writes them."""
    rng = np.random.default_rng(seed)
    n = leads
    created = np.sort(rng.uniform(0, SPAN_DAYS, n))
    created_at = [START + dt.timedelta(days=float(d)) for d in created]
    created_at = [c.replace(microsecond=0) for c in created_at]
    logit = np.full(n, BASE_LOG_ODDS)

    origin = _pick(rng, LEAD_ORIGIN, n, logit)
    source = _pick(rng, LEAD_SOURCE, n, logit)
    activity = _pick(rng, LAST_ACTIVITY, n, logit)
    occupation = _pick(rng, {**OCCUPATION, "": OCCUPATION_UNKNOWN}, n, logit)
    do_not_email = rng.random(n) < DO_NOT_EMAIL_SHARE

    zero_visits = rng.random(n) < 0.24
    visits = np.where(zero_visits, 0, 1 + rng.negative_binomial(2, 0.4, n)).astype(float)
    logit += 0.22 * np.minimum(visits, 10)
    seconds = np.where(zero_visits, 0, np.round(rng.lognormal(5.9, 0.9, n) * (1 + 0.05 * visits)))
    seconds = np.minimum(seconds, 2_400)
    logit += 1.6 * seconds / 1_000
    pages = np.where(zero_visits, 0, np.round(1 + rng.gamma(2.0, 0.7, n), 2))
    visits_missing = rng.random(n) < 0.015
    activity_score = rng.integers(7, 19, n).astype(float)
    activity_known = rng.random(n) < 0.55
    logit += np.where(activity_known, 0.12 * (activity_score - 14), 0.0)

    converted = (rng.random(n) < 1 / (1 + np.exp(-logit))) & ~do_not_email

    def texts(values: tuple[str, ...], known_share: float) -> list[str]:
        chosen = rng.choice(values, n)
        return [
            str(v) if k else "" for v, k in zip(chosen, rng.random(n) < known_share, strict=True)
        ]

    def placeholder(values: list[str], share: float) -> list[str]:
        """Return values with a share of them (and every blank) written as Select or blank."""
        marks = rng.random(n)
        return [PLACEHOLDER if m < share else v for v, m in zip(values, marks, strict=True)]

    countries = list(COUNTRY)
    weights = np.array(list(COUNTRY.values()))
    country = rng.choice(countries + ["", "Other"], n, p=[*weights, 0.26, 1 - weights.sum() - 0.26])
    tags = np.where(
        converted,
        np.where(rng.random(n) < 0.92, rng.choice(TAGS_AFTER_SALE, n), ""),
        np.where(rng.random(n) < 0.18, rng.choice(TAGS_OTHERS, n), ""),
    )
    status_won = np.where(converted, rng.random(n) < 0.97, rng.random(n) < 0.02)
    status = np.where(status_won, "Closed - Won", np.where(rng.random(n) < 0.6, "Lost", "Open"))
    status = np.where(converted & ~status_won, "Open", status)
    occupation_known = occupation != ""
    columns: dict[str, object] = {
        "Prospect ID": [f"xe-{i:06d}-{rng.integers(16**6):06x}" for i in range(n)],
        "Lead Number": 580_000 + np.arange(n) * 3,
        "Created On": [c.isoformat(sep=" ") for c in created_at],
        "Lead Origin": origin,
        "Lead Source": source,
        "Do Not Email": np.where(do_not_email, "Yes", "No"),
        "TotalVisits": [None if m else int(v) for v, m in zip(visits, visits_missing, strict=True)],
        "Total Time Spent on Website": seconds.astype(int),
        "Page Views Per Visit": [
            None if m else float(p) for p, m in zip(pages, visits_missing, strict=True)
        ],
        "Last Activity": np.where(rng.random(n) < 0.011, "", activity),
        "Country": country,
        "Specialization": placeholder(texts(SPECIALIZATION, 0.84), 0.21),
        "How did you hear about X Education": placeholder(texts(HEARD, 0.76), 0.55),
        "What is your current occupation": occupation,
        "What matters most to you in choosing a course": np.where(
            occupation_known,
            rng.choice(
                ["Better Career Prospects", "Flexibility & Convenience", "Other"],
                n,
                p=[0.998, 0.001, 0.001],
            ),
            "",
        ),
        **{
            name: np.where(rng.random(n) < share, "Yes", "No")
            for name, share in YES_NO_FIELDS.items()
        },
        "Tags": tags,
        "Lead Status": status,
        "Lead Quality": texts(LEAD_QUALITY, 0.48),
        "Lead Profile": placeholder(texts(LEAD_PROFILE, 0.7), 0.45),
        "City": placeholder(texts(CITY, 0.85), 0.24),
        "Asymmetrique Activity Index": [
            INDEX_LEVELS[0 if s >= 16 else 1 if s >= 12 else 2] if k else ""
            for s, k in zip(activity_score, activity_known, strict=True)
        ],
        "Asymmetrique Profile Index": texts(INDEX_LEVELS, 0.55),
        "Asymmetrique Activity Score": [
            int(s) if k else None for s, k in zip(activity_score, activity_known, strict=True)
        ],
        "Asymmetrique Profile Score": [
            int(s) if k else None
            for s, k in zip(rng.integers(11, 21, n), rng.random(n) < 0.55, strict=True)
        ],
        "Last Notable Activity": np.where(rng.random(n) < 0.6, activity, "Modified"),
    }
    frame = pl.DataFrame({name: _column(values) for name, values in columns.items()})
    frame = frame.with_columns(
        pl.when(pl.col(pl.String) == "").then(None).otherwise(pl.col(pl.String)).name.keep()
    )
    stages = _stage_changes(rng, frame["Prospect ID"].to_list(), created_at, converted)
    return frame, stages


def _pick(
    rng: np.random.Generator, table: dict[str, tuple[float, float]], n: int, logit: np.ndarray
) -> np.ndarray:
    """Return n values drawn with the table's shares, adding each one's effect to logit."""
    names = list(table)
    shares = np.array([table[k][0] for k in names])
    effects = np.array([table[k][1] for k in names])
    index = rng.choice(len(names), n, p=shares / shares.sum())
    logit += effects[index]
    return np.array(names, dtype=object)[index]


def _column(values: object) -> pl.Series:
    """Return a column as a Series (numpy text arrays as String)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "OU":
        return pl.Series([str(v) for v in values], dtype=pl.String)
    return pl.Series(values)  # type: ignore[arg-type]  # lists and numpy arrays


def _stage_changes(
    rng: np.random.Generator,
    ids: list[str],
    created_at: list[dt.datetime],
    converted: np.ndarray,
) -> pl.DataFrame:
    """Return the SQL moment of each converted lead (1 to 28 days after creation) and, for
    about 60% of them, a customer moment 5 to 60 days later with its amount."""
    rows: list[tuple[str, str, dt.datetime, float | None]] = []
    for i in np.flatnonzero(converted):
        sql_at = created_at[i] + dt.timedelta(days=float(rng.uniform(1, 28)))
        rows.append((ids[i], "sql", sql_at.replace(microsecond=0), None))
        if rng.random() < 0.6:
            won_at = sql_at + dt.timedelta(days=float(rng.uniform(5, 60)))
            amount = round(float(rng.uniform(500, 5_000)), 2)
            rows.append((ids[i], "customer", won_at.replace(microsecond=0), amount))
    return pl.DataFrame(
        rows,
        schema={
            "Prospect ID": pl.String,
            "Stage": pl.String,
            "Changed At": pl.Datetime("us"),
            "Amount": pl.Float64,
        },
        orient="row",
    )
