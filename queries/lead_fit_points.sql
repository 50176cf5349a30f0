-- lead_fit_points.sql: each lead's fit points and whether a disqualifier matches it.
-- Grain: one row per lead. Parameters: $definition_id (integer).

with

fit as (
    select
        lead_fit_attributes.lead_id,
        sum(rules.points) as fit_points,
        bool_or(rules.is_disqualifier) as is_disqualified,
    from lead_fit_attributes
    join definition_fit_rules as rules
        on rules.attribute = lead_fit_attributes.attribute
        and rules.value = lead_fit_attributes.value
        and rules.definition_id = $definition_id
    group by lead_fit_attributes.lead_id
),

final as (
    select
        leads.lead_id,
        leads.created_at,
        coalesce(fit.fit_points, 0) as fit_points,
        coalesce(fit.is_disqualified, false) as is_disqualified,
    from leads
    left join fit on fit.lead_id = leads.lead_id
)

select * from final
order by lead_id
