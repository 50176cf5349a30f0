-- attribution_kept_deals.sql: the kept deals (attribution.deal_summary's rows, as
-- attribution_kept_write.sql kept them).
-- Grain: one row per deal (lead_id, deal_at).
-- Parameters: none.

with

final as (
    select lead_id, deal_at, quarter_start, count_touches, is_without_mql, is_source_only,
    from attribution_kept_deals
)

select * from final
order by lead_id, deal_at
