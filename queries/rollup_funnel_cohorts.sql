-- rollup_funnel_cohorts.sql: cohort_curves.sql's rows read from the Funnel page's summary
-- (rollup_funnel_cohorts_source.sql's rows as rollup_funnel_write.sql kept them, for both
-- grains, at the as-of moment rollup_funnel_state.sql gives): summed over the channels in scope.
-- Grain: one row per MQL cohort, outcome and day (cohort_curves.sql's grain).
-- Parameters: $grain ('quarter' or 'month'); $channel (or null for all channels).

with

final as (
    select
        cohort_start,
        outcome,
        day,
        sum(count_converted)::bigint as count_converted,
        sum(count_censored)::bigint as count_censored,
    from rollup_funnel_cohorts
    where grain = $grain::varchar
        and ($channel::varchar is null or channel = $channel::varchar)
    group by cohort_start, outcome, day
)

select * from final
order by cohort_start, outcome, day
