"""Funnelcast dashboard: `streamlit run app.py`. The frame around every page: which database,
the shared sidebar (quarter, channel, what is loaded) and the navigation."""

import os

import funnelcast

# before DuckDB loads in this server process (see funnelcast.DUCKDB_ALLOCATOR_ENV)
os.environ.setdefault(funnelcast.DUCKDB_ALLOCATOR_ENV, funnelcast.DUCKDB_ALLOCATOR_PROMPT)

import duckdb  # noqa: E402
import streamlit as st  # noqa: E402

from funnelcast.analytics import overview
from funnelcast.data import db, engine
from funnelcast.lab import warm as lab_warm
from funnelcast.ui import dashboard, run_log  # noqa: E402
from funnelcast.ui import page as page_helpers

_run = run_log.start()  # the server's own time for this run (FUNNELCAST_RUN_LOG)
run_log.charts_off_if_asked()  # a benchmark's switch (FUNNELCAST_BENCH_NO_CHARTS)
lab_warm.start_in_background()  # the Lab's engine compiled ahead, once per server process

st.set_page_config(page_title="Funnelcast", page_icon="📊", layout="wide")

# Navigation first: until st.navigation runs, Streamlit treats pages/ as a legacy multipage
# folder, and widgets made before it (the sidebar's quarter and channel) would belong to that
# legacy page and lose their first change in a server's first session.
page = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/funnel.py", title="Funnel", icon=":material/filter_alt:"),
        st.Page("pages/handoff.py", title="Handoff", icon=":material/handshake:"),
        st.Page("pages/roi.py", title="ROI & attribution", icon=":material/payments:"),
        st.Page("pages/threshold_lab.py", title="Threshold Lab", icon=":material/science:"),
        st.Page("pages/planner.py", title="MQL Planner", icon=":material/target:"),
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
    ]
)
page_helpers.apply_layout()  # room for every card, chip, table and chart title (funnelcast.ui.page)

try:
    engine_name, _lake = dashboard.engine_setting()
except db.FunnelcastError as exc:
    st.error(f"Cannot use the engine setting: {exc}")
    st.stop()
path = dashboard.database_path()
# With the Spark engine the data is the lake: no DuckDB file is needed, or built.
if engine_name == "duckdb" and not path.exists():
    with st.spinner(
        f"No database at {path} yet: building the demo database "
        f"({dashboard.DEMO_LEADS:,} leads, seed {dashboard.DEMO_SEED})…"
    ):
        try:
            if dashboard.ensure_database(path):
                st.session_state["built_demo_at"] = str(path)
        except (db.FunnelcastError, OSError) as exc:
            st.error(f"No database at {path}, and building the demo one failed: {exc}")
            st.stop()

try:
    database = dashboard.current_database()
    ctx = dashboard.context(database)
except db.FunnelcastError as exc:
    st.error(f"Cannot use the {'lake' if engine_name == 'spark' else 'database'}: {exc}")
    st.caption(
        f"Set {engine.PARQUET_ENV} to a directory `funnelcast export-parquet` wrote, or unset "
        f"{engine.ENGINE_ENV} to read the DuckDB file."
        if engine_name == "spark"
        else f"Set {dashboard.ENV_VAR} to a Funnelcast database, or unset it to use "
        f"{db.DEFAULT_DB}."
    )
    st.stop()
except duckdb.Error as exc:  # a damaged file opens, then fails when read
    st.error(dashboard.read_error(path, exc))
    st.stop()
except Exception as exc:  # Spark's own errors (a damaged lake), one line; anything else surfaces
    if (failure := dashboard.engine_failure(exc)) is None:
        raise
    st.error(failure)
    st.stop()

if st.session_state.get("built_demo_at") == str(path):
    st.info(
        f"No database was found at `{path}`, so Funnelcast built a demo database there "
        f"({dashboard.DEMO_LEADS:,} invented leads, seed {dashboard.DEMO_SEED}) for you to "
        f"explore. Point {dashboard.ENV_VAR} at your own database to see your data.",
        icon=":material/science:",
    )

with st.sidebar:
    st.markdown("## Funnelcast")

    quarters = [q.label for q in reversed(ctx.quarters)] + [dashboard.ALL_HISTORY]
    partial = set(overview.partial_quarters(ctx))
    # A choice the data no longer offers (another database) falls back to the default.
    if st.session_state.get(dashboard.QUARTER_KEY) not in quarters:
        st.session_state.pop(dashboard.QUARTER_KEY, None)
    default = overview.default_quarter(ctx)
    st.selectbox(
        "Quarter",
        quarters,
        index=quarters.index(default) if default else quarters.index(dashboard.ALL_HISTORY),
        key=dashboard.QUARTER_KEY,
        format_func=lambda label: f"{label} (in progress)" if label in partial else label,
        help="Fiscal quarter. The default is the latest quarter the data covers to its end.",
    )

    channels = [dashboard.ALL_CHANNELS, *ctx.channels]
    if st.session_state.get(dashboard.CHANNEL_KEY) not in channels:
        st.session_state.pop(dashboard.CHANNEL_KEY, None)
    st.selectbox("Channel", channels, key=dashboard.CHANNEL_KEY, help="The lead's source channel.")

    st.divider()
    page_helpers.about_data(database, ctx)

st.session_state[dashboard.SHELL_KEY] = True
completed = False
try:
    page.run()
    completed = True
except duckdb.Error as exc:
    st.error(dashboard.read_error(path, exc))
except Exception as exc:  # Spark's own errors, one line; anything else surfaces
    if (failure := dashboard.engine_failure(exc)) is None:
        raise
    st.error(failure)
finally:
    run_log.finish(_run, page.title, completed)
