-- definition_rules.sql: the fit and behaviour rules of one version of the MQL definition.
-- Grain: one row per rule. kind 'fit' rows set attribute, value, points and is_disqualifier;
-- kind 'behaviour' rows set event_type, points and cap_points (null: no cap); the columns of
-- the other kind are null.
-- Parameters: $definition_id (integer).

with

fit as (
    select
        'fit' as kind,
        attribute,
        value,
        null::varchar as event_type,
        points,
        is_disqualifier,
        null::double as cap_points,
    from definition_fit_rules
    where definition_id = $definition_id
),

behaviour as (
    select
        'behaviour' as kind,
        null::varchar as attribute,
        null::varchar as value,
        event_type,
        points,
        null::boolean as is_disqualifier,
        cap_points,
    from definition_behaviour_rules
    where definition_id = $definition_id
),

final as (
    select * from fit
    union all
    select * from behaviour
)

select * from final
order by kind, attribute, value, event_type
