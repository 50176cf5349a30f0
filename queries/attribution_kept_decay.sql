-- attribution_kept_decay.sql: the kept touches with their time-decay weight at another
-- half-life, for funnelcast.analytics.attribution_kept to credit
-- (attribution.credit_totals, time decay only): a touch's weight is 2^(-days before the journey's last
-- touch / half-life), normalised per deal, as attribution_touches.sql computes it.
-- Grain: one row per kept deal (lead_id, deal_at) and touch.
-- Parameters: $half_life_days (> 0).

with

decayed as (
    select
        attribution_kept_touches.*,
        half_life_decay(
            touch_at, max(touch_at) over (partition by lead_id, deal_at), $half_life_days
        ) as decay,
    from attribution_kept_touches
),

final as (
    select
        quarter_start, lead_id, deal_at, touch_index, channel, campaign, amount_cents,
        is_first_deal,
        decay / sum(decay) over (partition by lead_id, deal_at) as w_time_decay,
    from decayed
)

select * from final
-- in lead order, as the kept touches are: a batch of dealing leads then reads its own row
-- groups of the table this fills, not all of them (57 batches at 10M leads)
order by lead_id, deal_at, touch_index
