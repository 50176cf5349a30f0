"""The demo's custom attributes: lead-level fields a CRM export carries beside the built-in ones,
as a leads import keeps them (lead_attribute_types, lead_attributes), so that a new user sees
rules on them from the first start.

- "Job function" (text): Marketing, Sales, Operations, Engineering, Finance, Student; about a
  tenth unknown. Marketing and Sales leads are likelier buyers (the story's own SQL chances
  already say so through seniority; here they lean on intent).
- "Website visits" (number): visits before the lead became known and since, rising with the
  lead's own events (a lead with many events has visited more), a fifth unknown.
- "Newsletter opt-in" (yes/no): about 40% Yes.
- "Do not contact" (yes/no): about 3% Yes; the default definition disqualifies them.
- "Last visit" (date): the lead's latest event, unknown for leads without one.

Drawn from their own random stream (the build's fifth), so the other tables are those of the
same seed without attributes; `attributes_table` lays them out as lead_attributes rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from funnelcast.demo.people import Leads

JOB_FUNCTIONS = ("Marketing", "Sales", "Operations", "Engineering", "Finance", "Student")
TYPES = {
    "Job function": "text",
    "Website visits": "number",
    "Newsletter opt-in": "yes/no",
    "Do not contact": "yes/no",
    "Last visit": "date",
}


def make_attributes(
    rng: np.random.Generator, people: Leads, events: dict[str, np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return per attribute its values per lead and whether each is known (texts as object
    arrays; numbers, yes/no as 1/0 and dates as epoch seconds as floats)."""
    n = len(people.created_us)
    counts = np.bincount(events["lead"], minlength=n)
    # Marketing and Sales more likely for leads with more intent
    lean = np.clip(people.intent, 0.0, 1.0)
    weights = np.stack(
        [
            0.14 + 0.20 * lean,  # Marketing
            0.12 + 0.18 * lean,  # Sales
            np.full(n, 0.20),
            np.full(n, 0.18),
            np.full(n, 0.14),
            0.16 - 0.12 * lean,  # Student
        ],
        axis=1,
    )
    weights /= weights.sum(axis=1, keepdims=True)
    pick = (weights.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    job = np.array(JOB_FUNCTIONS, dtype=object)[pick]
    visits = rng.poisson(0.8 + 0.7 * counts).astype(np.float64)
    last = np.full(n, np.nan)
    if len(events["lead"]):
        ends = np.r_[np.flatnonzero(np.diff(events["lead"])), len(events["lead"]) - 1]
        last[events["lead"][ends]] = events["occurred_us"][ends] // 1_000_000
    return {
        "Job function": (job, rng.random(n) >= 0.1),
        "Website visits": (visits, rng.random(n) >= 0.2),
        "Newsletter opt-in": ((rng.random(n) < 0.4).astype(np.float64), np.ones(n, dtype=bool)),
        "Do not contact": ((rng.random(n) < 0.03).astype(np.float64), np.ones(n, dtype=bool)),
        "Last visit": (last, ~np.isnan(last)),
    }


def attributes_table(
    attributes: dict[str, tuple[np.ndarray, np.ndarray]], lead_ids: pa.Array
) -> pa.Table:
    """Return the attributes as lead_attributes rows: one per lead and known attribute."""
    parts = []
    for name, (values, known) in attributes.items():
        index = np.flatnonzero(known)
        ids = lead_ids.take(pa.array(index))
        text = TYPES[name] == "text"
        parts.append(
            pa.table(
                {
                    "lead_id": ids,
                    "attribute": pa.array([name] * len(index), pa.string()),
                    "text_value": pa.array(
                        values[index] if text else [None] * len(index), pa.string()
                    ),
                    "number_value": pa.array(
                        [None] * len(index) if text else values[index].astype(np.float64),
                        pa.float64(),
                    ),
                }
            )
        )
    return pa.concat_tables(parts)
