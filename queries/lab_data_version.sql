-- lab_data_version.sql: what the Threshold Lab's kept history (funnelcast.lab.stored) is keyed
-- by, beside the file's own size and modification time: the rows of every table it or its
-- definitions read, and the meta settings (fiscal year, as-of, import fingerprints).
-- Grain: one row per table count or meta key; name, value (as text), ordered by name.
-- Parameters: none.

with

counts as (
    select 'rows:leads' as name, count(*)::varchar as value from leads
    union all
    select 'rows:events', count(*)::varchar from events
    union all
    select 'rows:stage_changes', count(*)::varchar from stage_changes
    union all
    select 'rows:lead_attributes', count(*)::varchar from lead_attributes
    union all
    select 'rows:lead_attribute_types', count(*)::varchar from lead_attribute_types
    union all
    select 'rows:spend', count(*)::varchar from spend
    union all
    select 'rows:targets', count(*)::varchar from targets
    union all
    select 'rows:definitions', count(*)::varchar from definitions
    union all
    select 'rows:definition_fit_rules', count(*)::varchar from definition_fit_rules
    union all
    select 'rows:definition_behaviour_rules', count(*)::varchar from definition_behaviour_rules
),

settings as (
    select 'meta:' || key as name, value from meta
),

final as (
    select * from counts
    union all
    select * from settings
)

select * from final
order by name
