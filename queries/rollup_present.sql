-- rollup_present.sql: whether the database holds the funnel summary's tables (a database made
-- before the summary existed, or by a writer that did not make it, has none).
-- Grain: one row; tables = how many of the summary's three tables the database holds.
-- Parameters: none.

with

final as (
    select count(*) as tables,
    from duckdb_tables()
    where schema_name = 'main'
        and table_name in ('rollup_state', 'rollup_funnel_by_quarter', 'rollup_roi_by_channel_quarter')
)

select * from final
