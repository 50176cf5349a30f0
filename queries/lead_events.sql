-- lead_events.sql: the events of chosen leads, counted per lead, event type and moment: what a
-- definition that is not saved (a suggested draft) is scored from over the leads' whole history.
-- Grain: one row per lead in chosen_leads, event type and moment it occurred (count_events >= 1).
-- Reads chosen_leads (lead_id), provided by the caller.
-- Parameters: none.

with

final as (
    select
        events.lead_id,
        events.event_type,
        events.occurred_at,
        count(*) as count_events,
    from events
    join chosen_leads on chosen_leads.lead_id = events.lead_id
    group by events.lead_id, events.event_type, events.occurred_at
)

select * from final
order by lead_id, event_type, occurred_at
