-- conversion_lags.sql: how long leads take between funnel stages, in days.
-- Grain: one row per step (mql_to_sql, sql_to_customer, mql_to_customer) with the number of
-- leads that made the step and the median and 90th percentile of days it took.
-- Reads mql_moments (lead_id, mql_at), provided by the caller.
-- Parameters: none.

with

journeys as (
    select
        lead_milestones.lead_id,
        mql_moments.mql_at,
        lead_milestones.reached_sql_at,
        lead_milestones.reached_customer_at,
    from lead_milestones
    left join mql_moments on mql_moments.lead_id = lead_milestones.lead_id
),

steps as (
    select 'mql_to_sql' as step,
        (epoch(reached_sql_at) - epoch(mql_at)) / 86400.0 as days
    from journeys
    where reached_sql_at >= mql_at
    union all
    select 'sql_to_customer', (epoch(reached_customer_at) - epoch(reached_sql_at)) / 86400.0
    from journeys
    where reached_customer_at >= reached_sql_at
    union all
    select 'mql_to_customer', (epoch(reached_customer_at) - epoch(mql_at)) / 86400.0
    from journeys
    where reached_customer_at >= mql_at
),

final as (
    select
        step,
        count(*) as count_leads,
        quantile_cont(days, 0.5) as median_days,
        quantile_cont(days, 0.9) as p90_days,
    from steps
    group by step
)

select * from final
order by step
