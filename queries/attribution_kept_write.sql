-- attribution_kept_write.sql: keep the attribution of every deal in the database, replacing the
-- one before (funnelcast.analytics.attribution_kept; run inside the writer's transaction).
-- Reads attribution_kept_credit_frame (attribution.credit_totals' rows: every model at the kept
-- half-life), attribution_kept_deal_frame (attribution.deal_summary's rows) and
-- attribution_kept_payback_frame (spend_payback.sql's rows), attribution_kept_state_frame (one row: format, data_key, fy_start_month, half_life_days),
-- which the module registers, and the temporary table deal_touches (attribution_touches.sql's
-- rows), of which it keeps what time decay at another half-life needs
-- (attribution_kept_decay.sql).
-- Grain: the tables attribution_kept_state.sql, _credits.sql, _deals.sql, _payback.sql and
-- _decay.sql read.
-- Parameters: none.

create or replace table attribution_kept_credits as
select * from attribution_kept_credit_frame
order by quarter_start, model, channel, campaign;

create or replace table attribution_kept_deals as
select * from attribution_kept_deal_frame
order by lead_id, deal_at;

create or replace table attribution_kept_touches as
select
    quarter_start, lead_id, deal_at, touch_index, touch_at, channel, campaign, amount_cents,
    is_first_deal,
from deal_touches
order by lead_id, deal_at, touch_index;

create or replace table attribution_kept_payback as
select * from attribution_kept_payback_frame;

create or replace table attribution_kept_state as
select format, data_key, fy_start_month, half_life_days,
from attribution_kept_state_frame;
