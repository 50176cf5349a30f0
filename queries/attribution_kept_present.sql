-- attribution_kept_present.sql: whether the database holds the kept attribution's tables
-- (attribution_kept_write.sql; a database summarised before they existed has none).
-- Grain: one row; tables = how many of the five tables the database holds.
-- Parameters: none.

with

final as (
    select count(*) as tables,
    from duckdb_tables()
    where schema_name = 'main'
        and table_name in (
            'attribution_kept_state', 'attribution_kept_credits', 'attribution_kept_deals',
            'attribution_kept_touches', 'attribution_kept_payback'
        )
)

select * from final
