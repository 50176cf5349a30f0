-- data_extent.sql: what is loaded: rows and time span per table.
-- Grain: one row per canonical data table (leads, events, stage_changes, spend, targets).
-- Parameters: none.

with

extents as (
    select 'leads' as table_name, count(*) as count_rows,
        min(created_at) as first_at, max(created_at) as last_at
    from leads
    union all
    select 'events', count(*), min(occurred_at), max(occurred_at) from events
    union all
    select 'stage_changes', count(*), min(changed_at), max(changed_at) from stage_changes
    union all
    select 'spend', count(*), min(period_start)::timestamp, max(period_start)::timestamp from spend
    union all
    select 'targets', count(*), min(quarter_start)::timestamp, max(quarter_start)::timestamp
    from targets
),

final as (
    select * from extents
)

select * from final
order by table_name
