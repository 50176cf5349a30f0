-- lead_fit_points.sql: each lead's fit points and whether a disqualifier matches it.
-- Grain: one row per lead. Parameters: $definition_id (integer).

with

final as (
    select * from lead_fit_points($definition_id)
)

select * from final
order by lead_id
