"""What changed between two versions, in words: the lines `funnelcast definition diff` prints.

Fit rules are told apart by field, operator and value ("fit rule TotalVisits ≥ 5: points
10 → 15"); a rule whose value changed reads as one removed and one added.
"""

from __future__ import annotations

from dataclasses import replace

from funnelcast.definitions import operators
from funnelcast.definitions._numbers import number_text
from funnelcast.definitions.model import Definition, FitRule, fit_order
from funnelcast.definitions.validation import rule_name


def _cap_text(cap: float | None) -> str:
    """Return a cap for people: 'cap 15' or 'no cap'."""
    return "no cap" if cap is None else f"cap {number_text(cap)}"


def _fit_effect(rule: FitRule) -> str:
    """Return what a fit rule does: 'disqualifier', '5 points', '2 points per unit, cap 20'."""
    if rule.is_disqualifier:
        return "disqualifier"
    if rule.op == operators.PER_UNIT:
        return f"{number_text(rule.points)} points per unit, {_cap_text(rule.cap)}"
    return f"{number_text(rule.points)} points"


def _fit_key(rule: FitRule) -> tuple:
    """Return what makes two versions' rules the same rule: field, operator (however it was
    written) and value."""
    try:
        op = operators.canonical_operator(rule.op)
    except operators.RuleValueError:
        op = rule.op
    return (rule.attribute, op, rule.value)


def _fit_changes(a: Definition, b: Definition) -> list[str]:
    """Return the fit rules added, removed or changed from a to b, by field and operator."""
    old_fit = {_fit_key(r): r for r in a.fit_rules}
    new_fit = {_fit_key(r): r for r in b.fit_rules}
    changes = []
    keys = old_fit.keys() | new_fit.keys()
    for key in sorted(
        keys, key=lambda k: fit_order(replace(new_fit.get(k) or old_fit[k], op=k[1]))
    ):
        old, new = old_fit.get(key), new_fit.get(key)
        label = f"fit rule {rule_name(new or old)}"  # type: ignore[arg-type]  # one is set
        if old is None and new is not None:
            added = "as disqualifier" if new.is_disqualifier else f"with {_fit_effect(new)}"
            changes.append(f"{label}: added {added}")
        elif new is None and old is not None:
            changes.append(f"{label}: removed (was {_fit_effect(old)})")
        elif old is not None and new is not None:
            if old.is_disqualifier != new.is_disqualifier:
                now = "now a disqualifier" if new.is_disqualifier else "no longer a disqualifier"
                changes.append(f"{label}: {now}")
            if old.points != new.points:
                changes.append(
                    f"{label}: points {number_text(old.points)} → {number_text(new.points)}"
                )
            if old.cap != new.cap:
                changes.append(f"{label}: {_cap_text(old.cap)} → {_cap_text(new.cap)}")
    return changes


def diff(a: Definition, b: Definition) -> list[str]:
    """Return the changes from a to b as readable lines (empty when they score the same way)."""
    changes = []
    if a.name != b.name:
        changes.append(f"name {a.name!r} → {b.name!r}")
    if a.effective_from and b.effective_from and a.effective_from != b.effective_from:
        changes.append(f"effective from {a.effective_from} → {b.effective_from}")
    if a.threshold != b.threshold:
        changes.append(f"threshold {number_text(a.threshold)} → {number_text(b.threshold)}")
    if a.half_life_days != b.half_life_days:
        changes.append(
            f"half-life {number_text(a.half_life_days)} → {number_text(b.half_life_days)} days"
        )

    changes += _fit_changes(a, b)

    old_behaviour = {r.event_type: r for r in a.behaviour_rules}
    new_behaviour = {r.event_type: r for r in b.behaviour_rules}
    for event_type in sorted(old_behaviour.keys() | new_behaviour.keys()):
        before, after = old_behaviour.get(event_type), new_behaviour.get(event_type)
        label = f"behaviour {event_type!r}"
        if before is None and after is not None:
            changes.append(
                f"{label} added with {number_text(after.points)} points, {_cap_text(after.cap)}"
            )
        elif after is None and before is not None:
            changes.append(
                f"{label} removed (was {number_text(before.points)} points, {_cap_text(before.cap)})"
            )
        elif before is not None and after is not None:
            if before.points != after.points:
                changes.append(
                    f"{label} points {number_text(before.points)} → {number_text(after.points)}"
                )
            if before.cap != after.cap:
                changes.append(
                    f"{label} cap {number_text(before.cap) if before.cap is not None else 'none'} → "
                    f"{number_text(after.cap) if after.cap is not None else 'none'}"
                )

    if a.note != b.note:
        changes.append(f"note {a.note!r} → {b.note!r}")
    return changes
