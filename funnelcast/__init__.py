"""Funnelcast: funnel analytics and marketing ROI for B2B teams, on DuckDB."""

# Plotly and Streamlit look pandas up in sys.modules without taking the import lock; when a
# dashboard's script threads start together, one could find it half imported by the other
# ("partially initialized module 'pandas' has no attribute 'Series"). Importing it here, before
# anything of ours runs, means every thread that uses Funnelcast sees it whole.
import pandas  # noqa: F401
