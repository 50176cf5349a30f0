-- planner_targets.sql: the stored plan targets, for the planner to read and show.
-- Grain: one row per quarter with a target: the customers and revenue it should win (either
-- may be null), for quarters starting on or after $from_date.
-- Parameters: $from_date (date).

with

final as (
    select * from plan_targets where quarter_start >= $from_date::date
)

select * from final
order by quarter_start
