-- rollup_unmatched_ids.sql: unmatched_ids.sql's rows as rollup_pages_write.sql kept them (the Data page's
-- checks), in that query's order.
-- Grain: unmatched_ids.sql's.
-- Parameters: none.

with

final as (
    select * from rollup_unmatched_ids
)

select * exclude (row_order) from final
order by row_order
