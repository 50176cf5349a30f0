"""What the tests of the Lab's memory budget share: the event types the dashboard materialises
and a FUNNELCAST_LAB_MEMORY that leaves room for a given share of the leads."""

from __future__ import annotations

from funnelcast import lab
from funnelcast.data import db
from funnelcast.lab import budget


def dashboard_types(cur, current) -> tuple[str, ...]:
    """Return the event types the dashboard materialises: the data's and the definition's."""
    vocabulary = db.run(cur, "scoring_vocabulary")
    return tuple(
        sorted(
            set(vocabulary.filter(vocabulary["kind"] == "behaviour")["value"].to_list())
            | {r.event_type for r in current.behaviour_rules}
        )
    )


def memory_for_share(cur, current, types: tuple[str, ...], share: float) -> int:
    """Return the memory (bytes) in which the budget finds room for about share of the leads."""
    prediction = budget.predict(budget.counts(cur, types, lab.named_fields([current])))
    return int((prediction.whole + share * prediction.sampled) * budget.MARGIN)
