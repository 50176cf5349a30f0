-- scoring_events.sql: the events an MQL definition gives points for, with their points and cap,
-- counted per lead, event type and moment.
-- Grain: one row per lead, scoring event type and moment it occurred (count_events >= 1).
-- Parameters: $definition_id (integer).

with

final as (
    select
        lead_id,
        event_type,
        occurred_at,
        any_value(points) as points,
        any_value(cap_points) as cap_points,
        count(*) as count_events,
    from scored_events($definition_id)
    group by lead_id, event_type, occurred_at
)

select * from final
order by lead_id, event_type, occurred_at
