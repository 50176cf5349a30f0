"""Funnelcast: funnel analytics and marketing ROI for B2B teams, on DuckDB."""

# DuckDB's allocator (jemalloc) keeps what its queries freed for several seconds before handing
# it back. A dashboard then peaks with that and the Threshold Lab's arrays at once (2.0 GiB at
# 1M leads, where 1.4 GiB is in use). app.py and the CLI (funnelcast.cli) set this before DuckDB
# loads: freed memory goes back within a quarter second, by a background thread. Read once,
# when DuckDB first loads.
DUCKDB_ALLOCATOR_ENV = "DUCKDB_JE_MALLOC_CONF"
DUCKDB_ALLOCATOR_PROMPT = "background_thread:true,dirty_decay_ms:250,muzzy_decay_ms:0"
