"""Lead field values as arrays, and a definition's fit rules evaluated on them.

FieldValues holds one field's values for a list of leads, as queries/shared.sql's
lead_field_values view holds them (text fields as codes into their distinct values; numbers,
dates as epoch seconds and yes/no as 1/0, as floats with NaN for unknown). fit_of evaluates
fit rules on them exactly as the SQL does (fit_rule_matches and fit_rule_points): the points
of every matching rule are summed, `per unit` gives points times the value up to its cap, and
a matching disqualifier disqualifies. The suggested-weights model (analytics.suggest) and the
Threshold Lab (lab.weights) both score through it.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from funnelcast.definitions import operators
from funnelcast.definitions.model import FitRule


@dataclass(frozen=True)
class FieldValues:
    """One field's values for the leads, by lead row.

    known: whether the lead has a value. Text fields: codes (index into texts, -1 unknown) and
    texts, the field's distinct values sorted; other types: numbers (NaN unknown; dates as epoch
    seconds, yes/no as 1/0).
    """

    name: str
    field_type: str
    known: np.ndarray
    numbers: np.ndarray | None = None
    codes: np.ndarray | None = None
    texts: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        """Return the bytes its arrays hold (texts counted by their characters)."""
        arrays = (self.known, self.numbers, self.codes)
        text = sum(len(str(t)) for t in self.texts) if self.texts is not None else 0
        return sum(a.nbytes for a in arrays if a is not None) + text


def field_values(
    values: pl.DataFrame, fields: dict[str, str], n_leads: int
) -> dict[str, FieldValues]:
    """Return each field's FieldValues from long rows (lead_key: the lead's row, field,
    text_value, number_value), as lead_field_values holds them; a field no lead has a value
    for is all unknown."""
    by_field = {
        str(key[0]): part for key, part in values.partition_by("field", as_dict=True).items()
    }
    return {
        name: one_field(name, field_type, by_field.get(name), n_leads)
        for name, field_type in fields.items()
    }


def one_field(name: str, field_type: str, part: pl.DataFrame | None, n_leads: int) -> FieldValues:
    """Return one field's FieldValues from its rows (lead_key, text_value, number_value; None
    or no rows: no lead has a value)."""
    known = np.zeros(n_leads, dtype=bool)
    if part is None:
        part = pl.DataFrame(
            {"lead_key": [], "text_value": [], "number_value": []},
            schema={"lead_key": pl.Int64, "text_value": pl.String, "number_value": pl.Float64},
        )
    keys = part["lead_key"].to_numpy()
    known[keys] = True
    if field_type == operators.TEXT:
        texts = part["text_value"].drop_nulls().unique().sort()
        codes = np.full(n_leads, -1, dtype=np.int32)
        coded = part.select(
            "lead_key",
            pl.col("text_value").replace_strict(
                texts, pl.int_range(texts.len(), eager=True), default=-1, return_dtype=pl.Int32
            ),
        )
        codes[coded["lead_key"].to_numpy()] = coded["text_value"].to_numpy()
        known &= codes >= 0
        return FieldValues(
            name, field_type, known, codes=codes, texts=texts.to_numpy().astype(object)
        )
    numbers = np.full(n_leads, np.nan)
    numbers[keys] = part["number_value"].cast(pl.Float64).to_numpy()
    known &= ~np.isnan(numbers)
    return FieldValues(name, field_type, known, numbers=numbers)


def rule_hits(
    compiled: operators.Compiled, values: FieldValues, created_s: np.ndarray | None
) -> np.ndarray:
    """Return per lead whether a compiled rule matches its value of the field."""
    if values.field_type == operators.TEXT and compiled.operator not in (
        operators.KNOWN,
        operators.UNKNOWN,
    ):
        assert values.codes is not None and values.texts is not None
        by_code = operators.text_matches(compiled, values.texts)
        return values.known & np.append(by_code, False)[values.codes]
    return operators.matches(
        compiled, numbers=values.numbers, known=values.known, created_s=created_s
    )


def fit_of(
    rules: Iterable[FitRule],
    values: dict[str, FieldValues],
    created_s: np.ndarray | None,
    n_leads: int,
    hits: MutableMapping[tuple, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return per lead the fit points of normalised rules and whether a rule disqualifies it
    (created_s: creation in epoch seconds, for `within`); values holds each rule's field.

    hits: where each rule's matches are kept by what it matches (FitRule.key, not its points),
    so that a change of points alone matches nothing again (the Threshold Lab passes one)."""
    fit = np.zeros(n_leads)
    disqualified = np.zeros(n_leads, dtype=bool)
    for rule in rules:
        field = values[rule.attribute]
        hit = hits.get(rule.key) if hits is not None else None
        if hit is None:
            compiled = operators.compile_rule(field.field_type, rule.op, rule.value)
            hit = rule_hits(compiled, field, created_s)
            if hits is not None:
                hit.flags.writeable = False
                hits[rule.key] = hit
        if rule.is_disqualifier:
            disqualified |= hit
        elif rule.op == operators.PER_UNIT:
            assert field.numbers is not None
            gained = np.where(hit, field.numbers, 0.0)
            gained *= rule.points
            fit += gained if rule.cap is None else np.minimum(gained, rule.cap, out=gained)
        elif rule.points:
            # a multiply-add: a sixth of the time of np.add(..., where=hit)
            fit += hit * float(rule.points)
    return fit, disqualified
