-- outcome_lag.sql: how long leads take from creation to an outcome (reaching SQL, or customer).
-- Grain: one row: the number of leads that reached the outcome and the median and 90th
-- percentile of days from their creation to it (null when none did).
-- Parameters: $outcome (varchar: 'sql' or 'customer').

with

outcomes as (
    select
        created_at,
        case $outcome
            when 'sql' then reached_sql_at
            when 'customer' then reached_customer_at
        end as outcome_at,
    from lead_milestones
),

final as (
    select
        count(outcome_at) as count_leads,
        quantile_cont((epoch(outcome_at) - epoch(created_at)) / 86400.0, 0.5) as median_days,
        quantile_cont((epoch(outcome_at) - epoch(created_at)) / 86400.0, 0.9) as p90_days,
    from outcomes
    where outcome_at is not null
)

select * from final
order by count_leads
