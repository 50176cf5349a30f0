-- rollup_funnel_stage_times.sql: time_in_stage.sql's rows read from the Funnel page's summary
-- (time_in_stage.sql's rows for all channels, as rollup_funnel_write.sql kept them). For all
-- channels, those rows. For one channel, its own rows (grouped by step, quarter and channel, and
-- by step and channel), each twice: as the channel's and as the all-channels roll-up, which over
-- one channel's leads are the same leads, so the same percentiles and mean, exactly.
-- Grain: as time_in_stage.sql: one row per step, quarter in which the step began and channel,
-- plus the roll-ups (is_all_quarters, is_all_channels).
-- Parameters: $channel (or null for all channels).

with

kept as (
    select
        step, quarter_start, channel, is_all_quarters, is_all_channels, count_leads,
        p10_days, p25_days, median_days, p75_days, p90_days, mean_days,
    from rollup_funnel_stage_times
),

one_channel as (
    select * from kept
    where not is_all_channels and channel = $channel::varchar
),

final as (
    select * from kept
    where $channel::varchar is null
    union all
    select * from one_channel
    union all
    select
        step, quarter_start, null as channel, is_all_quarters, true as is_all_channels,
        count_leads, p10_days, p25_days, median_days, p75_days, p90_days, mean_days,
    from one_channel
)

select * from final
order by step, is_all_quarters, quarter_start, is_all_channels, channel
