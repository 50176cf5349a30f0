-- known_lead_fit.sql: the fit part of MQL definition $definition_id's score for the leads the
-- suggested-weights model learns from (fit rules on any field, every operator, as lead_fit in
-- queries/shared.sql applies them).
-- Grain: one row per lead in feature_moments that matches at least one of the definition's fit
-- rules: fit_points and is_disqualified.
-- Reads feature_moments (lead_key, lead_id), provided by the caller.
-- Parameters: $definition_id (integer).

with

final as (
    select
        feature_moments.lead_key,
        lead_fit.fit_points,
        lead_fit.is_disqualified,
    from feature_moments
    join lead_fit
        on lead_fit.lead_id = feature_moments.lead_id
        and lead_fit.definition_id = $definition_id
)

select * from final
