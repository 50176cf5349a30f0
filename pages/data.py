"""Data: what is loaded and how sound it is; import an export (map, preview, check, import)."""

import dataclasses
import datetime as dt
import hashlib
import tempfile
from pathlib import Path

import streamlit as st

from funnelcast import importer, loading
from funnelcast.analytics import countings
from funnelcast.core import currency, formats
from funnelcast.data import context, db
from funnelcast.ui import dashboard, data_page, page

dashboard.require_shell()
database = dashboard.current_database()
ctx = dashboard.context(database)

st.title("Data")

if flash := st.session_state.pop("data_flash", None):
    st.success(flash, icon=":material/check_circle:")

# ===== what is loaded =====
st.subheader("What is loaded")
st.dataframe(
    data_page.loaded_tables(ctx),
    hide_index=True,
    placeholder="—",
    column_config={
        "table": st.column_config.TextColumn("Table", width=110, pinned=True),
        "rows": st.column_config.NumberColumn("Rows", format="localized", width=90),
        "first": st.column_config.DateColumn("First", width=100),
        "last": st.column_config.DateColumn("Last", width=100),
        "note": st.column_config.TextColumn("What it gives"),
    },
)
for line in data_page.missing_tables(ctx):
    st.info(line, icon=":material/upload_file:")


def save_currency() -> None:
    """Store the chosen currency through the one writer (a callback: before the next run)."""
    code = st.session_state[data_page.CURRENCY_KEY]
    try:
        chosen = dashboard.write(database.path, lambda cur: context.set_currency(cur, code))
    except db.FunnelcastError as exc:
        st.session_state["data_flash_error"] = f"Currency not saved: {exc}"
    else:
        st.session_state["data_flash"] = f"Amounts are now shown in {chosen.label}."


if error := st.session_state.pop("data_flash_error", None):
    st.error(error, icon=":material/error:")
codes = currency.choices()
# The stored setting, not a choice left from another database, fills the box on every run.
st.session_state[data_page.CURRENCY_KEY] = ctx.currency.code
read_only = dashboard.viewer_mode() or dashboard.spark_mode()
st.selectbox(
    "Currency of amounts",
    codes,
    key=data_page.CURRENCY_KEY,
    format_func=lambda code: currency.Currency(code).label,
    on_change=save_currency,
    disabled=read_only,
    help="The currency of spend, deal amounts and targets: every page, table, chart and the "
    "quarterly review show amounts in it. "
    + (
        "Set it with `funnelcast currency` (read-only here)."
        if read_only
        else "Changing it relabels amounts; it converts nothing."
    ),
)

if int(ctx.extent["leads"]["count_rows"] or 0):
    nulls, unmatched, health = data_page.loaded_report(database)
    result = dashboard.headline(database, None, None)
    st.markdown("**What the loaded data gives, all history**")
    st.caption(
        "MQLs as the CRM recorded them; customers: leads that reached the customer stage; "
        "MQL → customer: of all MQLs, the share that became customers so far "
        "(the figures `funnelcast metrics` prints)."
    )
    rate = result["rates"]["mql_to_customer"]
    for column, (label, value, note) in zip(
        st.columns(4),
        [
            ("Leads", formats.count(result["leads"]), "loaded"),
            ("MQLs", formats.count(result["mqls"]), "recorded"),
            ("Customers", formats.count(result["customers"]), "won"),
            (
                "MQL → customer",
                f"{rate['value'] * 100:.2f}%" if rate["value"] is not None else formats.DASH,
                f"n = {formats.count(rate['n'])} · 95% CI {formats.interval(rate['low'], rate['high'])}",
            ),
        ],
    ):
        with column.container(border=True):
            st.metric(label, value)
            st.caption(note)
    if (quarter := dashboard.scope()[0]) is not None:  # the Overview's quarter, all channels
        difference = countings.data_vs_overview(
            result, dashboard.headline(database, quarter, None), quarter
        )
        st.caption(difference.summary)
        page.why_differs(difference)
    with st.expander("MQL → customer by channel"):
        st.dataframe(
            data_page.funnel_check(result),
            hide_index=True,
            column_config={
                "channel": st.column_config.TextColumn("Channel"),
                "mqls": st.column_config.NumberColumn("MQLs", format="localized"),
                "customers": st.column_config.NumberColumn("Customers", format="localized"),
                "mql_to_customer_pct": st.column_config.NumberColumn(
                    "MQL → customer", format="%.2f%%"
                ),
                "basis": st.column_config.TextColumn("customers of MQLs · 95% CI"),
            },
        )

    st.markdown("**Data health**")
    notes = health + unmatched
    if not notes:
        st.caption("No problems found: dates in order, amounts plausible, ids match.")
    for note in notes:
        (st.warning if note.level == "warning" else st.info)(note.text)
    with st.expander("Empty values per column"):
        st.dataframe(
            nulls,
            hide_index=True,
            column_config={
                "table_name": st.column_config.TextColumn("Table"),
                "column_name": st.column_config.TextColumn("Column"),
                "count_rows": st.column_config.NumberColumn("Rows", format="localized"),
                "count_nulls": st.column_config.NumberColumn("Empty", format="localized"),
                "share_empty": st.column_config.ProgressColumn(
                    "Share empty", format="percent", min_value=0.0, max_value=1.0
                ),
            },
        )

