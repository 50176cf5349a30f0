-- definition_in_force.sql: the MQL definition in force on a day.
-- Grain: at most one row: the definition with the latest effective_from on or before $on
-- (ties: the newest version); none when no definition had taken effect by then.
-- Parameters: $on (date).

with

final as (
    select definition_id, name, effective_from, threshold, half_life_days, created_at, note,
    from definitions
    where effective_from <= $on::date
    order by effective_from desc, definition_id desc
    limit 1
)

select * from final
order by definition_id
