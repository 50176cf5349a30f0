-- known_field_values.sql: the field values of the leads the suggested-weights model learns
-- from: every built-in lead field and custom attribute they have a value for, as
-- lead_field_values (queries/shared.sql) holds them.
-- Grain: one row per lead in feature_moments and field it has a known value of.
-- text_value for text fields; number_value for numbers, dates (epoch seconds) and yes/no (1/0).
-- Reads feature_moments (lead_key, lead_id), provided by the caller.
-- Parameters: none.

with

final as (
    select
        feature_moments.lead_key,
        field_values.field,
        field_values.text_value,
        field_values.number_value,
    from feature_moments
    join lead_field_values as field_values on field_values.lead_id = feature_moments.lead_id
)

select * from final
