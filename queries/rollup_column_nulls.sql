-- rollup_column_nulls.sql: column_nulls.sql's rows as rollup_pages_write.sql kept them (the Data page's
-- checks), in that query's order.
-- Grain: column_nulls.sql's.
-- Parameters: none.

with

final as (
    select * from rollup_column_nulls
)

select * exclude (row_order) from final
order by row_order
