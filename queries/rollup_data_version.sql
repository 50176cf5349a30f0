-- rollup_data_version.sql: what the funnel summary (funnelcast.analytics.rollups) is keyed by:
-- every row count, time span and amount total of the tables the recorded funnel and ROI read (leads,
-- stage_changes, spend), a hash of the leads' channels, campaigns and creation times, of the
-- stage changes' stages, times and amounts and of every spend row, and every meta setting but the currency (a label, no
-- count): fiscal year, as-of, import fingerprints. A summary whose stored key differs from this
-- one is stale and never read. (lead_id is left out of the hashes: hashing it costs ten times
-- the rest at 10M leads; only a writer other than Funnelcast's, moving rows between leads and
-- changing nothing else, goes unseen, and `funnelcast summarize` then makes the summary again.)
-- Grain: one row per figure; name, value (as text), ordered by name.
-- Parameters: none.

with

figures as (
    select 'leads' as name,
        count(*)::varchar || ' ' || coalesce(min(created_at)::varchar, '')
        || ' ' || coalesce(max(created_at)::varchar, '')
        || ' ' || coalesce(bit_xor(hash(channel, campaign, created_at))::varchar, '') as value
    from leads
    union all
    select 'stage_changes',
        count(*)::varchar || ' ' || coalesce(min(changed_at)::varchar, '')
        || ' ' || coalesce(max(changed_at)::varchar, '')
        || ' ' || coalesce(sum(amount)::varchar, '')
        || ' ' || coalesce(bit_xor(hash(stage, changed_at, amount))::varchar, '')
    from stage_changes
    union all
    select 'spend',
        count(*)::varchar || ' ' || coalesce(min(period_start)::varchar, '')
        || ' ' || coalesce(max(period_start)::varchar, '')
        || ' ' || coalesce(sum(amount)::varchar, '')
        || ' ' || coalesce(bit_xor(hash(period_start, channel, campaign, amount))::varchar, '')
    from spend
),

settings as (
    select 'meta:' || key as name, value from meta
    where key <> 'currency'
),

final as (
    select * from figures
    union all
    select * from settings
)

select * from final
order by name
