-- lead_features.sql: the behaviour the suggested-weights model learns from, per lead: per event
-- type, its events strictly before its feature moment.
-- Grain: one row per lead in feature_moments and event type in feature_columns it did before
-- feature_at: count_events = how many, decayed = their sum of
-- 0.5^(age at feature_at in days / $half_life_days).
-- Reads feature_moments (lead_key, lead_id, feature_at) and feature_columns (column_index,
-- attribute, value; event types under attribute 'event_type'), provided by the caller.
-- Parameters: $half_life_days (double).

with

final as (
    select
        feature_moments.lead_key,
        feature_columns.column_index,
        sum(
            half_life_decay(events.occurred_at, feature_moments.feature_at, $half_life_days::double)
        ) as decayed,
        count(*) as count_events,
    from feature_moments
    -- strictly before: an event logged at the outcome moment may be part of the outcome itself
    join events
        on events.lead_id = feature_moments.lead_id
        and events.occurred_at < feature_moments.feature_at
    join feature_columns
        on feature_columns.attribute = 'event_type'
        and feature_columns.value = events.event_type
    group by feature_moments.lead_key, feature_columns.column_index
)

select * from final
order by lead_key, column_index
