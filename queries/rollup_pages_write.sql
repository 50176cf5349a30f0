-- rollup_pages_write.sql: keep the Handoff and Data pages' summary in the database, replacing
-- the one before. Reads the frames funnelcast.analytics.rollups_pages registers:
-- rollup_pages_state_frame (one row: what rollup_pages_state.sql reads), the hand-offs counted
-- by what the Handoff page's figures group them by (rollup_handoff_cells_frame,
-- rollup_handoff_segments_frame), its 'not ready' rejections won later, one row each
-- (rollup_handoff_won_frame), the days to SQL per channel (rollup_handoff_maturity_frame), and
-- the rows of column_nulls.sql, unmatched_ids.sql and data_health.sql, numbered in their order.
-- Run inside the writer's transaction.
-- Grain: the tables the rollup_handoff_*.sql and rollup_checks_*.sql queries read.
-- Parameters: none.

create or replace table rollup_handoff_cells as
select * from rollup_handoff_cells_frame;

create or replace table rollup_handoff_segments as
select * from rollup_handoff_segments_frame;

create or replace table rollup_handoff_won as
select * from rollup_handoff_won_frame
order by row_order;

create or replace table rollup_handoff_maturity as
select * from rollup_handoff_maturity_frame;

create or replace table rollup_column_nulls as
select * from rollup_column_nulls_frame
order by row_order;

create or replace table rollup_unmatched_ids as
select * from rollup_unmatched_ids_frame
order by row_order;

create or replace table rollup_data_health as
select * from rollup_data_health_frame
order by row_order;

create or replace table rollup_pages_state as
select format, data_key, fy_start_month, as_of, health_as_of,
from rollup_pages_state_frame;
