"""What the importer loads: the canonical tables, their fields and vocabularies.

TABLES is the fixed list every identifier in the importer's SQL is checked against (see
sql.ident): a table name or a field name that is not here never reaches a statement. The stage
vocabularies say how CRMs write the stages a stage_changes or events file carries, and
ImportProblems is what a file that cannot be imported raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from funnelcast.data import db
from funnelcast.importer.messages import Problem, cli_text, plain

# Values that mean "nothing here" in real exports: HubSpot's unset dropdown ("Select"), a CRM's
# "unknown", "N/A", a dash, an empty cell. Compared case-insensitively after trimming spaces.
# Change it per import with --placeholder (CLI), `placeholders = [...]` (mapping file) or the page.
PLACEHOLDERS: tuple[str, ...] = ("", "Select", "unknown", "N/A", "-")
MAX_PROBLEMS = 50  # problems listed in one report; the rest are counted

STAGES = ("mql", "sal", "sql", "customer", "rejected", "recycled", "disqualified")
# Stage names as CRMs export them (lower case, spaces and dashes as underscores) -> ours.
STAGE_ALIASES = {
    **{stage: stage for stage in STAGES},
    "marketing_qualified_lead": "mql",
    "marketingqualifiedlead": "mql",  # HubSpot lifecycle stage, internal value
    "sales_accepted_lead": "sal",
    "accepted": "sal",
    "sales_qualified_lead": "sql",
    "salesqualifiedlead": "sql",  # HubSpot
    "opportunity": "sql",
    "won": "customer",
    "closed_won": "customer",
    "closedwon": "customer",  # HubSpot deal stage
    "unqualified": "disqualified",  # Salesforce lead status
    "nurture": "recycled",
    "nurturing": "recycled",
}
CONTENT_STAGES = ("top", "middle", "bottom")
CONTENT_STAGE_ALIASES = {
    **{stage: stage for stage in CONTENT_STAGES},
    "tofu": "top",
    "top_of_funnel": "top",
    "mofu": "middle",
    "middle_of_funnel": "middle",
    "bofu": "bottom",
    "bottom_of_funnel": "bottom",
}


class ImportProblems(db.FunnelcastError):
    """A file that cannot be imported, with every problem found (up to MAX_PROBLEMS listed).

    details: each problem as data (messages.Problem; a text given is a plain one); problems:
    their command-line wording, as the CLI prints them; the Data page words the details with
    messages.page_text.
    """

    def __init__(self, file: str, problems: Sequence[str | Problem], total: int | None = None):
        self.file = file
        self.details = [plain(p) if isinstance(p, str) else p for p in problems]
        self.problems = [cli_text(p) for p in self.details]
        self.total = total if total is not None else len(problems)
        shown = "\n".join(f"  {p}" for p in self.problems)
        more = self.total - len(self.problems)
        tail = f"\n  … and {more:,} more" if more > 0 else ""
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"{file}: {self.total:,} {noun}; nothing was imported\n{shown}{tail}")


@dataclass(frozen=True)
class Field:
    """One canonical field of a table and how its text is parsed."""

    name: str
    kind: str  # text, timestamp, date, integer, amount, stage, content_stage
    required: bool = False
    about: str = ""


@dataclass(frozen=True)
class TableSpec:
    """A canonical table the importer loads: its fields, key and what it needs to exist."""

    name: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] | None  # None: rows are identified by all their fields
    time_field: str
    needs_leads: bool = False  # rows refer to leads.lead_id

    def field(self, name: str) -> Field | None:
        """Return the field called name, or None."""
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Return the canonical field names in schema order."""
        return tuple(f.name for f in self.fields)


TABLES: dict[str, TableSpec] = {
    "leads": TableSpec(
        "leads",
        (
            Field("lead_id", "text", True, "the lead's unique id in the CRM"),
            Field("created_at", "timestamp", True, "when the lead was created (UTC)"),
            Field("channel", "text", True, "source channel: search, social, email, …"),
            Field("campaign", "text"),
            Field("company", "text"),
            Field("industry", "text"),
            Field(
                "company_size",
                "integer",
                about="employees; a band such as 51-200 counts as its lower bound",
            ),
            Field("country", "text"),
            Field("region", "text"),
            Field("job_title", "text"),
            Field("seniority", "text"),
        ),
        key=("lead_id",),
        time_field="created_at",
    ),
    "events": TableSpec(
        "events",
        (
            Field("lead_id", "text", True, "the lead who did it"),
            Field("occurred_at", "timestamp", True, "when (UTC)"),
            Field("event_type", "text", True, "email_open, content_download, demo_request, …"),
            Field("content_stage", "content_stage", about="top, middle or bottom of the funnel"),
            Field("channel", "text"),
            Field("campaign", "text"),
        ),
        key=None,
        time_field="occurred_at",
        needs_leads=True,
    ),
    "stage_changes": TableSpec(
        "stage_changes",
        (
            Field("lead_id", "text", True, "the lead whose stage changed"),
            Field("stage", "stage", True, ", ".join(STAGES)),
            Field("changed_at", "timestamp", True, "when (UTC)"),
            Field("reason", "text", about="why sales rejected or recycled it"),
            Field("amount", "amount", about="deal value, for customer"),
            Field("owner", "text"),
        ),
        key=("lead_id", "stage", "changed_at"),
        time_field="changed_at",
        needs_leads=True,
    ),
    "spend": TableSpec(
        "spend",
        (
            Field("period_start", "date", True, "first day of the period the spend covers"),
            Field("channel", "text", True),
            Field("campaign", "text", about="empty: spend on the channel as a whole"),
            Field("amount", "amount", True),
        ),
        key=("period_start", "channel", "campaign"),
        time_field="period_start",
    ),
    "targets": TableSpec(
        "targets",
        (
            Field("quarter_start", "date", True, "first day of the fiscal quarter"),
            Field("target_customers", "integer"),
            Field("target_revenue", "amount"),
        ),
        key=("quarter_start",),
        time_field="quarter_start",
    ),
}
