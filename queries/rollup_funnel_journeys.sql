-- rollup_funnel_journeys.sql: journeys.sql's rows read from the Funnel page's summary
-- (rollup_funnel_journeys_source.sql's rows as rollup_funnel_write.sql kept them): summed over
-- the channels in scope.
-- Grain: one row per fiscal quarter of lead creation and journey pattern (journeys.sql's grain).
-- Parameters: $channel (or null for all channels).

with

final as (
    select
        quarter_start,
        entry,
        first_response,
        is_recycled,
        is_back,
        second_response,
        outcome,
        is_sal_skipped,
        recycled_outcome,
        sum(count_leads)::bigint as count_leads,
    from rollup_funnel_journeys
    where $channel::varchar is null or channel = $channel::varchar
    group by all
)

select * from final
order by quarter_start, entry, first_response, is_recycled, is_back, second_response, outcome,
    is_sal_skipped, recycled_outcome
