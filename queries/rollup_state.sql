-- rollup_state.sql: what the funnel summary was computed from: its format, the data's key
-- (rollup_data_version.sql, hashed) and fiscal year start month then, and the days within which
-- 90% of past journeys made a step: MQL to customer and MQL to SQL (conversion_lags.sql on the
-- recorded MQLs), lead to customer (outcome_lag.sql).
-- Grain: at most one row (rollup_write.sql writes exactly one).
-- Parameters: none.

with

final as (
    select
        format, data_key, fy_start_month, mature_days, mql_to_sql_days, lead_to_customer_days,
    from rollup_state
)

select * from final
