"""A definition's points compiled against a history, and the micro-points scores compare in.

A weight or fit-point change starts here: compile_weights lays a definition's rules out per
event type (reward, capped reward, penalty, nothing) and per lead (fit points, -inf when
disqualified), as the compiled loops read them (Weights.arrays). A lead's fit is the same for
every weight change, so the last few rule sets' are kept on the history. `is` rules on the six
materialised persona fields add up through per-code tables in one compiled pass; any other
rule (any operator, any field: lab.fields) is evaluated on the field's values as the SQL does
(definitions.values.fit_of).

Scores are compared in integer micro-points: DuckDB's round(x, 6) is round-half-away(x * 1e6)
/ 1e6, so round(x, 6) >= T exactly when that integer reaches `threshold_micro(T)`.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from funnelcast.analytics import metrics
from funnelcast.definitions import Definition, FitRule, operators
from funnelcast.definitions.validation import normalised_rule
from funnelcast.definitions.values import FieldValues, fit_of
from funnelcast.lab import _fast
from funnelcast.lab._fast import BIAS
from funnelcast.lab.fields import FieldNotLoaded, coded_values, created_values
from funnelcast.lab.history import FIT_ATTRIBUTES, Materialised, Rematerialise

FIT_CACHE_SIZE = 4


@dataclass(frozen=True, eq=False)
class Weights:
    """A definition compiled against a materialisation: per-lead fit, per-type points and caps
    (the tuple the compiled loops read is `arrays`)."""

    fit_points: np.ndarray  # per lead: fit points, -inf when disqualified
    is_disqualified: np.ndarray  # per lead
    kind: np.ndarray  # per type: lab._fast.NO_SCORE, REWARD, CAPPED or PENALTY
    points: np.ndarray  # per type
    slot: np.ndarray  # per type: its place among the capped types (-1: not capped)
    cap_over_points: np.ndarray  # per capped type: min(cap, p * d) = p * min(cap / p, d)
    capped_points: np.ndarray  # per capped type

    @functools.cached_property
    def arrays(self) -> tuple:
        """Return the arrays the compiled loops read, in their order: these, then per type
        the points of rewards and of penalties (0 for the other kinds), then the caps and
        capped points padded with zeros to lab._fast.VECTOR_SLOTS slots (made once: who moves
        scores a few leads again on every threshold move)."""
        return (
            self.fit_points,
            self.kind,
            self.points,
            self.slot,
            self.cap_over_points,
            self.capped_points,
            np.where(self.kind == _fast.REWARD, self.points, 0.0),
            np.where(self.kind == _fast.PENALTY, self.points, 0.0),
            _padded(self.cap_over_points),
            _padded(self.capped_points),
        )


def _padded(values: np.ndarray) -> np.ndarray:
    """Return values with zeros after them, to at least lab._fast.VECTOR_SLOTS of them."""
    out = np.zeros(max(len(values), _fast.VECTOR_SLOTS))
    out[: len(values)] = values
    return out


def compile_weights(m: Materialised, definition: Definition) -> Weights:
    """Return a definition's points laid out for scoring; Rematerialise if m cannot score it."""
    if definition.half_life_days != m.half_life_days:
        raise Rematerialise(
            f"the sums are materialised for a {m.half_life_days:g}-day half-life, "
            f"not {definition.half_life_days:g}"
        )
    index = {t: i for i, t in enumerate(m.event_types)}
    kind = np.full(len(m.event_types), _fast.NO_SCORE, dtype=np.int8)
    points = np.zeros(len(m.event_types))
    slot = np.full(len(m.event_types), -1, dtype=np.int64)
    caps: list[tuple[float, float]] = []
    for rule in definition.behaviour_rules:
        i = index.get(rule.event_type)
        if i is None:
            raise Rematerialise(f"event type {rule.event_type!r} is not materialised")
        points[i] = rule.points
        if rule.points < 0:
            kind[i] = _fast.PENALTY
        elif rule.points > 0 and rule.cap is not None:
            kind[i] = _fast.CAPPED
            slot[i] = len(caps)
            caps.append((rule.cap / rule.points, rule.points))
        elif rule.points > 0:
            kind[i] = _fast.REWARD
    capped = np.array(caps, dtype=np.float64).reshape(len(caps), 2)
    fit, disqualified = _fit(m, definition.fit_rules)
    return Weights(
        fit_points=fit,
        is_disqualified=disqualified,
        kind=kind,
        points=points,
        slot=slot,
        cap_over_points=capped[:, 0].copy(),
        capped_points=capped[:, 1].copy(),
    )


