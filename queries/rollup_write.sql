-- rollup_write.sql: keep the funnel summary in the database, replacing the one before.
-- Reads rollup_funnel_frame (funnel_by_quarter.sql's rows on the recorded MQLs, every channel),
-- rollup_roi_frame (roi_by_channel_quarter.sql's rows) and rollup_state_frame (one row: what
-- rollup_state.sql reads), which funnelcast.analytics.rollups registers; run inside the
-- writer's transaction.
-- Grain: the tables rollup_funnel.sql, rollup_roi.sql and rollup_state.sql read.
-- Parameters: none.

create or replace table rollup_funnel_by_quarter as
select * from rollup_funnel_frame
order by quarter_start, channel;

create or replace table rollup_roi_by_channel_quarter as
select * from rollup_roi_frame
order by quarter_start, channel, campaign;

create or replace table rollup_state as
select format, data_key, fy_start_month, mature_days, mql_to_sql_days, lead_to_customer_days,
from rollup_state_frame;
