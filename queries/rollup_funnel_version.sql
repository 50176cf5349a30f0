-- rollup_funnel_version.sql: what the Funnel page's summary (funnelcast.analytics.rollups_funnel)
-- reads beyond rollup_data_version.sql's figures, which key it too: the leads' breakdown
-- attributes (seniority, company size, industry, region; channel, campaign and creation time are
-- rollup_data_version.sql's). A summary whose key differs from the data's is never read. (The
-- key takes the events' count and time span from data_extent.sql, which every page counts
-- already, rather than hash 200M events on a first visit: every import changes the import
-- fingerprints rollup_data_version.sql reads, and the as-of moment the cohort curves were
-- counted to is kept beside the summary and compared with the data's. As in
-- rollup_data_version.sql, lead_id is left out of the hash.)
-- Grain: one row per figure; name, value (as text), ordered by name.
-- Parameters: none.

with

figures as (
    select 'lead_attributes' as name,
        count(*)::varchar
        || ' ' || coalesce(bit_xor(hash(seniority, company_size, industry, region))::varchar, '')
        as value
    from leads
),

final as (
    select * from figures
)

select * from final
order by name
