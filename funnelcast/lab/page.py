"""What the Threshold Lab page shows, without Streamlit: the widget values of a draft, the draft
they make, the candidate-versus-current table, who moves, a score explained, and safe CSV.

The numbers come from funnelcast.lab (the fast engine) and funnelcast.definitions; this module
turns widget values into a Definition and engine results into rows a page can show.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from funnelcast import definitions
from funnelcast.analytics import suggest
from funnelcast.analytics.overview import is_complete
from funnelcast.core import formats, spreadsheet
from funnelcast.core.currency import Currency
from funnelcast.core.spreadsheet import csv_safe  # noqa: F401  (the page's downloads use it)
from funnelcast.data.context import DataContext
from funnelcast.definitions import BehaviourRule, Definition, FitRule
from funnelcast.lab import rule_editor
from funnelcast.lab._fast import BIAS, NEVER
from funnelcast.lab.explain import lead_checks
from funnelcast.lab.history import FIT_ATTRIBUTES, Materialised
from funnelcast.lab.scores import Scores
from funnelcast.lab.thresholds import Backtest
from funnelcast.lab.weights import micro, threshold_micro

# Widget keys: explicit, so tests can move them and "use as draft" can set them.
THRESHOLD_KEY = "lab_threshold"
HALF_LIFE_KEY = "lab_half_life"
QUARTERS_KEY = "lab_quarters"
CAPACITY_KEY = "lab_capacity"
LEAD_KEY = "lab_lead"
NAME_KEY = "lab_name"
DEFAULT_QUARTERS = 4
DEFAULT_CAPACITY = 50.0


def behaviour_key(event_type: str, what: str) -> str:
    """Return the widget key of a behaviour rule's points ('points') or cap ('cap')."""
    return f"lab_behaviour_{what}_{event_type}"


def fit_key(rule: FitRule, what: str) -> str:
    """Return the widget key of a fit rule's points ('points') or disqualifier flag ('dq')."""
    if rule.op == "is" and isinstance(rule.value, str):
        return f"lab_fit_{what}_{rule.attribute}={rule.value}"
    # one field may hold several rules of other operators: the key names the operator too
    return f"lab_fit_{what}_{rule.attribute}|{rule.op}|{rule.value!r}"


def default_quarters(ctx: DataContext, n: int = DEFAULT_QUARTERS) -> list[str]:
    """Return the labels of the last n complete quarters (the last n quarters if none is)."""
    complete = [q.label for q in ctx.quarters if is_complete(q, ctx.as_of)]
    return (complete or [q.label for q in ctx.quarters])[-n:]


def widget_values(definition: Definition) -> dict[str, Any]:
    """Return the value of every input that edits a definition, by widget key."""
    values: dict[str, Any] = {
        THRESHOLD_KEY: float(definition.threshold),
        HALF_LIFE_KEY: float(definition.half_life_days),
        NAME_KEY: definition.name,
    }
    for rule in definition.behaviour_rules:
        values[behaviour_key(rule.event_type, "points")] = float(rule.points)
        values[behaviour_key(rule.event_type, "cap")] = (
            None if rule.cap is None else float(rule.cap)
        )
    for fit_rule in definition.fit_rules:
        values[fit_key(fit_rule, "points")] = float(fit_rule.points)
        values[fit_key(fit_rule, "dq")] = bool(fit_rule.is_disqualifier)
    return values


def draft_from(base: Definition, values: Mapping[str, Any]) -> Definition:
    """Return the draft the inputs describe: base's rules with the points, caps and flags set."""

    def get(key: str, default: Any) -> Any:
        return values[key] if key in values else default

    behaviour = tuple(
        BehaviourRule(
            rule.event_type,
            get(behaviour_key(rule.event_type, "points"), rule.points),
            get(behaviour_key(rule.event_type, "cap"), rule.cap),
        )
        for rule in base.behaviour_rules
    )
    fit = tuple(
        replace(
            rule,
            points=get(fit_key(rule, "points"), rule.points),
            is_disqualifier=bool(get(fit_key(rule, "dq"), rule.is_disqualifier)),
        )
        for rule in base.fit_rules
    )
    return definitions.new_version_from(
        replace(
            base,
            name=str(get(NAME_KEY, base.name)).strip(),
            threshold=get(THRESHOLD_KEY, base.threshold),
            half_life_days=get(HALF_LIFE_KEY, base.half_life_days),
            fit_rules=fit,
            behaviour_rules=behaviour,
        )
    )


