-- cohort_curves.sql: how MQL cohorts convert over the days since their first recorded MQL, in a
-- form a survival (Kaplan-Meier) curve is read from: per day, who converted and who stopped
-- being observed without converting (the as-of moment came first).
-- Grain: one row per MQL cohort (fiscal quarter or calendar month of the lead's first recorded
-- MQL), lead channel, outcome ('sql': reached SQL or later; 'customer') and whole day since the
-- MQL on which at least one lead of the cohort and channel converted or was last observed (the
-- counts add over channels: funnelcast.analytics.cohorts.over_channels sums those in scope, and
-- the Funnel page's summary keeps these rows for every channel).
--   count_converted: leads that reached the outcome on that day (a stage recorded before the
--                    MQL counts on day 0);
--   count_censored:  leads without the outcome whose observation ends on that day (as of $as_of).
-- Parameters: $as_of (timestamp: the data's now); $grain ('quarter' or 'month');
-- $fy_start_month (1-12); $channel (or null for all channels).

with

mqls as (
    select
        case $grain::varchar
            when 'month' then cast(date_trunc('month', recorded_mql_at) as date)
            else fiscal_quarter_start(recorded_mql_at, $fy_start_month)
        end as cohort_start,
        channel,
        recorded_mql_at as mql_at,
        reached_sql_at,
        reached_customer_at,
    from lead_milestones
    where recorded_mql_at is not null
        and recorded_mql_at <= $as_of::timestamp
        and ($channel::varchar is null or channel = $channel::varchar)
),

outcomes as (
    select cohort_start, channel, 'sql' as outcome, mql_at, reached_sql_at as reached_at
    from mqls
    union all
    select cohort_start, channel, 'customer' as outcome, mql_at, reached_customer_at as reached_at
    from mqls
),

exits as (
    select
        cohort_start,
        channel,
        outcome,
        reached_at is not null and reached_at <= $as_of::timestamp as is_converted,
        cast(floor(greatest(
            0,
            epoch(
                case
                    when reached_at is not null and reached_at <= $as_of::timestamp then reached_at
                    else $as_of::timestamp
                end
            ) - epoch(mql_at)
        ) / 86400) as integer) as day,
    from outcomes
),

final as (
    select
        cohort_start,
        channel,
        outcome,
        day,
        count(*) filter (where is_converted) as count_converted,
        count(*) filter (where not is_converted) as count_censored,
    from exits
    group by cohort_start, channel, outcome, day
)

select * from final
order by cohort_start, channel, outcome, day
