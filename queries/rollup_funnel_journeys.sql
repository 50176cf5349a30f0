-- rollup_funnel_journeys.sql: journeys.sql's rows read from the Funnel page's summary
-- (rollup_funnel_write.sql keeps journeys.sql's rows of every channel): the channel in scope.
-- Grain: journeys.sql's (fiscal quarter of lead creation, lead channel, journey pattern).
-- Parameters: $channel (or null for all channels).

with

final as (
    select *
    from rollup_funnel_journeys
    where $channel::varchar is null or channel = $channel::varchar
)

select * from final
order by quarter_start, channel, entry, first_response, is_recycled, is_back, second_response,
    outcome, is_sal_skipped, recycled_outcome
