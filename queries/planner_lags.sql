-- planner_lags.sql: how many fiscal quarters after its start a funnel step closes, for the
-- journeys that started in a window of cohorts, as known at a moment.
-- Grain: one row per step (mql_to_sql, sql_to_customer, mql_to_customer) and quarters_later
-- (0: closed in the quarter it started, 1: in the next, ...) that some journey took, with the
-- number of leads and their mean days. A journey starts at the lead's first recorded MQL (or
-- first SQL, for sql_to_customer) and closes when it first reached the step's end stage, at or
-- after the start; only stage changes recorded before $as_of count.
-- Parameters: $as_of (timestamp, exclusive); $fy_start_month (1-12); $cohort_from (date,
-- inclusive) and $cohort_to (date, exclusive): the window the start must fall in.

with

milestones as (
    select * from milestones_known($as_of::timestamp)
),

steps as (
    select 'mql_to_sql' as step, mql_at as started_at, sql_at as closed_at,
    from milestones
    where sql_at >= mql_at
    union all
    select 'sql_to_customer', sql_at, customer_at,
    from milestones
    where customer_at >= sql_at
    union all
    select 'mql_to_customer', mql_at, customer_at,
    from milestones
    where customer_at >= mql_at
),

step_quarters as (
    select
        step,
        (epoch(closed_at) - epoch(started_at)) / 86400.0 as days,
        fiscal_quarter_start(started_at, $fy_start_month) as start_quarter,
        fiscal_quarter_start(closed_at, $fy_start_month) as close_quarter,
    from steps
    where started_at >= $cohort_from::date and started_at < $cohort_to::date
),

final as (
    select
        step,
        (
            (year(close_quarter) * 12 + month(close_quarter))
            - (year(start_quarter) * 12 + month(start_quarter))
        ) // 3 as quarters_later,
        count(*) as count_leads,
        avg(days) as mean_days,
    from step_quarters
    group by all
)

select * from final
order by step, quarters_later
