-- baseline_events.sql: the raw events, for bench_lab.py's plain dataframe re-score.
-- Grain: one row per event. Times are microseconds since the Unix epoch (UTC).
-- Parameters: none.

with

final as (
    select lead_id, epoch_us(occurred_at) as occurred_us, event_type,
    from events
)

select * from final
order by lead_id, occurred_us
