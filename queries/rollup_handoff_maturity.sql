-- rollup_handoff_maturity.sql: the 90th percentile of days from hand-off to SQL, as
-- rollup_pages_write.sql kept it, for one channel or for all (channel null).
-- Grain: at most one row.
-- Parameters: $channel (or null for all).

with

final as (
    select maturity_days,
    from rollup_handoff_maturity
    where channel is not distinct from $channel::varchar
)

select * from final
