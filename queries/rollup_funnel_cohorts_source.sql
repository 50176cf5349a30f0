-- rollup_funnel_cohorts_source.sql: cohort_curves.sql's per-day counts for the Funnel page's
-- summary (funnelcast.analytics.rollups_funnel), for every channel at once: the same MQLs, days
-- and counts, grouped by the lead's channel too, so that summing over the channels in scope
-- gives cohort_curves.sql's rows for any channel choice.
-- Grain: one row per MQL cohort (fiscal quarter or calendar month, as $grain), lead channel,
-- outcome ('sql', 'customer') and whole day since the MQL, with count_converted and
-- count_censored as cohort_curves.sql counts them.
-- Parameters: $as_of (timestamp: the data's now); $grain ('quarter' or 'month');
-- $fy_start_month (1-12).

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
        $grain::varchar as grain,
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
