-- lab_counts.sql: what the Threshold Lab's memory grows with, counted before it materialises
-- (funnelcast.lab.budget predicts its peak from them).
-- Grain: one row. leads: every lead; events: the events of the given types; stage_changes:
-- every stage change (the lead milestones the Lab reads are worked out from them);
-- attribute_values: the custom attribute values of the given fields.
-- Parameters: $event_types (varchar[]), $fields (varchar[]).

with

lead_count as (
    select count(*) as leads, from leads
),

event_count as (
    select count(*) as events,
    from events
    where list_contains($event_types::varchar[], events.event_type)
),

stage_change_count as (
    select count(*) as stage_changes, from stage_changes
),

attribute_value_count as (
    select count(*) as attribute_values,
    from lead_attributes
    where list_contains($fields::varchar[], lead_attributes.attribute)
),

final as (
    select
        lead_count.leads,
        event_count.events,
        stage_change_count.stage_changes,
        attribute_value_count.attribute_values,
    from lead_count
    cross join event_count
    cross join stage_change_count
    cross join attribute_value_count
)

select * from final
