"""The same word counted two ways: the names the pages give their counts so that two counts of
"MQLs" or "customers" never share a label, the one-line note beside each, and the "why does this
differ from Overview?" explanations with both figures side by side.

Nothing here computes a figure: every number comes from a result the pages already hold
(funnelcast.analytics.metrics for the Overview and Data, funnel.report, handoff.report).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from funnelcast.core import formats


class Difference(NamedTuple):
    """Why a page's count differs from the Overview's: a plain summary, the two countings side
    by side (rows of what, the Overview's figure, this page's figure) and what each counts."""

    summary: str
    headings: tuple[str, str, str]
    rows: list[tuple[str, str, str]]
    meanings: list[str]


def period(quarter: str | None) -> str:
    """Return how a label names its period: 'in 2026Q3', or 'in all history'."""
    return f"in {quarter}" if quarter else "in all history"


def overview_labels(quarter: str | None) -> dict[str, str]:
    """Return the Overview's card label per KPI key whose counting another page differs on."""
    return {
        "mqls": f"MQLs {period(quarter)}",
        "sqls": f"SQLs {period(quarter)}",
        "customers": f"Customers won {period(quarter)}",
        "mql_to_customer": f"MQL → customer, MQLs {period(quarter)}",
    }


OVERVIEW_NOTES = {
    "mqls": "leads whose first MQL fell in the period, whenever they were created",
    "customers": "deals closed in the period, whichever quarter their MQL came from",
}


def _share(successes: int, n: int) -> str:
    """Return successes of n as a share with one decimal, or a dash for no cases."""
    return formats.share(successes / n if n else None)


def overview_funnel(result: dict[str, Any], quarter: str | None) -> tuple[str, str]:
    """Return the Overview funnel chart's title and the line beside it, which tells the chart's
    customers (of the period's MQLs) from the card's (won in the period)."""
    mqls = result["rates"]["mql_to_sal"]["n"]
    from_cohort = result["rates"]["mql_to_customer"]["successes"]
    title = f"Where the {formats.count(mqls)} MQLs {period(quarter)} went"
    note = (
        f"The funnel follows the {formats.count(mqls)} MQLs {period(quarter)}: "
        f"{formats.count(from_cohort)} of them are customers so far. The "
        f"{formats.count(result['customers'])} customers won {period(quarter)} on the card "
        "count every deal closed in the period, mostly from earlier quarters' MQLs."
    )
    return title, note


def funnel_vs_overview(
    overview_result: dict[str, Any], view: dict[str, Any], quarter: str | None
) -> Difference:
    """Return why the Funnel page's MQLs and customers (leads created in the period) differ
    from the Overview's (MQLs and deals in the period); view is funnel.report's "funnel"."""
    counts = {step["stage"]: step["count"] for step in view["steps"]}
    when = period(quarter)
    rows = [
        ("MQLs", formats.count(overview_result["mqls"]), formats.count(counts["mql"])),
        (
            "Customers",
            formats.count(overview_result["customers"]),
            formats.count(counts["customer"]),
        ),
    ]
    return Difference(
        summary=f"Of the {formats.count(counts['leads'])} leads created {when}, "
        f"{formats.count(counts['mql'])} became MQLs and {formats.count(counts['customer'])} "
        f"customers so far: **MQLs from leads created {when}**, not the Overview's "
        f"{formats.count(overview_result['mqls'])} MQLs {when}.",
        headings=("", f"Overview: {when}", f"Funnel: from leads created {when}"),
        rows=rows,
        meanings=[
            f"**Overview** counts what happened {when}: leads whose first MQL fell in it "
            "(many were created earlier) and deals won in it (most from older leads).",
            f"**Funnel** counts the leads created {when} and how far each has got so far, "
            "whenever it got there; young leads are still on their way"
            + (
                f", and {formats.count(view['mql_skipped'])} of its MQLs went to sales "
                "without a recorded MQL."
                if view["mql_skipped"]
                else "."
            ),
            "Each is right by its own counting; neither figure is changed.",
        ],
    )


def handoff_vs_overview(
    overview_result: dict[str, Any], handoffs: dict[str, Any], quarter: str | None
) -> Difference:
    """Return why the Handoff page's hand-offs (every recorded MQL) outnumber the Overview's
    MQLs (each lead's first MQL)."""
    mqls, count = overview_result["mqls"], handoffs["handoffs"]
    when = period(quarter)
    again = count - mqls
    return Difference(
        summary=f"{formats.count(count)} hand-offs {when} against the Overview's "
        f"{formats.count(mqls)} MQLs {when}: "
        + (
            f"{formats.count(again)} hand-offs were leads handed to sales again "
            "(rejected, recycled and back as MQL)."
            if again > 0
            else "every hand-off was a lead's first MQL."
        ),
        headings=("", f"Overview: {when}", f"Handoff: {when}"),
        rows=[("MQLs handed to sales", formats.count(mqls), formats.count(count))],
        meanings=[
            f"**Overview** counts each lead once, in the period of its first MQL {when}.",
            "**Handoff** counts every recorded MQL: a recycled lead that comes back as MQL is "
            "handed over, and answered by sales, once more.",
            "Each is right by its own counting; neither figure is changed.",
        ],
    )


def data_vs_overview(
    all_history: dict[str, Any], overview_result: dict[str, Any], quarter: str | None
) -> Difference:
    """Return why the Data page's MQL → customer (all history) differs from the Overview's
    (the quarter's MQLs so far)."""
    everything = all_history["rates"]["mql_to_customer"]
    recent = overview_result["rates"]["mql_to_customer"]
    when = period(quarter)

    def cell(rate: dict[str, Any]) -> str:
        return (
            f"{_share(rate['successes'], rate['n'])} ({formats.count(rate['successes'])} of "
            f"{formats.count(rate['n'])} MQLs)"
        )

    return Difference(
        summary=f"MQL → customer is {_share(everything['successes'], everything['n'])} over all "
        f"history and {_share(recent['successes'], recent['n'])} for the MQLs {when}.",
        headings=("", f"Overview: MQLs {when}", "Data: all MQLs, all history"),
        rows=[("MQL → customer", cell(recent), cell(everything))],
        meanings=[
            f"**Overview** follows only the MQLs {when}; recent MQLs have had little time to "
            "close, so their share is still rising.",
            "**Data** pools every MQL ever recorded, most of them old enough to have closed.",
            "Each is right by its own counting; neither figure is changed.",
        ],
    )


def markdown_table(difference: Difference) -> str:
    """Return a Difference's side-by-side rows as a Markdown table."""
    head = "| " + " | ".join(difference.headings) + " |"
    rule = "|" + "---|" * len(difference.headings)
    rows = ["| " + " | ".join(row) + " |" for row in difference.rows]
    return "\n".join([head, rule, *rows])
