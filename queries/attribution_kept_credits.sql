-- attribution_kept_credits.sql: the kept credits per quarter, model, channel and campaign
-- (attribution.credit_totals' rows at the kept half-life, as attribution_kept_write.sql kept
-- them); the models in $models only.
-- Grain: one row per quarter_start, model, channel, campaign.
-- Parameters: $models (model keys).

with

final as (
    select quarter_start, model, channel, campaign, revenue_cents, customers,
    from attribution_kept_credits
    where list_contains($models, model)
)

select * from final
order by quarter_start, model, channel, campaign
