-- kept_tables_present.sql: how many of a kept summary's tables the database holds (a database
-- made before the summary existed, or by a writer that did not make it, has none of them);
-- funnelcast.data.kept reads a summary only when it holds them all.
-- Grain: one row; tables = how many of $names the main schema holds.
-- Parameters: $names (the summary's table names).

with

final as (
    select count(*) as tables,
    from duckdb_tables()
    where schema_name = 'main' and list_contains($names::varchar[], table_name)
)

select * from final
