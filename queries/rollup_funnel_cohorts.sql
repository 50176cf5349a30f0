-- rollup_funnel_cohorts.sql: cohort_curves.sql's rows read from the Funnel page's summary (its
-- rows for every channel as rollup_funnel_write.sql kept them, for both grains, at the as-of
-- moment rollup_funnel_state.sql gives): those of the channels in scope.
-- Grain: one row per MQL cohort, lead channel, outcome and day (cohort_curves.sql's grain).
-- Parameters: $grain ('quarter' or 'month'); $channel (or null for all channels).

with

final as (
    select cohort_start, channel, outcome, day, count_converted, count_censored,
    from rollup_funnel_cohorts
    where grain = $grain::varchar
        and ($channel::varchar is null or channel = $channel::varchar)
)

select * from final
order by cohort_start, channel, outcome, day
