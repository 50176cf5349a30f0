-- rollup_funnel_steps.sql: funnel_steps.sql's rows read from the Funnel page's summary
-- (rollup_funnel_steps_source.sql's rows as rollup_funnel_write.sql kept them): one breakdown's
-- rows summed over the channels in scope.
-- Grain: one row per fiscal quarter of lead creation and segment (funnel_steps.sql's grain).
-- Parameters: $channel (or null for all channels); $dimension (as funnel_steps.sql: null puts
-- every lead in one segment 'all').

with

in_scope as (
    select
        quarter_start,
        case when $dimension::varchar is null then 'all' else segment end as segment,
        count_leads,
        count_reached_mql,
        count_reached_sal,
        count_reached_sql,
        count_reached_customer,
        count_mql_skipped,
    from rollup_funnel_steps
    where dimension = coalesce($dimension::varchar, 'channel')
        and ($channel::varchar is null or channel = $channel::varchar)
),

final as (
    select
        quarter_start,
        segment,
        sum(count_leads)::bigint as count_leads,
        sum(count_reached_mql)::bigint as count_reached_mql,
        sum(count_reached_sal)::bigint as count_reached_sal,
        sum(count_reached_sql)::bigint as count_reached_sql,
        sum(count_reached_customer)::bigint as count_reached_customer,
        sum(count_mql_skipped)::bigint as count_mql_skipped,
    from in_scope
    group by quarter_start, segment
)

select * from final
order by quarter_start, segment