# ===== import a file =====
st.subheader("Import a file")
if dashboard.viewer_mode():
    st.info(
        f"Read-only viewer ({dashboard.VIEWER_ENV} is set): importing files and saving "
        "mappings are turned off here. Load data with `funnelcast import`.",
        icon=":material/visibility:",
    )
    st.stop()
if lake_note := dashboard.spark_write_note("importing a file"):
    st.info(lake_note, icon=":material/cloud:")
    st.stop()
st.caption(
    "CSV (any delimiter; UTF-8 or Latin-1), Parquet or Excel .xlsx. Every row is checked "
    "before anything is written; the whole file loads, or nothing does. Importing the same file "
    "again adds nothing."
)
table = st.selectbox(
    "Table",
    list(importer.TABLES),
    key="data_table",
    format_func=lambda name: name.replace("_", " "),
)
upload = st.file_uploader(
    "Export file", type=["csv", "tsv", "txt", "parquet", "xlsx"], key="data_upload"
)
if upload is None:
    st.caption(
        "Headers of HubSpot and Salesforce lead and contact exports are recognised; others "
        "are mapped by hand and the mapping can be saved for next time."
    )
    st.stop()

# Keep the upload as a file for the importer, once per upload (named so its suffix says its type).
data = upload.getvalue()
if too_large := data_page.upload_problem(upload.name, len(data)):
    st.error(too_large)
    st.stop()
digest = hashlib.sha256(data).hexdigest()[:16]
folder = Path(tempfile.gettempdir()) / "funnelcast-uploads"
folder.mkdir(exist_ok=True)
path = folder / f"{digest}-{Path(upload.name).name}"
if not path.exists():
    path.write_bytes(data)

try:
    header = data_page.file_header(path)
except db.FunnelcastError as exc:
    st.error(str(exc))
    st.stop()
st.caption(
    f"{upload.name}: {formats.count(header.rows)} rows, {len(header.columns)} columns"
    + (f", {header.encoding}, delimiter {header.delimiter!r}" if header.encoding else "")
)

saved = data_page.saved_mappings(database.path, table)
start = st.selectbox(
    "Start from", ["Suggested from the headers", *saved], key=f"data_start_{table}"
)
if start in saved:
    base = importer.read_mapping_file(saved[start])
    choices = data_page.choices_from_mapping(base, list(header.columns))
else:
    base = importer.Mapping(table)
    choices = data_page.initial_choices(table, list(header.columns))

options = [data_page.NOT_MAPPED, data_page.SET_VALUE, *header.columns]
picked: dict[str, str] = {}
constants: dict[str, str] = {}
defaults: dict[str, str] = {}
notes = {}  # field -> the place beside its control where its note goes
fields = importer.TABLES[table].fields
required = [f for f in fields if f.required]
others = [f for f in fields if not f.required]
prefix = f"data_map_{table}_{start}_{digest}"


def field_control(f: importer.Field) -> None:
    """Show a field's column choice, the place its note goes, and its one value when it takes
    one (a date picked for a date field), and for a required field its value where a row has
    none."""
    key = f"{prefix}_{f.name}"
    picked[f.name] = st.selectbox(
        f"{f.name}{' *' if f.required else ''}",
        options,
        index=options.index(choices[f.name]),
        key=key,
        help=f.about or None,
    )
    notes[f.name] = st.empty()
    if data_page.takes_a_value(table, f.name, picked[f.name]):
        if data_page.is_date(table, f.name):
            given = base.constants.get(f.name, "")
            chosen = st.date_input(
                f"One date for every row ({f.name})",
                value=dt.date.fromisoformat(given[:10]) if given[:10] else None,
                min_value=dt.date(1990, 1, 1),
                max_value=dt.date.today(),
                format="YYYY-MM-DD",
                key=key + "_date",
            )
            constants[f.name] = chosen.isoformat() if isinstance(chosen, dt.date) else ""
        else:
            constants[f.name] = st.text_input(
                f"One value for every row ({f.name})",
                value=base.constants.get(f.name, ""),
                key=key + "_value",
            )
    elif f.required:
        defaults[f.name] = st.text_input(
            f"{f.name}: value where a row has none",
            value=base.defaults.get(f.name, ""),
            key=f"data_default_{table}_{start}_{f.name}",
            help="Leave empty to have such rows reported instead.",
        )


st.markdown("**Required fields**: choose the column that holds each, or one value for every row")
if said := data_page.recognised_text(data_page.recognised(table, list(header.columns), choices)):
    st.info(said, icon=":material/auto_awesome:")
for f, cell in zip(required, st.columns(3)):
    with cell:
        field_control(f)
if others:
    st.markdown("**Other fields** (optional)")
    grid = st.columns(3)
    for i, f in enumerate(others):
        with grid[i % 3]:
            field_control(f)

