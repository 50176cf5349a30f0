-- computed_mql_moments.sql: when each lead first reached an MQL definition's threshold.
-- Grain: one row per lead that ever reached it (disqualified leads never do).
-- The score is checked when the lead is created and at each of its scoring events; between
-- events it only decays (positive points fade, penalties stand), so these are the moments it
-- can first reach the threshold.
-- At a check, an event type adds min(cap, sum of points x 0.5^(age / half-life)) over the
-- lead's events of that type so far. mql_at is never before the lead was created: events
-- before creation count, decayed, from the creation check on, not at their own moments.
-- Parameters: $definition_id (integer); $threshold (double, or null for the definition's own).

with

definition as (
    select
        definition_id,
        coalesce($threshold::double, threshold) as threshold,
        half_life_days,
    from definitions
    where definition_id = $definition_id
),

fit as (
    select * from lead_fit_points($definition_id)
),

scoring_events as (
    select * from scored_events($definition_id)
),

-- ===== the moments the score is checked =====

checkpoints as (
    select distinct lead_id, occurred_at as checked_at from scoring_events
    union
    select lead_id, created_at from fit where not is_disqualified
),

decayed_by_type as (
    select
        checkpoints.lead_id,
        checkpoints.checked_at,
        scoring_events.event_type,
        any_value(scoring_events.cap_points) as cap_points,
        -- penalties (negative points) do not fade, so between events a score can only fall
        sum(
            scoring_events.points * event_decay(
                scoring_events.points,
                scoring_events.occurred_at,
                checkpoints.checked_at,
                definition.half_life_days
            )
        ) as decayed_points,
    from checkpoints
    join scoring_events
        on scoring_events.lead_id = checkpoints.lead_id
        and scoring_events.occurred_at <= checkpoints.checked_at
    cross join definition
    group by checkpoints.lead_id, checkpoints.checked_at, scoring_events.event_type
),

behaviour_at_checkpoint as (
    select
        lead_id,
        checked_at,
        sum(capped_points(decayed_points, cap_points)) as behaviour_points,
    from decayed_by_type
    group by lead_id, checked_at
),

scores as (
    select
        checkpoints.lead_id,
        checkpoints.checked_at,
        round(fit.fit_points + coalesce(behaviour_at_checkpoint.behaviour_points, 0), 6) as score,
    from checkpoints
    join fit on fit.lead_id = checkpoints.lead_id
    left join behaviour_at_checkpoint
        on behaviour_at_checkpoint.lead_id = checkpoints.lead_id
        and behaviour_at_checkpoint.checked_at = checkpoints.checked_at
    where not fit.is_disqualified
),

final as (
    select
        scores.lead_id,
        min(scores.checked_at) as mql_at,
        arg_min(scores.score, scores.checked_at) as score_at_mql,
    from scores
    join fit on fit.lead_id = scores.lead_id
    cross join definition
    where scores.score >= definition.threshold and scores.checked_at >= fit.created_at
    group by scores.lead_id
)

select * from final
order by lead_id
