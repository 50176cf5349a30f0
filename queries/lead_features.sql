-- lead_features.sql: what the suggested-weights model learns from, per lead: the fit attribute
-- values it holds and, per event type, its events strictly before its feature moment.
-- Grain: one row per lead in feature_moments and feature in feature_columns it has: a fit value
-- (decayed = count_events = 1), or an event type it did before feature_at (count_events = how
-- many, decayed = their sum of 0.5^(age at feature_at in days / $half_life_days)).
-- Reads feature_moments (lead_key, lead_id, feature_at) and feature_columns (column_index,
-- attribute, value; event types under attribute 'event_type'), provided by the caller.
-- Parameters: $half_life_days (double).

with

fit_features as (
    select
        feature_moments.lead_key,
        feature_columns.column_index,
        1.0 as decayed,
        1 as count_events,
    from feature_moments
    join lead_fit_attributes on lead_fit_attributes.lead_id = feature_moments.lead_id
    join feature_columns
        on feature_columns.attribute = lead_fit_attributes.attribute
        and feature_columns.value = lead_fit_attributes.value
),

behaviour_features as (
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
),

final as (
    select * from fit_features
    union all
    select * from behaviour_features
)

select * from final
order by lead_key, column_index
