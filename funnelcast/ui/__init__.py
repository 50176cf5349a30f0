"""The dashboard's Streamlit layer: the only package besides app.py and pages/ that imports
Streamlit. It owns the session (database, connection and per-thread cursors, the sidebar's
scope), the caches over the layers below, and the helpers that keep each page thin.
"""
