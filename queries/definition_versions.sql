-- definition_versions.sql: every kept version of the MQL definition, with its rule counts and
-- the version that comes after it.
-- Grain: one row per definition. Versions are ordered by effective_from, then definition_id
-- (a newer version with the same effective_from wins, as in definition_in_force.sql);
-- next_definition_id and next_effective_from name the following version in that order
-- (null for the last one), which is what ends this version's time in force.
-- Parameters: none.

with

fit_counts as (
    select
        definition_id,
        count(*) as fit_rules,
        count(*) filter (where is_disqualifier) as disqualifiers,
    from definition_fit_rules
    group by definition_id
),

behaviour_counts as (
    select definition_id, count(*) as behaviour_rules,
    from definition_behaviour_rules
    group by definition_id
),

ordered as (
    select
        definition_id,
        name,
        effective_from,
        threshold,
        half_life_days,
        created_at,
        note,
        lead(definition_id) over versions as next_definition_id,
        lead(effective_from) over versions as next_effective_from,
    from definitions
    window versions as (order by effective_from, definition_id)
),

final as (
    select
        ordered.definition_id,
        ordered.name,
        ordered.effective_from,
        ordered.threshold,
        ordered.half_life_days,
        coalesce(fit_counts.fit_rules, 0) as fit_rules,
        coalesce(fit_counts.disqualifiers, 0) as disqualifiers,
        coalesce(behaviour_counts.behaviour_rules, 0) as behaviour_rules,
        ordered.created_at,
        ordered.note,
        ordered.next_definition_id,
        ordered.next_effective_from,
    from ordered
    left join fit_counts on fit_counts.definition_id = ordered.definition_id
    left join behaviour_counts on behaviour_counts.definition_id = ordered.definition_id
)

select * from final
order by effective_from, definition_id
