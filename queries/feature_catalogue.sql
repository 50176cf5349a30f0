-- feature_catalogue.sql: the behaviour features the suggested-weights model can learn from, with
-- what MQL definition $definition_id gives for each: every event type some event has. (Lead
-- fields are learnt from their values, read by known_field_values.sql.)
-- Grain: one row per event type, under attribute 'event_type'.
-- current_points: the definition's points per event (0 when it has no rule); current_cap: the
-- cap on the type's decayed points (null: none); current_disqualifies: always false (behaviour
-- never disqualifies), kept so that the columns read as a rules frame.
-- Parameters: $definition_id (integer, or null for no definition).

with

event_types as (
    select distinct event_type
    from events
),

final as (
    select
        'event_type' as attribute,
        event_types.event_type as value,
        coalesce(rules.points, 0) as current_points,
        rules.cap_points as current_cap,
        false as current_disqualifies,
    from event_types
    left join definition_behaviour_rules as rules
        on rules.definition_id = $definition_id
        and rules.event_type = event_types.event_type
)

select * from final
order by value