def definition_from_suggestion(draft: Definition, current: Definition) -> Definition:
    """Return the suggestion's draft as an unsaved Definition named after the current one."""
    return definitions.new_version_from(
        replace(
            draft,
            name=f"{current.name} (suggested)",
            note="Suggested weights (funnelcast.suggest), edited in the Threshold Lab",
        )
    )


def is_scorable(draft: Definition, fields: Mapping[str, str] | None = None) -> bool:
    """Return whether the engine can score the draft as it stands (no errors in it)."""
    try:
        definitions.validate(draft, fields)
    except definitions.DefinitionError:
        return False
    return True


def top_score(scores: Scores) -> float | None:
    """Return the highest score any lead ever reached (None: every lead is disqualified)."""
    best = int(scores.lead_max.max(initial=-BIAS))
    return best / 1e6 if best > -BIAS else None


def no_lead_reaches(scores: Scores, threshold: float) -> bool:
    """Return whether no lead's score ever reaches the threshold."""
    return int(scores.lead_max.max(initial=-BIAS)) < threshold_micro(threshold)


def slider_max(scores: Scores, *thresholds: float) -> float:
    """Return the slider's top: past the best lead's score and the thresholds in play."""
    top = max([top_score(scores) or 0.0, *thresholds, 50.0])
    return float(min(definitions.MAX_THRESHOLD, math.ceil(top * 1.2 / 10) * 10))


# ===== candidate next to current =====


def _rate(value: dict[str, Any]) -> str:
    """Return a rate with its n: '23.4% (45 of 192)'."""
    return f"{formats.share(value['value'])} ({value['successes']:,} of {value['n']:,})"


def _days(value: float | None) -> str:
    """Return a number of days, or a dash."""
    return formats.DASH if value is None else f"{value:,.0f} days"


def comparison_rows(candidate: Backtest, current: Backtest, currency: Currency) -> pl.DataFrame:
    """Return the figures the page compares, one row each: figure, candidate, current (costs in
    the database's currency)."""
    rows = []
    for name, fmt in (
        ("MQLs", lambda t: formats.count(t["mqls"])),
        ("Precision: MQL → SQL", lambda t: _rate(t["mql_to_sql"])),
        ("Precision: MQL → customer", lambda t: _rate(t["mql_to_customer"])),
        ("Capture: SQLs that were MQL first", lambda t: _rate(t["sql_capture"])),
        ("… days earlier (median)", lambda t: _days(t["sql_days_earlier_median"])),
        ("Capture: customers that were MQL first", lambda t: _rate(t["customer_capture"])),
        ("… days earlier (median)", lambda t: _days(t["customer_days_earlier_median"])),
        ("Cost per MQL", lambda t: formats.money(t["cost_per_mql"], currency)),
        ("MQLs per week (mean)", lambda t: _per_week(t["mqls_per_week"])),
        ("Busiest week", lambda t: formats.count(t["peak_week_mqls"])),
        ("Weeks over sales capacity", over_capacity),
    ):
        rows.append((name, fmt(candidate.totals), fmt(current.totals)))
    return pl.DataFrame(rows, schema=["figure", "candidate", "current"], orient="row")


def _per_week(value: float | None) -> str:
    """Return MQLs per week with one decimal, or a dash."""
    return formats.DASH if value is None else f"{value:,.1f}"


def over_capacity(totals: dict[str, Any]) -> str:
    """Return how many whole weeks were over capacity, of how many."""
    if totals["weeks_over_capacity"] is None:
        return formats.DASH
    return f"{totals['weeks_over_capacity']} of {totals['weeks']}"


def per_quarter(candidate: Backtest, current: Backtest) -> pl.DataFrame:
    """Return MQLs, precision and capture per chosen quarter, candidate beside current."""

    def shares(frame: pl.DataFrame, suffix: str) -> pl.DataFrame:
        return frame.select(
            "quarter",
            pl.col("mqls").alias(f"mqls_{suffix}"),
            (pl.col("mqls_reached_sql") / pl.col("mqls")).alias(f"mql_to_sql_{suffix}") * 100,
            (pl.col("sqls_captured") / pl.col("sqls")).alias(f"sql_capture_{suffix}") * 100,
            pl.col("cost_per_mql").alias(f"cost_per_mql_{suffix}"),
        ).fill_nan(None)

    return (
        shares(candidate.quarters, "candidate")
        .join(shares(current.quarters, "current"), on="quarter", how="left")
        .with_columns(candidate.quarters["is_mature"].alias("is_mature"))
    )


