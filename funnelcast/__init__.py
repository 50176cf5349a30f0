"""Funnelcast: funnel analytics and marketing ROI for B2B teams, on DuckDB."""
