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

behaviour_rules as (
    select event_type, points, cap_points
    from definition_behaviour_rules
    where definition_id = $definition_id
),

fit as (
    select lead_id, fit_points, is_disqualified
    from lead_fit
    where definition_id = $definition_id
),

decayed_by_type as (
    select
        events.lead_id,
        events.event_type,
        any_value(behaviour_rules.cap_points) as cap_points,
        sum(
            behaviour_rules.points
            -- penalties (negative points) do not fade: an unsubscribe stands until undone
            * case
                when behaviour_rules.points < 0 then 1.0
                else pow(0.5, (epoch($as_of::timestamp) - epoch(events.occurred_at)) / 86400.0
                              / definition.half_life_days)
            end
        ) as decayed_points,
    from events
    join behaviour_rules on behaviour_rules.event_type = events.event_type
    cross join definition
    where events.occurred_at <= $as_of::timestamp
    group by events.lead_id, events.event_type
),

behaviour as (
    select
        lead_id,
        sum(
            case when cap_points is null then decayed_points else least(decayed_points, cap_points) end
        ) as behaviour_points,
    from decayed_by_type
    group by lead_id
),

final as (
    select
        leads.lead_id,
        coalesce(fit.fit_points, 0) as fit_points,
        coalesce(behaviour.behaviour_points, 0) as behaviour_points,
        round(coalesce(fit.fit_points, 0) + coalesce(behaviour.behaviour_points, 0), 6) as score,
        coalesce(fit.is_disqualified, false) as is_disqualified,
        not coalesce(fit.is_disqualified, false)
            and round(coalesce(fit.fit_points, 0) + coalesce(behaviour.behaviour_points, 0), 6)
                >= definition.threshold as is_above_threshold,
    from leads
    cross join definition
    left join fit on fit.lead_id = leads.lead_id
    left join behaviour on behaviour.lead_id = leads.lead_id
    where leads.created_at <= $as_of::timestamp
)

select * from final
order by lead_id
