-- rollup_pages_version.sql: what the Handoff and Data pages' summary (funnelcast.analytics.
-- rollups_pages) is keyed by beyond rollup_data_version.sql's figures: a hash of every lead
-- column the hand-off breakdowns and the Data page's checks read (campaign, company, industry,
-- company size, country, region, job title, seniority), of every stage change's reason and
-- owner, and the row counts of events (the importer only ever adds events, so each import of
-- them changes the count) and targets. A summary whose stored key differs is stale and never
-- read. (lead_id is left out for the reason rollup_data_version.sql gives.)
-- Grain: one row per figure; name, value (as text), ordered by name.
-- Parameters: none.

with

figures as (
    select 'leads_attributes' as name,
        coalesce(bit_xor(hash(
            campaign, company, industry, company_size, country, region, job_title, seniority
        ))::varchar, '') as value
    from leads
    union all
    select 'stage_changes_reasons',
        coalesce(bit_xor(hash(stage, changed_at, reason, owner))::varchar, '')
    from stage_changes
    union all
    select 'events', count(*)::varchar from events
    union all
    select 'targets', count(*)::varchar from targets
),

final as (
    select * from figures
)

select * from final
order by name
