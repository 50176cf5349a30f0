-- lab_field_values.sql: the values of chosen lead fields (built-in or custom) the Threshold Lab
-- scores fit rules on, as lead_field_values (queries/shared.sql) holds them.
-- Grain: one row per lead and chosen field it has a value for; lead_key numbers the leads from
-- 0 in lead_id order, as lab_leads.sql's lead_index does. text_value for text fields;
-- number_value for numbers, dates (epoch seconds) and yes/no (1 / 0).
-- Parameters: $fields (varchar[]): the fields to read.

with

numbered as (
    select
        row_number() over (order by lead_id) - 1 as lead_key,
        lead_id,
    from leads
),

final as (
    select
        numbered.lead_key,
        field_values.field,
        field_values.text_value,
        field_values.number_value,
    from lead_field_values as field_values
    join numbered on numbered.lead_id = field_values.lead_id
    where list_contains($fields::varchar[], field_values.field)
)

select * from final