class Card(NamedTuple):
    """One headline figure of the draft, with its change from the current definition."""

    label: str
    value: str
    delta: str | None
    delta_color: str
    note: str


def headline(candidate: Backtest, current: Backtest, currency: Currency) -> list[Card]:
    """Return the draft's headline figures on the chosen quarters, each beside the current's
    (costs in the database's currency)."""
    c, b = candidate.totals, current.totals
    change = c["mqls"] - b["mqls"]
    per_week = formats.DASH if c["mqls_per_week"] is None else f"{c['mqls_per_week']:,.1f}"
    capacity = c["sales_capacity_per_week"]
    return [
        Card(
            "MQLs",
            formats.count(c["mqls"]),
            f"{change:+,} vs current" if change else None,
            "normal",
            f"current: {formats.count(b['mqls'])}",
        ),
        Card(
            "MQL → SQL",
            formats.share(c["mql_to_sql"]["value"]),
            None,
            "normal",
            f"current: {formats.share(b['mql_to_sql']['value'])}",
        ),
        Card(
            "SQLs caught as MQL",
            formats.share(c["sql_capture"]["value"]),
            None,
            "normal",
            f"current: {formats.share(b['sql_capture']['value'])}",
        ),
        Card(
            "Cost per MQL",
            formats.money(c["cost_per_mql"], currency),
            None,
            "inverse",
            f"current: {formats.money(b['cost_per_mql'], currency)}",
        ),
        Card(
            "MQLs per week",
            per_week,
            None,
            "off",
            "no capacity given"
            if capacity is None
            else f"capacity {capacity:g} · {over_capacity(c)} weeks over",
        ),
    ]


def suggestion_scores(suggestion: suggest.Suggestion) -> list[tuple[str, str, str]]:
    """Return (score, held-out AUC, top-decile lift) for the model, its draft and the current."""
    top = suggestion.lift.filter(pl.col("decile") == 1)
    lift = dict(zip(top["score"].to_list(), top["lift"].to_list()))
    out = []
    for label, key in (("Model", "model"), ("Its draft", "draft"), ("Current", "current")):
        auc = suggestion.auc.get(key)
        out.append(
            (
                label,
                formats.DASH if auc is None else f"{auc:.3f}",
                formats.DASH if lift.get(key) is None else f"{lift[key]:.1f}×",
            )
        )
    return out


# ===== who moves =====


def moves_by_group(by_group: pl.DataFrame, dimension: str) -> pl.DataFrame:
    """Return one dimension's rows of who_moves' by_group, most movement first."""
    return (
        by_group.filter(pl.col("dimension") == dimension)
        .drop("dimension")
        .sort(pl.col("entering") + pl.col("leaving"), "value", descending=[True, False])
    )


def movers_csv(frame: pl.DataFrame) -> bytes:
    """Return every mover as CSV bytes, formula-looking cells neutralised."""
    return spreadsheet.write_csv(frame)


# ===== explain a score =====


def explain_moment(
    m: Materialised, scores: Scores, lead_id: str, threshold: float
) -> tuple[dt.datetime, float, bool]:
    """Return the moment to explain a lead's score at, the engine's score then, and whether
    the lead became an MQL: its MQL moment under the draft, else its latest check.

    FunnelcastError when there is no such lead.
    """
    lead = m.lead_index(lead_id)
    checks, x = lead_checks(m, scores.weights, lead)
    reached = np.flatnonzero(micro(x) >= threshold_micro(threshold))
    i = int(reached[0]) if len(reached) else len(checks) - 1
    at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(checks[i]))
    return at, float(x[i]), bool(len(reached))


def explanation_total(rows: pl.DataFrame) -> float:
    """Return what an explanation's rows add up to: the lead's score (before rounding)."""
    return float(rows["points"].sum()) if rows.height else 0.0


# ===== versions =====


def diff_lines(current: Definition, draft: Definition) -> list[str]:
    """Return the draft's changes against the current version, as readable lines."""
    return definitions.diff(new_version_from_current(current), draft)


# Why the Save button is off while the draft is the current definition.
UNCHANGED = "The draft is the current definition: change a rule, weight or the threshold to save"


