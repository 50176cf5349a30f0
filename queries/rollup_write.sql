-- rollup_write.sql: keep the funnel summary in the database, replacing the one before.
-- Reads rollup_funnel_frame (funnel_by_quarter.sql's rows on the recorded MQLs, every channel)
-- and rollup_state_frame (one row: format, data_key, fy_start_month, mature_days), which
-- funnelcast.analytics.rollups registers; run inside the writer's transaction.
-- Grain: the tables rollup_funnel.sql and rollup_state.sql read.
-- Parameters: none.

create or replace table rollup_funnel_by_quarter as
select * from rollup_funnel_frame
order by quarter_start, channel;

create or replace table rollup_state as
select format, data_key, fy_start_month, mature_days from rollup_state_frame;
