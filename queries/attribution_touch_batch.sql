-- attribution_touch_batch.sql: one batch of the deals' touches held in the temporary table
-- deal_touches (attribution_touches.sql's rows, read once by funnelcast.analytics.
-- attribution_kept, or attribution_kept_decay.sql's), in attribution_touches.sql's order.
-- Grain: one row per deal and touch of the leads with lead_from <= lead_id < lead_to.
-- Parameters: $lead_from, $lead_to (NULL: no bound; queries/attribution_batches.sql's bounds).

with

final as (
    select *
    from deal_touches
    where ($lead_from is null or lead_id >= $lead_from)
        and ($lead_to is null or lead_id < $lead_to)
)

select * from final
order by quarter_start, lead_id, deal_at, touch_index
