-- rule_match_counts.sql: how many leads each fit rule of a draft matches, and what its field
-- holds in the data, so that a save can warn about a rule that matches no lead and say why.
-- Grain: one row per rule of the draft. matched_leads: the leads the rule matches, as the view
-- lead_fit_matches (shared.sql) will once the draft is saved (`is unknown`: leads without a
-- value; `within`: a date that many days either side of creation); known_leads: leads with a
-- value for the rule's field; leads: every lead; min_number / max_number: the range of the
-- field's numbers (numbers, dates in epoch seconds, yes/no as 1 / 0); text_values: the first
-- 13 of the field's distinct texts, sorted, and distinct_texts: how many there are.
-- The rules come as parallel lists (definitions.fit_rule_lists), so that an unsaved draft can
-- be counted. Parameters: $fit_rule_no (integer[]); $fit_attribute, $fit_operator, $fit_value
-- (varchar[]); $fit_value_list (varchar[][]); $fit_low, $fit_high (double[]);
-- $fit_low_inclusive, $fit_high_inclusive (boolean[]).

with

rules as (
    select
        unnest($fit_rule_no::integer[]) as rule_no,
        unnest($fit_attribute::varchar[]) as attribute,
        unnest($fit_operator::varchar[]) as operator,
        unnest($fit_value::varchar[]) as value,
        unnest($fit_value_list::varchar[][]) as value_list,
        unnest($fit_low::double[]) as low,
        unnest($fit_high::double[]) as high,
        unnest($fit_low_inclusive::boolean[]) as low_inclusive,
        unnest($fit_high_inclusive::boolean[]) as high_inclusive,
),

rule_fields as (
    select distinct attribute from rules
),

field_values as (
    select lead_field_values.lead_id, lead_field_values.field, lead_field_values.text_value,
        lead_field_values.number_value,
    from lead_field_values
    join rule_fields on rule_fields.attribute = lead_field_values.field
),

known_matches as (
    select rules.rule_no, field_values.lead_id,
    from field_values
    join rules on rules.attribute = field_values.field
    where rules.operator not in ('is unknown', 'within')
        and fit_rule_matches(
            rules.operator, rules.value, rules.value_list, rules.low, rules.high,
            rules.low_inclusive, rules.high_inclusive,
            field_values.text_value, field_values.number_value
        )
),

within_matches as (
    select rules.rule_no, field_values.lead_id,
    from field_values
    join rules on rules.attribute = field_values.field
    join leads on leads.lead_id = field_values.lead_id
    where rules.operator = 'within'
        and abs(field_values.number_value - epoch(leads.created_at)) <= rules.high
),

unknown_matches as (
    select rules.rule_no, leads.lead_id,
    from leads
    join rules on rules.operator = 'is unknown'
    left join field_values
        on field_values.lead_id = leads.lead_id and field_values.field = rules.attribute
    where field_values.lead_id is null
),

matched as (
    select rule_no, count(distinct lead_id) as matched_leads,
    from (
        select * from known_matches
        union all
        select * from within_matches
        union all
        select * from unknown_matches
    )
    group by rule_no
),

field_summary as (
    select
        field,
        count(distinct lead_id) as known_leads,
        min(number_value) as min_number,
        max(number_value) as max_number,
    from field_values
    group by field
),

distinct_texts as (
    select field, text_value,
    from field_values
    where text_value is not null
    group by field, text_value
),

field_texts as (
    select
        field,
        list_slice(list(text_value order by text_value), 1, 13) as text_values,
        count(*) as distinct_texts,
    from distinct_texts
    group by field
),

final as (
    select
        rules.rule_no,
        rules.attribute,
        rules.operator,
        coalesce(matched.matched_leads, 0) as matched_leads,
        coalesce(field_summary.known_leads, 0) as known_leads,
        (select count(*) from leads) as leads,
        field_summary.min_number,
        field_summary.max_number,
        coalesce(field_texts.text_values, []::varchar[]) as text_values,
        coalesce(field_texts.distinct_texts, 0) as distinct_texts,
    from rules
    left join matched on matched.rule_no = rules.rule_no
    left join field_summary on field_summary.field = rules.attribute
    left join field_texts on field_texts.field = rules.attribute
)

select * from final
order by rule_no
