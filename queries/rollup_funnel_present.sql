-- rollup_funnel_present.sql: whether the database holds the Funnel page's summary tables
-- (funnelcast.analytics.rollups_funnel; a database made before it, or by a writer that did not
-- make it, has none).
-- Grain: one row; tables = how many of the summary's five tables the database holds.
-- Parameters: none.

with

final as (
    select count(*) as tables,
    from duckdb_tables()
    where schema_name = 'main'
        and table_name in (
            'rollup_funnel_state',
            'rollup_funnel_steps',
            'rollup_funnel_cohorts',
            'rollup_funnel_stage_times',
            'rollup_funnel_journeys'
        )
)

select * from final
