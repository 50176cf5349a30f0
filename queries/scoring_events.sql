-- scoring_events.sql: the events an MQL definition gives points for, with their points and cap,
-- counted per lead, event type and moment.
-- Grain: one row per lead, scoring event type and moment it occurred (count_events >= 1).
-- Parameters: $definition_id (integer).

with

final as (
    select
        events.lead_id,
        events.event_type,
        events.occurred_at,
        any_value(rules.points) as points,
        any_value(rules.cap_points) as cap_points,
        count(*) as count_events,
    from events
    join definition_behaviour_rules as rules
        on rules.event_type = events.event_type
        and rules.definition_id = $definition_id
    group by events.lead_id, events.event_type, events.occurred_at
)

select * from final
order by lead_id, event_type, occurred_at
