-- field_top_values.sql: a text field's most common values, for the Threshold Lab's rule editor
-- (built-in lead fields and custom attributes alike, as lead_field_values holds them).
-- Grain: one row per distinct value, the most common first (ties by value), at most $limit.
-- Parameters: $field (varchar), $limit (integer).

with

final as (
    select
        text_value as value,
        count(*) as leads,
    from lead_field_values
    where field = $field and text_value is not null
    group by text_value
)

select * from final
order by leads desc, value
limit $limit
