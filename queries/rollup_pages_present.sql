-- rollup_pages_present.sql: whether the database holds the Handoff and Data pages' summary
-- tables (funnelcast.analytics.rollups_pages; a database made before it has none).
-- Grain: one row; tables = how many of the summary's eight tables the database holds.
-- Parameters: none.

with

final as (
    select count(*) as tables,
    from duckdb_tables()
    where schema_name = 'main'
        and table_name in (
            'rollup_pages_state', 'rollup_handoff_cells', 'rollup_handoff_segments',
            'rollup_handoff_won', 'rollup_handoff_maturity', 'rollup_column_nulls',
            'rollup_unmatched_ids', 'rollup_data_health'
        )
)

select * from final
