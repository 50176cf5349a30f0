-- lab_check_events.sql: the events of the given types, as small numbers, for the Threshold
-- Lab's decayed sums (it counts events of one lead, moment and type together itself).
-- Grain: one row per event whose type is in $event_types. type_index is the type's 0-based
-- position in that list; lead_index the lead's 0-based position in lead_id order (as in
-- lab_leads.sql); occurred_us microseconds since the Unix epoch (UTC).
-- Parameters: $event_types (varchar[]).

with

numbered as (
    select
        lead_id,
        row_number() over (order by lead_id) - 1 as lead_index,
    from leads
),

final as (
    select
        numbered.lead_index::integer as lead_index,
        epoch_us(events.occurred_at) as occurred_us,
        (list_position($event_types::varchar[], events.event_type) - 1)::smallint as type_index,
    from events
    join numbered on numbered.lead_id = events.lead_id
    where list_contains($event_types::varchar[], events.event_type)
)

-- In no particular order: the Lab sorts them itself (lab_kernels.sort_events), in a fraction of
-- the memory an ORDER BY of every event takes.
select * from final