def rule_lines(definition: Definition) -> list[str]:
    """Return a definition's threshold and half-life, its behaviour points, fit points and
    disqualifiers as one short line each (none for a kind it has no rule of), for reading while
    the engine gets ready."""
    behaviour = [
        f"{r.event_type} {r.points:+g}" + ("" if r.cap is None else f" (at most {r.cap:g})")
        for r in definition.behaviour_rules
    ]
    fit = [f"{r.label} {r.points:+g}" for r in definition.fit_rules if not r.is_disqualifier]
    out = [f"{r.label}" for r in definition.fit_rules if r.is_disqualifier]
    lines = [
        f"Threshold {definition.threshold:g} points; behaviour points halve every "
        f"{definition.half_life_days:g} days"
    ]
    for name, parts in (("Per event", behaviour), ("Fit", fit), ("Disqualified", out)):
        if parts:
            lines.append(f"{name}: " + " · ".join(parts))
    return lines


def mqls_by_quarter(funnel: pl.DataFrame, quarters: list[str]) -> pl.DataFrame:
    """Return MQLs and those reaching SQL per chosen quarter, all channels together, from
    metrics.funnel_by_quarter's rows (the SQL's count under the definitions in force)."""
    return (
        funnel.filter(pl.col("quarter").is_in(quarters))
        .group_by("quarter")
        .agg(
            pl.col("count_mqls").sum().alias("mqls"),
            pl.col("count_mqls_reached_sql").sum().alias("reached_sql"),
        )
        .sort("quarter")
    )


def new_version_from_current(current: Definition) -> Definition:
    """Return the current version as an unsaved draft (what the page starts from)."""
    return definitions.new_version_from(current)


def versions_text(spans: list) -> str:
    """Return which versions judge which quarters, for a caption: spans from
    versions_in_force."""
    if not spans:
        return "no definition is in force"
    if len(spans) == 1:
        d = spans[0][0]
        return f"**{d.name}**, version {d.definition_id}, threshold {d.threshold:g}, throughout"
    parts = []
    for d, (since, until) in spans:
        start = "" if since == -NEVER else _day(since).isoformat()
        end = "" if until == NEVER else _day(until).isoformat()
        span = (
            f"from {start}"
            if not end
            else (f"before {end}" if not start else f"from {start}, before {end}")
        )
        parts.append(f"**{d.name}** (v{d.definition_id}, threshold {d.threshold:g}) {span}")
    return "each quarter by the version in force then: " + "; ".join(parts)


def _day(us: int) -> dt.date:
    """Return the day of a moment in microseconds since the epoch."""
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))).date()


# ===== adding and removing rules of the draft =====


def with_fit_rule(base: Definition, values: Mapping[str, Any], rule: FitRule) -> Definition:
    """Return the draft the inputs describe with one more fit rule (any field and operator,
    as lab.rule_editor makes it); DefinitionError when the draft has that rule already."""
    return rule_editor.with_rule(draft_from(base, values), rule)


def without_fit_rule(base: Definition, values: Mapping[str, Any], key: tuple) -> Definition:
    """Return the draft the inputs describe without the fit rule whose FitRule.key is key."""
    return rule_editor.without_rule(draft_from(base, values), key)


def with_behaviour_rule(
    base: Definition, values: Mapping[str, Any], rule: BehaviourRule
) -> Definition:
    """Return the draft the inputs describe scoring one more event type; DefinitionError when
    the type already scores."""
    draft = draft_from(base, values)
    if not str(rule.event_type).strip():
        raise definitions.DefinitionError("choose the event type the rule scores")
    if any(r.event_type == rule.event_type for r in draft.behaviour_rules):
        raise definitions.DefinitionError(
            f"{rule.event_type} already scores: change its points instead"
        )
    return replace(draft, behaviour_rules=(*draft.behaviour_rules, rule))


def without_behaviour_rule(
    base: Definition, values: Mapping[str, Any], event_type: str
) -> Definition:
    """Return the draft the inputs describe without the rule scoring event_type."""
    draft = draft_from(base, values)
    return replace(
        draft, behaviour_rules=tuple(r for r in draft.behaviour_rules if r.event_type != event_type)
    )


def rule_choices(vocabulary: pl.DataFrame, draft: Definition) -> dict[str, list[str]]:
    """Return what a new rule can match, from scoring_vocabulary.sql's rows: per fit attribute
    the values the data holds without a rule yet, most common first; under 'event_type' the
    event types that do not score yet."""
    taken = {(r.attribute, r.value) for r in draft.fit_rules}
    taken |= {("event_type", r.event_type) for r in draft.behaviour_rules}
    choices: dict[str, list[str]] = {a: [] for a in (*FIT_ATTRIBUTES, "event_type")}
    rows = vocabulary.sort(["occurrences", "value"], descending=[True, False])
    for attribute, value in rows.select("attribute", "value").iter_rows():
        if attribute in choices and (attribute, value) not in taken:
            choices[attribute].append(value)
    return choices
