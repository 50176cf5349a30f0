-- feature_catalogue.sql: every feature the suggested-weights model can learn from, with what MQL
-- definition $definition_id gives for it: each fit attribute value some lead holds, and each
-- event type some event has.
-- Grain: one row per feature: (attribute, value) for a fit value, ('event_type', the type) for
-- an event type.
-- current_points: the definition's points for the value, or per event (0 when it has no rule);
-- current_cap: the cap on the event type's decayed points (null: none); current_disqualifies:
-- the value is one of the definition's disqualifiers.
-- Parameters: $definition_id (integer, or null for no definition).

with

fit_values as (
    select distinct attribute, value
    from lead_fit_attributes
),

event_types as (
    select distinct event_type
    from events
),

fit_features as (
    select
        fit_values.attribute,
        fit_values.value,
        coalesce(rules.points, 0) as current_points,
        null::double as current_cap,
        coalesce(rules.is_disqualifier, false) as current_disqualifies,
    from fit_values
    left join definition_fit_rules as rules
        on rules.definition_id = $definition_id
        and rules.attribute = fit_values.attribute
        and rules.value = fit_values.value
),

behaviour_features as (
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
),

final as (
    select * from fit_features
    union all
    select * from behaviour_features
)

select * from final
order by attribute, value
