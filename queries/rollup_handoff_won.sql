-- rollup_handoff_won.sql: the hand-offs rejected as 'not ready' whose lead became a customer
-- afterwards, as rollup_pages_write.sql kept them, for one channel or all, in
-- handoff_mqls.sql's order (by hand-off time, then lead).
-- Grain: one row per such hand-off.
-- Parameters: $channel (or null for all).

with

final as (
    select
        quarter_start, lead_id, channel, handed_at, responded_at, reached_customer_at, revenue,
        row_order,
    from rollup_handoff_won
    where $channel::varchar is null or channel = $channel::varchar
)

select * exclude (row_order) from final
order by row_order
