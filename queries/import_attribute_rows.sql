-- import_attribute_rows.sql: a leads file's custom attribute values as lead_attributes stores
-- them, read as their attribute's type.
-- Grain: one row per lead and kept column with a value; text_value for text attributes,
-- number_value for numbers, dates (epoch seconds, UTC) and yes/no (1 / 0). A value that does
-- not read as its type has both null (the importer counts those and leaves them out).
-- Reads import_attributes (lead_id, then the kept columns as cleaned text).
-- Parameters: $columns, $attributes, $value_types (one entry per kept column, in the same
-- order: staged name, attribute name, type), $yes_words, $no_words (lowercase),
-- $decimal_comma.

with

long as (
    unpivot import_attributes
    on columns(* exclude (lead_id))
    into name column_name value text_value
),

chosen as (
    select
        unnest($columns) as column_name,
        unnest($attributes) as attribute,
        unnest($value_types) as value_type,
),

typed as (
    select
        long.lead_id,
        chosen.attribute,
        long.text_value as written,
        case when chosen.value_type = 'text' then long.text_value end as text_value,
        case chosen.value_type
            when 'number' then
                case when $decimal_comma
                    then try_cast(replace(replace(long.text_value, '.', ''), ',', '.') as double)
                    else try_cast(long.text_value as double)
                end
            when 'date' then epoch(coalesce(
                try_cast(long.text_value as timestamptz), try_cast(long.text_value as timestamp)
            ))
            when 'yes/no' then
                case
                    when list_contains($yes_words, lower(long.text_value)) then 1.0
                    when list_contains($no_words, lower(long.text_value)) then 0.0
                end
        end as number_value,
    from long
    join chosen on chosen.column_name = long.column_name
),

final as (
    select
        lead_id,
        attribute,
        written,
        text_value,
        case when isfinite(number_value) then number_value end as number_value,
    from typed
)

select * from final
