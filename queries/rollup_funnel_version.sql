-- rollup_funnel_version.sql: what the Funnel page's summary (funnelcast.analytics.rollups_funnel)
-- reads beyond rollup_data_version.sql's figures, which key it too: the leads' breakdown
-- attributes (seniority, company size, industry, region; channel, campaign and creation time are
-- rollup_data_version.sql's) and the demo requests journeys.sql reads from the events (their
-- count and a hash of their times). A summary whose key differs from the data's is never read.
-- (As rollup_data_version.sql, lead_id is left out of the hashes; the as-of moment the cohort
-- curves were counted to is kept beside the summary and compared with the data's.)
-- Grain: one row per figure; name, value (as text), ordered by name.
-- Parameters: none.

with

figures as (
    select 'lead_attributes' as name,
        count(*)::varchar
        || ' ' || coalesce(bit_xor(hash(seniority, company_size, industry, region))::varchar, '')
        as value
    from leads
    union all
    select 'demo_requests',
        count(*)::varchar || ' ' || coalesce(bit_xor(hash(occurred_at))::varchar, '')
    from events
    where event_type = 'demo_request'
),

final as (
    select * from figures
)

select * from final
order by name
