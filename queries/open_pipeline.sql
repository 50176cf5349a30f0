-- open_pipeline.sql: the SQLs still open at a moment: reached SQL, not won, not lost.
-- Grain: one row per lead channel and fiscal quarter in which the open SQLs first reached SQL,
-- with how many there are. An SQL is closed once the lead became a customer, or was
-- disqualified, rejected or recycled at or after its SQL moment; only leads created and stage
-- changes recorded before $as_of count.
-- Parameters: $as_of (timestamp, exclusive); $fy_start_month (1-12).

with

changes_known as (
    select stage_changes.lead_id, stage_changes.stage, stage_changes.changed_at,
    from stage_changes
    join leads on leads.lead_id = stage_changes.lead_id
    where stage_changes.changed_at < $as_of::timestamp
        and leads.created_at < $as_of::timestamp
),

sqls as (
    select
        lead_id,
        first_reached_sql(stage, changed_at) as sql_at,
        bool_or(stage = 'customer') as is_won,
    from changes_known
    group by lead_id
    having first_reached_sql(stage, changed_at) is not null
),

lost as (
    select distinct sqls.lead_id,
    from sqls
    join changes_known on changes_known.lead_id = sqls.lead_id
    where changes_known.stage in ('disqualified', 'rejected', 'recycled')
        and changes_known.changed_at >= sqls.sql_at
),

open_sqls as (
    select sqls.lead_id, sqls.sql_at,
    from sqls
    left join lost on lost.lead_id = sqls.lead_id
    where not sqls.is_won and lost.lead_id is null
),

final as (
    select
        leads.channel,
        fiscal_quarter_start(open_sqls.sql_at, $fy_start_month) as sql_quarter,
        count(*) as count_open_sqls,
    from open_sqls
    join leads on leads.lead_id = open_sqls.lead_id
    group by all
)

select * from final
order by channel, sql_quarter