with st.expander("Missing values, date formats and defaults of the other fields"):
    placeholder_text = st.text_area(
        "Values that mean missing, one per line (an empty line: the empty cell)",
        value="\n".join(base.placeholders),
        key=f"data_placeholders_{table}_{start}",
        help="Compared ignoring case and surrounding spaces.",
    )
    decimal_comma = st.checkbox(
        "Numbers are written 1.234,56",
        value=base.decimal_comma,
        key=f"data_decimal_{table}_{start}",
    )
    formats_ = {}
    for f in fields:
        if f.kind in data_page.DATE_KINDS:
            formats_[f.name] = st.text_input(
                f"Date format of {f.name}, when not ISO (e.g. %d/%m/%Y %H:%M)",
                value=base.formats.get(f.name, ""),
                key=f"data_format_{table}_{start}_{f.name}",
            )
    for f in others:
        defaults[f.name] = st.text_input(
            f"{f.name}: value where a row has none",
            value=base.defaults.get(f.name, ""),
            key=f"data_default_{table}_{start}_{f.name}",
        )

mapping = data_page.mapping_from_choices(
    table,
    picked,
    constants,
    defaults=defaults,
    formats_=formats_,
    placeholders=data_page.parse_placeholders(placeholder_text),
    decimal_comma=decimal_comma,
)
missing = data_page.field_notes(mapping, list(header.columns))
for name, note in missing.items():
    notes[name].warning(note, icon=":material/arrow_upward:")
wrong = data_page.mapping_problems(mapping, list(header.columns), picked)
for line in wrong:
    st.error(line)
if missing or wrong:
    st.caption("The preview and the import wait until the fields above say what each row holds.")
    st.stop()

st.markdown(
    "**Preview** (the first rows as the table would receive them; empty: missing or not readable)"
)
try:
    st.dataframe(data_page.preview(path, mapping), hide_index=True)
except importer.ImportProblems as exc:
    for line in data_page.problem_lines(exc):
        st.error(line)
    st.stop()

if table == "leads":
    try:
        kept = data_page.attribute_preview(database.cursor, database.key, path, mapping)
    except importer.ImportProblems as exc:
        for line in data_page.problem_lines(exc):
            st.error(line)
        st.stop()
    if kept:
        st.markdown(
            f"**Other columns** ({len(kept)}): kept as custom attributes of each lead, so that "
            "fit rules can name them. Untick a column to leave it out; change a type the "
            "values were read as."
        )
        edited = st.data_editor(
            data_page.attributes_frame(kept),
            hide_index=True,
            disabled=["Column", "Found by", "Empty rows"],
            column_config={
                "Type": st.column_config.SelectboxColumn(
                    "Type", options=list(data_page.ATTRIBUTE_TYPES), required=True
                ),
            },
            key=f"data_attributes_{digest}",
        )
        pins, dropped = data_page.attribute_choices(edited, kept)
        mapping = dataclasses.replace(mapping, types=pins, drop=dropped)

check, load, _ = st.columns([1, 1, 4])
if check.button("Check", key="data_check", icon=":material/rule:"):
    try:
        outcome = importer.import_file(database.cursor, path, mapping, dry_run=True)
    except importer.ImportProblems as exc:
        st.error(f"{formats.count(exc.total)} problems; nothing would be imported:")
        st.code("\n".join(data_page.problem_lines(exc)), language=None)
    except db.FunnelcastError as exc:
        st.error(str(exc))
    else:
        st.success(data_page.summary_text(outcome, path, upload.name))
if load.button("Import", key="data_import", type="primary", icon=":material/upload:"):
    bar = st.progress(0.0, text="Starting…")

    def show(stage: str, fraction: float | None) -> None:
        bar.progress(min(max(fraction or 0.0, 0.0), 1.0), text=stage.capitalize() + "…")

    try:
        outcome = dashboard.write(
            database.path,
            lambda cur: loading.import_file(
                cur, path, mapping, progress=importer.Progress(show, interval=0.3)
            ),
        )
    except importer.ImportProblems as exc:
        bar.empty()
        st.error(f"{formats.count(exc.total)} problems; nothing was imported:")
        st.code("\n".join(data_page.problem_lines(exc)), language=None)
    except db.FunnelcastError as exc:
        bar.empty()
        st.error(str(exc))
    else:
        st.session_state["data_flash"] = data_page.summary_text(outcome, path, upload.name)
        st.rerun()

st.markdown("**Save this mapping for next time**")
name_col, save_col, download_col = st.columns([3, 1, 1], vertical_alignment="bottom")
name = name_col.text_input("Name", value=Path(upload.name).stem, key="data_mapping_name")
if save_col.button("Save", key="data_save"):
    try:
        saved_path = data_page.save_mapping(database.path, name, mapping)
    except (db.FunnelcastError, OSError) as exc:
        st.error(str(exc))
    else:
        st.success(
            f"Saved {saved_path}: choose it under 'Start from' next time (`funnelcast import` "
            "reads it as its mapping file too)."
        )
download_col.download_button(
    "Download",
    importer.mapping_to_toml(mapping),
    file_name=f"{name or 'mapping'}.toml",
    mime="application/toml",
    key="data_download",
)
