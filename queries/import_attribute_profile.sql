-- import_attribute_profile.sql: what the values of each column a leads file keeps as a custom
-- attribute look like, for the importer to infer its type (number, date, yes/no or text).
-- Grain: one row per staged column (c0, c1, …) with at least one value.
-- Reads import_attributes (lead_id, then the kept columns as cleaned text: placeholders are
-- already null), which the importer stages; a column with no value has no row.
-- Parameters: $yes_no (the words yes/no fields are written in, lowercase), $decimal_comma
-- (numbers written 1.234,56).

with

long as (
    unpivot import_attributes
    on columns(* exclude (lead_id))
    into name column_name value text_value
),

read_as as (
    select
        column_name,
        text_value,
        case when $decimal_comma
            then try_cast(replace(replace(text_value, '.', ''), ',', '.') as double)
            else try_cast(text_value as double)
        end as number_value,
        -- dates are tried only on what is no number (casting text to a time is the dear part)
        case when number_value is null then
            coalesce(try_cast(text_value as timestamptz), try_cast(text_value as timestamp))
        end as date_value,
    from long
),

final as (
    select
        column_name,
        count(*) as filled,
        count(*) filter (where list_contains($yes_no, lower(text_value))) as yes_no_values,
        count(*) filter (where isfinite(number_value)) as number_values,
        count(*) filter (where date_value is not null) as date_values,
    from read_as
    group by column_name
)

select * from final
order by column_name
