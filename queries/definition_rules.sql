-- definition_rules.sql: the fit and behaviour rules of one version of the MQL definition.
-- Grain: one row per rule. kind 'fit' rows set attribute, operator, field_type, the operand
-- columns (value, value_list, low, high, low_inclusive, high_inclusive: see
-- definition_fit_rules in schema.sql), points, is_disqualifier and cap_points (`per unit`);
-- kind 'behaviour' rows set event_type, points and cap_points (null: no cap); the columns of
-- the other kind are null.
-- Parameters: $definition_id (integer).

with

fit as (
    select
        'fit' as kind,
        rule_no,
        attribute,
        operator,
        field_type,
        value,
        value_list,
        low,
        high,
        low_inclusive,
        high_inclusive,
        null::varchar as event_type,
        points,
        is_disqualifier,
        cap_points,
    from definition_fit_rules
    where definition_id = $definition_id
),

behaviour as (
    select
        'behaviour' as kind,
        null::integer as rule_no,
        null::varchar as attribute,
        null::varchar as operator,
        null::varchar as field_type,
        null::varchar as value,
        null::varchar[] as value_list,
        null::double as low,
        null::double as high,
        null::boolean as low_inclusive,
        null::boolean as high_inclusive,
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
order by kind, rule_no, event_type
