-- lab_field_values.sql: one lead field's values (built-in or custom), as lead_field_values
-- (queries/shared.sql) holds them, for the Threshold Lab's fit rules.
-- Grain: one row per lead that has a value for the field; lead_key numbers the leads from 0 in
-- lead_id order, as lab_leads.sql's lead_index does. text_value for text fields; number_value
-- for numbers, dates (epoch seconds) and yes/no (1 / 0).
-- One field a query: at 1M leads all of a definition's fields at once held twice the memory.
-- Parameters: $field (varchar): the field to read.

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
        field_values.text_value,
        field_values.number_value,
    from lead_field_values as field_values
    join numbered on numbered.lead_id = field_values.lead_id
    where field_values.field = $field
)

select * from final
