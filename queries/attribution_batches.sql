-- attribution_batches.sql: where each batch of dealing leads begins, for reading the deals'
-- journeys (queries/attribution_touches.sql) a bounded batch at a time.
-- Grain: one row per batch, lead_from = the smallest lead_id of the batch, in lead_id order; a
-- batch holds $batch_leads leads with a customer stage change (the last one fewer), and runs to
-- the next batch's lead_from (the last one: to the end).
-- Parameters: $batch_leads (> 0).

with

dealing as (
    select distinct lead_id
    from stage_changes
    where stage = 'customer'
),

numbered as (
    select
        lead_id,
        row_number() over (order by lead_id) as n,
    from dealing
)

select lead_id as lead_from
from numbered
where (n - 1) % $batch_leads = 0
order by lead_from
