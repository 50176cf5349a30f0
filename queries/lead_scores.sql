-- lead_scores.sql: each lead's MQL score as of a moment, under one MQL definition.
-- Grain: one row per lead created on or before $as_of.
-- score = fit points + for each scoring event type, min(cap, sum of points x 0.5^(age / half-life))
-- over the lead's events of that type up to $as_of (negative points, penalties, do not decay); a disqualified lead keeps its score but
-- is_disqualified tells it can never be an MQL.
-- Parameters: $definition_id (integer), $as_of (timestamp).

with

definition as (
    select definition_id, threshold, half_life_days
    from definitions
    where definition_id = $definition_id
),

decayed_by_type as (
    select
        scored.lead_id,
        scored.event_type,
        any_value(scored.cap_points) as cap_points,
        sum(
            scored.points * event_decay(
                scored.points, scored.occurred_at, $as_of::timestamp, definition.half_life_days
            )
        ) as decayed_points,
    from scored_events($definition_id) as scored
    cross join definition
    where scored.occurred_at <= $as_of::timestamp
    group by scored.lead_id, scored.event_type
),

behaviour as (
    select
        lead_id,
        sum(capped_points(decayed_points, cap_points)) as behaviour_points,
    from decayed_by_type
    group by lead_id
),

final as (
    select
        fit.lead_id,
        fit.fit_points,
        coalesce(behaviour.behaviour_points, 0) as behaviour_points,
        round(fit.fit_points + coalesce(behaviour.behaviour_points, 0), 6) as score,
        fit.is_disqualified,
        not fit.is_disqualified
            and round(fit.fit_points + coalesce(behaviour.behaviour_points, 0), 6)
                >= definition.threshold as is_above_threshold,
    from lead_fit_points($definition_id) as fit
    cross join definition
    left join behaviour on behaviour.lead_id = fit.lead_id
    where fit.created_at <= $as_of::timestamp
)

select * from final
order by lead_id
