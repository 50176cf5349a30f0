-- baseline_leads.sql: the raw leads with the values of the fields fit rules name, for
-- bench_lab.py's plain dataframe re-score.
-- Grain: one row per lead and named field it has a value for (lead_field_values: the built-in
-- columns and the custom attributes), plus one row per lead without any (field null), each with
-- the lead's creation moment in microseconds since the Unix epoch (UTC).
-- Parameters: $fields (the fields the definition's fit rules name).

with

named as (
    select lead_id, field, text_value, number_value
    from lead_field_values
    where list_contains($fields::varchar[], field)
),

final as (
    select
        leads.lead_id,
        epoch_us(leads.created_at) as created_us,
        named.field,
        named.text_value,
        named.number_value,
    from leads
    left join named on named.lead_id = leads.lead_id
)

select * from final
order by lead_id, field
