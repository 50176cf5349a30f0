-- column_nulls.sql: how complete each loaded column is: rows and empty (null) values.
-- Grain: one row per canonical data table and column (leads, events, stage_changes, spend,
-- targets), in schema order.
-- Parameters: none.

with

leads_nulls as (
    select
        count(*) as count_rows,
        count(*) - count(lead_id) as lead_id,
        count(*) - count(created_at) as created_at,
        count(*) - count(channel) as channel,
        count(*) - count(campaign) as campaign,
        count(*) - count(company) as company,
        count(*) - count(industry) as industry,
        count(*) - count(company_size) as company_size,
        count(*) - count(country) as country,
        count(*) - count(region) as region,
        count(*) - count(job_title) as job_title,
        count(*) - count(seniority) as seniority,
    from leads
),

events_nulls as (
    select
        count(*) as count_rows,
        count(*) - count(lead_id) as lead_id,
        count(*) - count(occurred_at) as occurred_at,
        count(*) - count(event_type) as event_type,
        count(*) - count(content_stage) as content_stage,
        count(*) - count(channel) as channel,
        count(*) - count(campaign) as campaign,
    from events
),

stage_changes_nulls as (
    select
        count(*) as count_rows,
        count(*) - count(lead_id) as lead_id,
        count(*) - count(stage) as stage,
        count(*) - count(changed_at) as changed_at,
        count(*) - count(reason) as reason,
        count(*) - count(amount) as amount,
        count(*) - count(owner) as owner,
    from stage_changes
),

spend_nulls as (
    select
        count(*) as count_rows,
        count(*) - count(period_start) as period_start,
        count(*) - count(channel) as channel,
        count(*) filter (where campaign is null or campaign = '') as campaign,
        count(*) - count(amount) as amount,
    from spend
),

targets_nulls as (
    select
        count(*) as count_rows,
        count(*) - count(quarter_start) as quarter_start,
        count(*) - count(target_customers) as target_customers,
        count(*) - count(target_revenue) as target_revenue,
    from targets
),

-- ordinal keeps the schema's column order through the unpivots
unpivoted as (
    select 1 as table_order, 'leads' as table_name, count_rows, column_name, count_nulls
    from (unpivot leads_nulls on columns(* exclude (count_rows))
          into name column_name value count_nulls)
    union all
    select 2, 'events', count_rows, column_name, count_nulls
    from (unpivot events_nulls on columns(* exclude (count_rows))
          into name column_name value count_nulls)
    union all
    select 3, 'stage_changes', count_rows, column_name, count_nulls
    from (unpivot stage_changes_nulls on columns(* exclude (count_rows))
          into name column_name value count_nulls)
    union all
    select 4, 'spend', count_rows, column_name, count_nulls
    from (unpivot spend_nulls on columns(* exclude (count_rows))
          into name column_name value count_nulls)
    union all
    select 5, 'targets', count_rows, column_name, count_nulls
    from (unpivot targets_nulls on columns(* exclude (count_rows))
          into name column_name value count_nulls)
),

final as (
    select
        unpivoted.table_name,
        unpivoted.column_name,
        unpivoted.count_rows,
        unpivoted.count_nulls,
        columns.column_index,
        unpivoted.table_order,
    from unpivoted
    join duckdb_columns() as columns
        on columns.table_name = unpivoted.table_name
        and columns.column_name = unpivoted.column_name
        and columns.schema_name = 'main'
)

select table_name, column_name, count_rows, count_nulls from final
order by table_order, column_index
