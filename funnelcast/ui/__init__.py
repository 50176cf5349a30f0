"""The dashboard's Streamlit layer: the only package besides app.py and pages/ that imports
Streamlit. It owns the session (database, connection and per-thread cursors, the sidebar's
scope), the caches over the layers below, and the helpers that keep each page thin.
"""

# Plotly and Streamlit look pandas up in sys.modules without taking the import lock; when a
# dashboard's script threads start together, one could find it half imported by the other
# ("partially initialized module 'pandas' has no attribute 'Series"). Importing it here, before
# any page's code runs, means every script thread sees it whole. (Here, not in funnelcast's own
# __init__: the CLI and the engine have no use for pandas, and it cost every command 1.5 s.)
import pandas  # noqa: F401, E402
