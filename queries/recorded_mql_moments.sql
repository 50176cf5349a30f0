-- recorded_mql_moments.sql: when each lead first became an MQL, as the CRM recorded it.
-- Grain: one row per lead with at least one recorded MQL stage change.
-- Parameters: none.

with

final as (
    select
        lead_id,
        recorded_mql_at as mql_at,
    from lead_milestones
    where recorded_mql_at is not null
)

select * from final
order by lead_id
