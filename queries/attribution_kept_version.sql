-- attribution_kept_version.sql: what the kept attribution is keyed by beyond the funnel summary's
-- key (rollup_data_version.sql, which does not read the events): the events' row count and time
-- span. An import changes the meta settings that key holds; this catches a change of the events
-- made otherwise that adds or removes rows or moves the span (a cheap read at 201.7M events: no
-- hash of every row).
-- Grain: one row.
-- Parameters: none.

with

final as (
    select
        count(*) as count_events,
        min(occurred_at) as first_at,
        max(occurred_at) as last_at,
    from events
)

select * from final
