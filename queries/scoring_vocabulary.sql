-- scoring_vocabulary.sql: the values rules can match in the data: each fit attribute's values
-- (company size as lead_fit_attributes bands it) and each event type, with how often they occur.
-- Grain: one row per kind ('fit' or 'behaviour'), attribute and value; behaviour rows have
-- attribute 'event_type' and the event type as value. occurrences counts leads for fit rows
-- (a lead has one value per attribute) and events for behaviour rows.
-- Parameters: none.

with

fit_values as (
    select 'fit' as kind, attribute, value, count(*) as occurrences,
    from lead_fit_attributes
    group by attribute, value
),

event_types as (
    select 'behaviour' as kind, 'event_type' as attribute, event_type as value,
        count(*) as occurrences,
    from events
    group by event_type
),

final as (
    select * from fit_values
    union all
    select * from event_types
)

select * from final
order by kind, attribute, value
