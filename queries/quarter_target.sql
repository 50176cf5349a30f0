-- quarter_target.sql: the plan for one quarter, when the targets table has one.
-- Grain: zero or one row: the customers and revenue the quarter starting on $quarter_start
-- should win (either may be null).
-- Parameters: $quarter_start (date, the fiscal quarter's first day).

with

final as (
    select * from plan_targets where quarter_start = $quarter_start
)

select * from final
order by quarter_start
