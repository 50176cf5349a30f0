-- field_number_range.sql: a number, date or yes/no field's range and quartiles, for the
-- Threshold Lab's rule editor (dates as epoch seconds, yes/no as 1 / 0).
-- Grain: one row. known_leads: leads with a value; leads: every lead.
-- Parameters: $field (varchar).

with

known as (
    select number_value
    from lead_field_values
    where field = $field and number_value is not null
),

final as (
    select
        (select count(*) from leads) as leads,
        count(*) as known_leads,
        min(number_value) as low,
        quantile_cont(number_value, 0.25) as q1,
        quantile_cont(number_value, 0.5) as median,
        quantile_cont(number_value, 0.75) as q3,
        max(number_value) as high,
    from known
)

select * from final
