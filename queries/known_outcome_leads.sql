-- known_outcome_leads.sql: the leads old enough for their outcome to be known, whether they
-- reached it, and the moment their features are taken (which never follows the outcome).
-- Grain: one row per lead created on or before $created_before.
-- converted: the lead reached $outcome ('sql': SQL or customer; 'customer': customer) within
-- $horizon_days of its creation, so that old and recent leads are judged over the same span.
-- feature_at: the earlier of the outcome moment and created_at + $window_days.
-- recorded_mql_at: the lead's first MQL moment as the CRM recorded it (null: none).
-- Parameters: $outcome (varchar), $created_before (timestamp), $horizon_days (double),
-- $window_days (double).

with

outcomes as (
    select
        lead_id,
        created_at,
        recorded_mql_at,
        case $outcome
            when 'sql' then reached_sql_at
            when 'customer' then reached_customer_at
        end as outcome_at,
    from lead_milestones
    where created_at <= $created_before::timestamp
),

final as (
    select
        lead_id,
        created_at,
        recorded_mql_at,
        outcome_at,
        coalesce(
            outcome_at <= created_at + to_seconds($horizon_days::double * 86400), false
        ) as converted,
        least(
            created_at + to_seconds($window_days::double * 86400),
            coalesce(outcome_at, created_at + to_seconds($window_days::double * 86400))
        ) as feature_at,
    from outcomes
)

select * from final
order by created_at, lead_id
