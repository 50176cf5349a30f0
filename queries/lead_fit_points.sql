-- lead_fit_points.sql: each lead's fit points and whether a disqualifier matches it.
-- Grain: one row per lead. Parameters: $definition_id (integer).

with

final as (
    select
        leads.lead_id,
        leads.created_at,
        coalesce(lead_fit.fit_points, 0) as fit_points,
        coalesce(lead_fit.is_disqualified, false) as is_disqualified,
    from leads
    left join lead_fit
        on lead_fit.lead_id = leads.lead_id
        and lead_fit.definition_id = $definition_id
)

select * from final
order by lead_id
