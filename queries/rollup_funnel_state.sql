-- rollup_funnel_state.sql: what the Funnel page's summary was computed from: its format, the
-- data's key (rollup_data_version.sql and rollup_funnel_version.sql, hashed), the fiscal year
-- start month and the as-of moment then, and the days within which 90% of past lead-to-customer
-- journeys closed (outcome_lag.sql: the page's maturity days).
-- Grain: at most one row (rollup_funnel_write.sql writes exactly one).
-- Parameters: none.

with

final as (
    select format, data_key, fy_start_month, as_of, lead_maturity_days,
    from rollup_funnel_state
)

select * from final
