-- rollup_funnel_write.sql: keep the Funnel page's summary in the database, replacing the one
-- before. Reads the frames funnelcast.analytics.rollups_funnel registers: rollup_funnel_steps_frame
-- (rollup_funnel_steps_source.sql's rows), rollup_funnel_cohorts_frame
-- (cohort_curves.sql's, both grains), rollup_funnel_stage_times_frame
-- (time_in_stage.sql's for all channels), rollup_funnel_journeys_frame
-- (journeys.sql's, every channel) and rollup_funnel_state_frame (one row: what
-- rollup_funnel_state.sql reads); run inside the writer's transaction.
-- Grain: the tables rollup_funnel_steps.sql, _cohorts.sql, _stage_times.sql, _journeys.sql and
-- _state.sql read.
-- Parameters: none.

create or replace table rollup_funnel_steps as
select * from rollup_funnel_steps_frame
order by dimension, channel, quarter_start, segment;

create or replace table rollup_funnel_cohorts as
select * from rollup_funnel_cohorts_frame
order by grain, channel, cohort_start, outcome, day;

create or replace table rollup_funnel_stage_times as
select * from rollup_funnel_stage_times_frame
order by step, is_all_quarters, quarter_start, is_all_channels, channel;

create or replace table rollup_funnel_journeys as
select * from rollup_funnel_journeys_frame
order by channel, quarter_start;

create or replace table rollup_funnel_state as
select format, data_key, fy_start_month, as_of, lead_maturity_days,
from rollup_funnel_state_frame;
