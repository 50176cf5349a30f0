-- lead_score_explained.sql: where one lead's MQL score at a moment comes from, rule by rule.
-- Grain: one row per fit rule the lead matches ('fit'), per scoring event of the lead at or
-- before $as_of ('event'), and per event type whose cap cut its decayed sum ('cap', points =
-- cap minus the uncapped sum, so negative). The points column adds up to the lead's score at
-- $as_of before rounding, the score of lead_scores.sql; a matching disqualifier shows with
-- is_disqualifier true (the lead keeps its score but can never be an MQL).
-- The definition comes as parallel lists, so that a draft can be explained before it is saved.
-- Events decay by 0.5^(age / half-life); penalties (negative points) do not decay.
-- Each fit row names the rule and the lead's value of its field (lead_value: the text, the
-- number, the date or Yes/No; null for `is unknown`).
-- Parameters: $lead_id (varchar), $as_of (timestamp), $half_life_days (double); the fit rules
-- as parallel lists, as definitions.fit_rule_lists gives them ($fit_rule_no, $fit_attribute,
-- $fit_operator, $fit_field_type, $fit_value, $fit_value_list, $fit_low, $fit_high,
-- $fit_low_inclusive, $fit_high_inclusive, $fit_points, $fit_is_disqualifier,
-- $fit_cap_points) and $fit_label (varchar[]: each rule in words); $event_types (varchar[]),
-- $event_points (double[]), $event_caps (double[], null for no cap).

with

fit_rules as (
    select
        unnest($fit_rule_no::integer[]) as rule_no,
        unnest($fit_attribute::varchar[]) as attribute,
        unnest($fit_operator::varchar[]) as operator,
        unnest($fit_field_type::varchar[]) as field_type,
        unnest($fit_value::varchar[]) as value,
        unnest($fit_value_list::varchar[][]) as value_list,
        unnest($fit_low::double[]) as low,
        unnest($fit_high::double[]) as high,
        unnest($fit_low_inclusive::boolean[]) as low_inclusive,
        unnest($fit_high_inclusive::boolean[]) as high_inclusive,
        unnest($fit_points::double[]) as points,
        unnest($fit_is_disqualifier::boolean[]) as is_disqualifier,
        unnest($fit_cap_points::double[]) as cap_points,
        unnest($fit_label::varchar[]) as label,
),

behaviour_rules as (
    select
        unnest($event_types::varchar[]) as event_type,
        unnest($event_points::double[]) as points,
        unnest($event_caps::double[]) as cap_points,
),

the_lead as (
    select lead_id, created_at from leads where lead_id = $lead_id
),

lead_values as (
    select field, text_value, number_value
    from lead_field_values
    where lead_id = $lead_id
),

fit_matches as (
    select
        fit_rules.*,
        lead_values.text_value,
        lead_values.number_value,
    from fit_rules
    cross join the_lead
    left join lead_values on lead_values.field = fit_rules.attribute
    where case
        when fit_rules.operator = 'is unknown' then lead_values.field is null
        when fit_rules.operator = 'within' then
            abs(lead_values.number_value - epoch(the_lead.created_at)) <= fit_rules.high
        else lead_values.field is not null and fit_rule_matches(
            fit_rules.operator, fit_rules.value, fit_rules.value_list, fit_rules.low,
            fit_rules.high, fit_rules.low_inclusive, fit_rules.high_inclusive,
            lead_values.text_value, lead_values.number_value
        )
    end
),

fit as (
    select
        'fit' as kind,
        label as rule,
        null::timestamp as occurred_at,
        null::double as age_days,
        null::double as decay,
        fit_rule_points(operator, points, cap_points, number_value) as points,
        is_disqualifier,
        case
            when text_value is not null then text_value
            when number_value is null then null
            when field_type = 'date' then strftime(to_timestamp(number_value)::timestamp, '%Y-%m-%d')
            when field_type = 'yes/no' then case when number_value = 1 then 'Yes' else 'No' end
            else regexp_replace(printf('%.6f', number_value), '\.?0+$', '')
        end as lead_value,
    from fit_matches
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
        null::varchar as lead_value,
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
        null::varchar as lead_value,
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
