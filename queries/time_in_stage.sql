-- time_in_stage.sql: how long leads stay in a stage before moving on, in days.
-- Steps: mql_to_sal (first recorded MQL to first SAL or later stage), sal_to_sql (first recorded
-- SAL to first SQL or later), sql_to_customer (first recorded SQL to customer). Only completed
-- steps count: a lead still in the stage, or one that skipped it, has no time for that step.
-- Grain: one row per step, fiscal quarter in which the step began and lead channel, plus the
-- roll-ups (grouping sets): is_all_quarters marks rows over every quarter (quarter_start null),
-- is_all_channels rows over every channel (channel null).
-- Columns: count_leads and the 10th, 25th, 50th, 75th and 90th percentiles and mean of days.
-- Parameters: $fy_start_month (1-12); $channel (or null for all channels).

with

journeys as (
    select
        channel,
        recorded_mql_at,
        recorded_sal_at,
        recorded_sql_at,
        reached_sal_at,
        reached_sql_at,
        reached_customer_at,
    from lead_milestones
    where $channel::varchar is null or channel = $channel::varchar
),

steps as (
    select 'mql_to_sal' as step, channel, recorded_mql_at as started_at, reached_sal_at as ended_at
    from journeys
    where reached_sal_at >= recorded_mql_at
    union all
    select 'sal_to_sql' as step, channel, recorded_sal_at, reached_sql_at
    from journeys
    where reached_sql_at >= recorded_sal_at
    union all
    select 'sql_to_customer' as step, channel, recorded_sql_at, reached_customer_at
    from journeys
    where reached_customer_at >= recorded_sql_at
),

timed as (
    select
        step,
        channel,
        fiscal_quarter_start(started_at, $fy_start_month) as quarter_start,
        (epoch(ended_at) - epoch(started_at)) / 86400.0 as days,
    from steps
),

final as (
    select
        step,
        quarter_start,
        channel,
        grouping(quarter_start) = 1 as is_all_quarters,
        grouping(channel) = 1 as is_all_channels,
        count(*) as count_leads,
        -- the five percentiles from one sorted set of days per group: five separate
        -- percentile aggregates each held every group's days (over 1 GB at 10M leads, which
        -- DuckDB's quantile states cannot spill)
        quantile_cont(days, [0.10, 0.25, 0.50, 0.75, 0.90]) as percentiles,
        avg(days) as mean_days,
    from timed
    group by grouping sets (
        (step, quarter_start, channel),
        (step, quarter_start),
        (step, channel),
        (step)
    )
)

select
    step,
    quarter_start,
    channel,
    is_all_quarters,
    is_all_channels,
    count_leads,
    percentiles[1] as p10_days,
    percentiles[2] as p25_days,
    percentiles[3] as median_days,
    percentiles[4] as p75_days,
    percentiles[5] as p90_days,
    mean_days,
from final
order by step, is_all_quarters, quarter_start, is_all_channels, channel