def _fit(m: Materialised, rules: tuple[FitRule, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Return per lead the fit points of these rules (-inf when disqualified) and whether
    disqualified; the last few rule sets' are kept on m (read-only arrays, shared)."""
    key = tuple(rules)
    cached = m.fit_cache.get(key)
    if cached is not None:
        return cached
    coded = [r for r in rules if r.attribute in FIT_ATTRIBUTES and r.op == operators.IS]
    others = [r for r in rules if not (r.attribute in FIT_ATTRIBUTES and r.op == operators.IS)]
    fit = np.empty(m.n_leads)
    disqualified = np.empty(m.n_leads, dtype=bool)
    tables = {a: np.zeros(len(m.values[a]) + 1) for a in FIT_ATTRIBUTES}
    disqualifying = {a: np.zeros(len(m.values[a]) + 1, dtype=bool) for a in FIT_ATTRIBUTES}
    for fit_rule in coded:
        known = m.values.get(fit_rule.attribute, ())
        # a rule on a value no lead has matches nobody
        if fit_rule.value in known:
            code = known.index(fit_rule.value)
            tables[fit_rule.attribute][code] += fit_rule.points
            disqualifying[fit_rule.attribute][code] |= bool(fit_rule.is_disqualifier)
    # one pass over the leads; an attribute no rule names adds 0.0, which changes no sum
    parts = tuple((np.asarray(m.codes[a]), tables[a], disqualifying[a]) for a in FIT_ATTRIBUTES)
    _fast.fit_points(parts, fit, disqualified)
    if others:
        types = m.field_store.types
        values = fit_values(m, {r.attribute for r in others})
        read = [
            normalised_rule(r, {**types, **{k: v.field_type for k, v in values.items()}})
            for r in others
        ]
        # creation in seconds only for a `within` rule (a million-value array each rescore)
        created_s = m.created_us / 1e6 if any(r.op == operators.WITHIN for r in read) else None
        extra, ruled_out = fit_of(read, values, created_s, m.n_leads, m.field_store.kept_hits())
        disqualified |= ruled_out
        fit += extra
        fit[disqualified] = -np.inf
    fit.flags.writeable = False
    disqualified.flags.writeable = False
    # several sessions may add at once: a dict's single operations are atomic under the GIL
    if len(m.fit_cache) >= FIT_CACHE_SIZE:
        try:
            m.fit_cache.pop(next(iter(m.fit_cache)), None)
        except (RuntimeError, StopIteration):  # another session changed it meanwhile
            pass
    m.fit_cache[key] = (fit, disqualified)
    return fit, disqualified


def fit_values(m: Materialised, names: set[str]) -> dict[str, FieldValues]:
    """Return the named fields' values per lead: the persona fields from their codes,
    created_at from the creation moments, any other from the history's field store
    (FieldNotLoaded when lab.load_fields has not read it)."""
    out = {}
    for name in sorted(names):
        if name in FIT_ATTRIBUTES:
            out[name] = coded_values(name, m.codes[name], m.values[name])
        elif name == "created_at":
            out[name] = created_values(m.created_us)
        elif name in m.field_store.values:
            out[name] = m.field_store.values[name]
        elif m.field_store.types and name not in m.field_store.types:
            raise FieldNotLoaded(f"no lead field or custom attribute is called {name!r}")
        else:
            raise FieldNotLoaded(
                f"the field {name!r} is not read for the Lab: lab.load_fields reads it"
            )
    return out


def micro(x: np.ndarray) -> np.ndarray:
    """Return scores as integer micro-points, rounded as DuckDB's round(x, 6) rounds them.

    That is half away from zero; -inf and anything beyond +-2^43 clip to the key's range.
    """
    y = np.asarray(x, dtype=np.float64) * 1e6
    rounded = np.rint(y)
    with np.errstate(invalid="ignore"):  # -inf, a disqualified lead's score, has no fraction
        tie = np.abs(y - np.trunc(y)) == 0.5  # rint rounds a tie to even, DuckDB away from 0
    rounded[tie] = np.trunc(y[tie]) + np.sign(y[tie])
    return np.clip(rounded, -BIAS, BIAS - 1).astype(np.int64)


def threshold_micro(threshold: float) -> int:
    """Return the least micro-point score s with s / 1e6 >= threshold, as the SQL compares."""
    if not (
        isinstance(threshold, numbers.Real)
        and not isinstance(threshold, bool)
        and math.isfinite(threshold)
        and threshold >= 0
    ):
        raise metrics.MetricsInputError(f"threshold must be a number >= 0, not {threshold!r}")
    threshold = float(threshold)
    s = min(math.ceil(threshold * 1e6), BIAS - 1)
    while s > -BIAS and (s - 1) / 1e6 >= threshold:
        s -= 1
    while s < BIAS - 1 and s / 1e6 < threshold:
        s += 1
    return s
