-- rollup_data_health.sql: data_health.sql's rows as rollup_pages_write.sql kept them (the Data page's
-- checks), in that query's order.
-- Grain: data_health.sql's.
-- Parameters: none.

with

final as (
    select * from rollup_data_health
)

select * exclude (row_order) from final
order by row_order
