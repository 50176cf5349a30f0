"""The demo's events: each lead's engagement arc (events build up towards a peak of interest and
fade after it, deeper ones near the peak and with more intent), the campaign each event is a
touch of, and the events as the events table holds them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelcast.demo.columns import campaign_column, channel_column, dictionary, timestamps
from funnelcast.demo.people import Leads
from funnelcast.demo.sampling import days_us, pick
from funnelcast.demo.story import (
    CAMPAIGN_CHANNEL,
    CAMPAIGN_INDEX,
    CHANNEL_INDEX,
    CHANNELS,
    EMAIL_EVENTS,
    EVENT_INDEX,
    EVENT_TYPES,
    FIRST_EVENT,
    GROUP_EVENTS,
    WEBINAR_EVENTS,
)


def make_events(
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
    occurred = created + days_us(offset_d)

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
            pick(rng, list(weights.values()), len(members))
        ]
    first_idx = np.flatnonzero(first)
    first_weights = np.zeros((len(CHANNELS), len(EVENT_TYPES)))
    for c, ch in enumerate(CHANNELS):
        for name, w in FIRST_EVENT[ch.name].items():
            first_weights[c, EVENT_INDEX[name]] = w
    event_type[first_idx] = pick(rng, first_weights[people.channel[lead[first_idx]]])

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
    index = CAMPAIGN_INDEX
    campaign = own.copy()
    total = len(own)
    own_channel = np.array(CAMPAIGN_CHANNEL)[own]
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
    campaign[elsewhere] = retargeting[pick(rng, [0.4, 0.3, 0.3], elsewhere.sum())]
    return campaign


def events_table(events: dict[str, np.ndarray], lead_ids: pa.Array) -> pa.Table:
    """Return the events as an Arrow table in the events table's column order."""
    event_type = events["event_type"]
    stage_of_type = {"top": 0, "middle": 1, "bottom": 2, None: -1}
    stage = np.array([stage_of_type[s] for _, s in EVENT_TYPES])[event_type]
    campaign = events["campaign"]
    return pa.table(
        {
            "lead_id": pc.take(lead_ids, pa.array(events["lead"])),
            "occurred_at": timestamps(events["occurred_us"]),
            "event_type": dictionary(event_type, tuple(e for e, _ in EVENT_TYPES)),
            "content_stage": dictionary(
                np.maximum(stage, 0), ("top", "middle", "bottom"), stage < 0
            ),
            "channel": channel_column(np.array(CAMPAIGN_CHANNEL)[campaign]),
            "campaign": campaign_column(campaign),
        }
    )


def first_event_us(events: dict[str, np.ndarray], n: int, event_type: int) -> np.ndarray:
    """Return each lead's first event of a type (us), or -1 where it has none."""
    first = np.full(n, -1, dtype=np.int64)
    match = np.flatnonzero(events["event_type"] == event_type)
    leads, at = np.unique(events["lead"][match], return_index=True)
    first[leads] = events["occurred_us"][match[at]]  # events are sorted by lead, then time
    return first
