-- attribution_kept_state.sql: what the kept attribution was computed from: its format, the
-- data's key (funnelcast.analytics.rollups.data_key), the fiscal year start month and the
-- time-decay half-life of its credits.
-- Grain: at most one row (attribution_kept_write.sql writes exactly one).
-- Parameters: none.

with

final as (
    select format, data_key, fy_start_month, half_life_days,
    from attribution_kept_state
)

select * from final
