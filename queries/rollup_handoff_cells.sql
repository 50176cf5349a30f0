-- rollup_handoff_cells.sql: the hand-offs as rollup_pages_write.sql kept them, counted by
-- quarter, channel, sales' answer, rejection reason, business days waited (answered) or since
-- the hand-off (unanswered) and what followed (funnelcast.analytics.handoff.tables_of), for one
-- channel or all. mature: handed over before the hand-offs' maturity cutoff of the scope (all
-- channels' for all, the channel's own for one).
-- Grain: one row per combination of those values that has hand-offs (handoffs > 0).
-- Parameters: $channel (or null for all).

with

final as (
    select
        quarter_start, channel, response, response_reason, wait_business_days,
        age_business_days, reached_sql, reached_customer, sql_after_answer,
        case when $channel::varchar is null then mature_all else mature_own end as mature,
        handoffs,
    from rollup_handoff_cells
    where $channel::varchar is null or channel = $channel::varchar
)

select * from final
