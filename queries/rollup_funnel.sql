-- rollup_funnel.sql: the funnel summary's rows: funnel_by_quarter.sql on the recorded MQLs for
-- every channel, as rollup_write.sql kept it, for one channel or all.
-- Grain: one row per fiscal quarter and lead channel (funnel_by_quarter.sql's grain).
-- Parameters: $channel (or null for all).

with

final as (
    select *
    from rollup_funnel_by_quarter
    where $channel::varchar is null or channel = $channel::varchar
)

select * from final
order by quarter_start, channel
