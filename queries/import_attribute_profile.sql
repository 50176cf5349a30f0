-- import_attribute_profile.sql: what the values of each column a leads file keeps as a custom
-- attribute look like, for the importer to infer its type (number, date, yes/no or text).
-- Grain: one row per staged column (c0, c1, …) with at least one value.
-- Reads import_attributes (lead_id, then the kept columns as cleaned text: placeholders are
-- already null), which the importer stages; a column with no value has no row.
-- Parameters: $yes_no (the words yes/no fields are written in, lowercase), $decimal_comma
-- (numbers written 1.234,56).
-- date_values is exact only where it matters: a column whose first rows (1,000) already hold
-- a value that is neither a number nor a date cannot be all dates, so its values are not cast
-- to a time (the dear part: over 30M values, 70% of the query) and it counts fewer.

with

long as (
    unpivot import_attributes
    on columns(* exclude (lead_id))
    into name column_name value text_value
),

-- the first rows, whose text values tell the columns that cannot be dates
probe as (
    select
        column_name,
        bool_and(
            coalesce(try_cast(text_value as timestamptz), try_cast(text_value as timestamp))
                is not null
        ) as may_be_date,
    from (
        unpivot (select * from import_attributes limit 1000)
        on columns(* exclude (lead_id))
        into name column_name value text_value
    )
    where (
        case when $decimal_comma
            then try_cast(replace(replace(text_value, '.', ''), ',', '.') as double)
            else try_cast(text_value as double)
        end
    ) is null
    group by column_name
),

read_as as (
    select
        long.column_name,
        long.text_value,
        case when $decimal_comma
            then try_cast(replace(replace(long.text_value, '.', ''), ',', '.') as double)
            else try_cast(long.text_value as double)
        end as number_value,
        -- dates are tried only on what is no number, in columns that may be dates
        case when number_value is null and coalesce(probe.may_be_date, true) then
            coalesce(
                try_cast(long.text_value as timestamptz), try_cast(long.text_value as timestamp)
            )
        end as date_value,
    from long
    left join probe on probe.column_name = long.column_name
),

final as (
    select
        column_name,
        count(*) as filled,
        count(*) filter (where list_contains($yes_no, lower(text_value))) as yes_no_values,
        count(*) filter (where isfinite(number_value)) as number_values,
        -- a time of 'infinity' reads but has no epoch: no date
        count(*) filter (where isfinite(epoch(date_value))) as date_values,
    from read_as
    group by column_name
)

select * from final
order by column_name
