-- lead_score_explained.sql: where one lead's MQL score at a moment comes from, rule by rule.
-- Grain: one row per fit rule the lead matches ('fit'), per scoring event of the lead at or
-- before $as_of ('event'), and per event type whose cap cut its decayed sum ('cap', points =
-- cap minus the uncapped sum, so negative). The points column adds up to the lead's score at
-- $as_of before rounding, the score of lead_scores.sql; a matching disqualifier shows with
-- is_disqualifier true (the lead keeps its score but can never be an MQL).
-- The definition comes as parallel lists, so that a draft can be explained before it is saved.
-- Events decay by 0.5^(age / half-life); penalties (negative points) do not decay.
-- Parameters: $lead_id (varchar), $as_of (timestamp), $half_life_days (double);
-- $fit_attributes, $fit_values (varchar[]), $fit_points (double[]), $fit_disqualifies
-- (boolean[]); $event_types (varchar[]), $event_points (double[]), $event_caps (double[],
-- null for no cap).

with

fit_rules as (
    select
        unnest($fit_attributes::varchar[]) as attribute,
        unnest($fit_values::varchar[]) as value,
        unnest($fit_points::double[]) as points,
        unnest($fit_disqualifies::boolean[]) as is_disqualifier,
),

behaviour_rules as (
    select
        unnest($event_types::varchar[]) as event_type,
        unnest($event_points::double[]) as points,
        unnest($event_caps::double[]) as cap_points,
),

fit as (
    select
        'fit' as kind,
        fit_rules.attribute || '=' || fit_rules.value as rule,
        null::timestamp as occurred_at,
        null::double as age_days,
        null::double as decay,
        fit_rules.points,
        fit_rules.is_disqualifier,
    from lead_fit_attributes
    join fit_rules
        on fit_rules.attribute = lead_fit_attributes.attribute
        and fit_rules.value = lead_fit_attributes.value
    where lead_fit_attributes.lead_id = $lead_id
),

scoring_events as (
    select
        events.event_type,
        events.occurred_at,
        (epoch($as_of::timestamp) - epoch(events.occurred_at)) / 86400.0 as age_days,
        behaviour_rules.points as rule_points,
        behaviour_rules.cap_points,
        event_decay(
            behaviour_rules.points, events.occurred_at, $as_of::timestamp, $half_life_days::double
        ) as decay,
    from events
    join behaviour_rules on behaviour_rules.event_type = events.event_type
    where events.lead_id = $lead_id and events.occurred_at <= $as_of::timestamp
),

event_rows as (
    select
        'event' as kind,
        event_type as rule,
        occurred_at,
        age_days,
        decay,
        rule_points * decay as points,
        false as is_disqualifier,
    from scoring_events
),

-- the part of a type's decayed sum above its cap does not count
cap_rows as (
    select
        'cap' as kind,
        event_type as rule,
        null::timestamp as occurred_at,
        null::double as age_days,
        null::double as decay,
        any_value(cap_points) - sum(rule_points * decay) as points,
        false as is_disqualifier,
    from scoring_events
    where cap_points is not null
    group by event_type
    having sum(rule_points * decay) > any_value(cap_points)
),

final as (
    select * from fit
    union all
    select * from event_rows
    union all
    select * from cap_rows
)

select * from final
order by
    case kind when 'fit' then 0 when 'event' then 1 else 2 end,
    rule,
    occurred_at
