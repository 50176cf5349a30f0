-- rollup_handoff_segments.sql: the hand-offs as rollup_pages_write.sql kept them, counted by
-- quarter, channel, the segment of one breakdown, sales' answer and rejection reason, for one
-- channel or all.
-- Grain: one row per quarter, channel, segment, answer and reason with hand-offs.
-- Parameters: $channel (or null for all); $dimension (a segment column name of
-- funnelcast.analytics.scope.DIMENSIONS).

with

final as (
    select quarter_start, channel, segment, response, response_reason, handoffs,
    from rollup_handoff_segments
    where dimension = $dimension::varchar
        and ($channel::varchar is null or channel = $channel::varchar)
)

select * from final
