"""The checks a file's rows must pass, and the messages that name each problem.

Every row rule names one problem a user can fix (a required field empty, a date or number
that does not parse, a date in the future or implausibly old, a negative amount, a stage not
in the vocabulary); events and stage changes must name stored leads, and keyed rows must not
share a key. validate counts, in one pass over the staged rows, the rows behind every rule,
and only where a count is not zero looks the rows up, in file order, to report each problem
with its row and column (ImportProblems). The fast path (fast.py) flags the same rules while
staging; this is where a file it finds wrong is explained.
"""

from __future__ import annotations

import datetime as dt

import funnelcast.importer.sql as sql
from funnelcast.importer.fingerprints import Fingerprint
from funnelcast.importer.messages import Problem
from funnelcast.importer.plan import Plan
from funnelcast.importer.progress import Progress
from funnelcast.importer.sources import Source
from funnelcast.importer.tables import MAX_PROBLEMS, STAGES, ImportProblems

OLDEST = dt.date(1990, 1, 1)  # a date before this is a typo or an epoch/Excel zero date
FUTURE_SLACK = dt.timedelta(days=1)  # time zones: "today" somewhere may be tomorrow in UTC

# the kinds whose text may not parse (dates too: see row_rules)
_UNPARSED = ("integer", "amount", "stage", "content_stage")


def now_utc() -> dt.datetime:
    """Return the wall-clock time in UTC: the limit for 'in the future' (not for ages)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def limits(now: dt.datetime | None) -> dict[str, dt.datetime]:
    """Return the bounds a date must fall between: $latest (now and slack) and $oldest."""
    return {
        "latest": (now or now_utc()) + FUTURE_SLACK,
        "oldest": dt.datetime.combine(OLDEST, dt.time()),
    }


def row_rules(p: Plan) -> list[tuple[str, str, str]]:
    """Return (field, SQL condition, check) for every per-row check of a plan.

    Each runs as one count in the checking pass, and one query listing its rows when it
    finds any; the check names the rule in its Problem (messages.rule_text words it).
    """
    rules: list[tuple[str, str, str]] = []

    def rule(name: str, check: str) -> None:
        rules.append((name, sql.condition(check, name), check))

    targets = p.spec.name == "targets"
    for f in p.spec.fields:
        if f.required:
            rule(f.name, "missing")
        if f.kind in ("timestamp", "date"):
            rule(f.name, "unparsed")
            if not targets:  # a plan is for quarters to come
                rule(f.name, "future")
            rule(f.name, "old")
        elif f.kind in _UNPARSED:
            rule(f.name, "unparsed")
        if f.kind in ("integer", "amount"):
            rule(f.name, "not_positive" if targets else "negative")
    if targets:
        rule("target_customers", "no_target")
    return rules


def _detail(p: Plan, name: str, check: str, latest: dt.date) -> str:
    """Return what a row rule's message names beside the value: the date format given, the
    limit a date passed, or the stages."""
    if check == "future":
        return str(latest)
    if check == "old":
        return str(OLDEST)
    field = p.spec.field(name)
    if check == "unparsed" and field is not None and field.kind == "stage":
        return ", ".join(STAGES)
    if check == "unparsed":
        return str(p.params.get(f"format_{name}") or "")
    return ""


def validate(
    cur,
    p: Plan,
    source: Source,
    progress: Progress,
    *,
    now: dt.datetime | None = None,
    limit: int = MAX_PROBLEMS,
    fingerprint: bool = False,
) -> Fingerprint | None:
    """Check every row; ImportProblems lists what is wrong. Return the rows' fingerprint.

    One pass over the staged rows counts, for every rule at once, the rows that break it
    (FILTER counts), the rows whose lead is unknown and, when asked, the fingerprint of the
    rows as they would be stored. Only when a count is not zero are the rows behind it looked
    up, in file order. A keyed table's typed rows are then materialised in import_typed (its
    duplicate keys are checked there, and the write matches on them).
    """
    file = str(source.path)
    if source.rows == 0:
        raise ImportProblems(file, ["the file has a header but no data rows"])
    params = {**p.params, **limits(now), "limit": limit}
    rules = row_rules(p)
    rows_sql = p.rows_sql()
    conditions = [cond for _, cond, _ in rules]
    if p.spec.needs_leads:
        conditions.append(sql.unknown_lead("v_lead_id"))
    hashed = sql.value_names(p.typed) if fingerprint else None
    query = sql.counts(sql.of_rows(rows_sql), conditions, hashed)
    found_counts = list(progress.run(cur, query, sql.bind(query, params), "checking")[0])
    file_print = Fingerprint(*found_counts[-2:]) if fingerprint else None
    found: list[tuple[int, Problem]] = []
    total = 0

    def look_up(query: str) -> list[tuple]:
        """Return the rows of a query, with the parameters it uses."""
        return cur.execute(query, sql.bind(query, params)).fetchall()

    for (name, cond, check), count in zip(rules, found_counts):
        if not count:
            continue
        total += count
        option, column = p.sources[name]
        field = p.spec.field(name)
        kind = field.kind if field is not None else ""
        detail = _detail(p, name, check, params["latest"].date())
        for row, value in look_up(sql.breaking_rows(rows_sql, name, cond)):
            problem = Problem(
                "row", name, column, value, kind, option, row=row, check=check, text=detail
            )
            found.append((row, problem))
    if p.spec.needs_leads and found_counts[len(rules)]:
        total += found_counts[len(rules)]
        option, column = p.sources["lead_id"]
        for row, lead in look_up(sql.unknown_lead_rows(rows_sql)):
            found.append(
                (row, Problem("unknown_lead", "lead_id", column, lead, option=option, row=row))
            )
    if p.spec.key:
        query = sql.typed_table(rows_sql, p.typed, with_row=True)
        cur.execute(query, sql.bind(query, params))
        count = look_up(sql.count_repeated_rows(p.spec.key))[0][0]
        if count:
            total += count
            for rows, *key in look_up(sql.repeated_rows(p.spec.key)):
                shown = ", ".join(f"{k} {v!s}" for k, v in zip(p.spec.key, key))
                label = ", ".join(str(r) for r in rows[:5]) + (" …" if len(rows) > 5 else "")
                found.append((rows[0], Problem("duplicate_key", value=shown, rows=label)))
    if found:
        found.sort(key=lambda item: item[0])
        raise ImportProblems(file, [problem for _, problem in found[:limit]], total)
    return file_print
