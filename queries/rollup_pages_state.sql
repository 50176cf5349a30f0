-- rollup_pages_state.sql: what the Handoff and Data pages' summary was computed from: its
-- format, the data's key (rollup_data_version.sql and rollup_pages_version.sql, hashed), the
-- fiscal year start month, the as-of moment the hand-offs' ages were counted to, and the as-of
-- parameter data_health.sql ran with (null: none set).
-- Grain: at most one row (rollup_pages_write.sql writes exactly one).
-- Parameters: none.

with

final as (
    select format, data_key, fy_start_month, as_of, health_as_of,
    from rollup_pages_state
)

select * from final
