-- rollup_state.sql: what the funnel summary was computed from: its format, the data's key
-- (rollup_data_version.sql, hashed) and fiscal year start month then, and the days within which
-- 90% of past MQL-to-customer journeys closed (conversion_lags.sql on the recorded MQLs).
-- Grain: at most one row (rollup_write.sql writes exactly one).
-- Parameters: none.

with

final as (
    select format, data_key, fy_start_month, mature_days,
    from rollup_state
)

select * from final
