-- definition_by_id.sql: one version of the MQL definition, without its rules.
-- Grain: at most one row: the definition with this id (none when there is no such version).
-- Parameters: $definition_id (integer).

with

final as (
    select definition_id, name, effective_from, threshold, half_life_days, created_at, note,
    from definitions
    where definition_id = $definition_id
)

select * from final
order by definition_id
