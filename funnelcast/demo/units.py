"""The demo's leads in units and blocks: which random streams draw which leads, so that the same
seed gives the same data however many leads a build holds in memory at once.

- A unit is UNIT_LEADS consecutive leads (the last one fewer) with its own random streams for
  its leads, events, stages and custom attributes: unit 0 has the seed's own streams (children
  0, 1, 2 and 4 of SeedSequence(seed), as the demo always drew them), unit k > 0 the children of
  SeedSequence(seed, spawn_key=(5, k)). The money stream (child 3) draws spend and targets once,
  from totals over every unit.
- Lead ids follow creation order across units: each unit draws as many creation times as it has
  leads, every unit's times are sorted together (the first pass, one int64 per lead), and unit k
  then draws the rest of its leads' story for the k-th run of UNIT_LEADS of those times. With one
  unit this is the demo as it was: its own times, sorted.
- A block is whole consecutive units: what a build generates, writes and scores at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from funnelcast.demo.people import creation_times
from funnelcast.demo.story import UNIT_LEADS

# The seed's child streams, by what they draw; unit 0 draws from these, the others from their own.
LEADS, EVENTS, STAGES, MONEY, ATTRIBUTES = range(5)


@dataclass
class Unit:
    """A unit of leads: its place in creation order and its random streams."""

    index: int
    first: int  # index of its first lead in creation order (its lead id - 1)
    size: int
    leads_rng: np.random.Generator  # already past the unit's creation times
    events_rng: np.random.Generator
    stages_rng: np.random.Generator
    attributes_rng: np.random.Generator


def money_stream(seed: int) -> np.random.Generator:
    """Return the stream that draws spend noise and target ambition (the seed's child 3)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(MONEY,)))


def plan_units(seed: int, n: int, start_us: int, end_us: int) -> tuple[list[Unit], np.ndarray]:
    """Return the units of n leads, each with its streams, and every lead's creation time (us,
    sorted: lead i's is created[i]), drawn unit by unit and sorted together."""
    units, times = [], []
    for index, first in enumerate(range(0, n, UNIT_LEADS)):
        size = min(UNIT_LEADS, n - first)
        if index == 0:
            seeds = np.random.SeedSequence(seed).spawn(5)
            own = [seeds[LEADS], seeds[EVENTS], seeds[STAGES], seeds[ATTRIBUTES]]
        else:
            own = np.random.SeedSequence(seed, spawn_key=(5, index)).spawn(4)
        leads_rng, events_rng, stages_rng, attributes_rng = (np.random.default_rng(s) for s in own)
        times.append(creation_times(leads_rng, size, start_us, end_us))
        units.append(Unit(index, first, size, leads_rng, events_rng, stages_rng, attributes_rng))
    created = times[0] if len(times) == 1 else np.sort(np.concatenate(times))
    return units, created


def blocks(units: list[Unit], block_leads: int) -> list[list[Unit]]:
    """Return the units in blocks of block_leads leads, rounded up to whole units."""
    per_block = max(1, -(-block_leads // UNIT_LEADS))
    return [units[i : i + per_block] for i in range(0, len(units), per_block)]
