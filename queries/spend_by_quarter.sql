-- spend_by_quarter.sql: marketing spend per fiscal quarter, all channels together.
-- Grain: one row per fiscal quarter that has spend rows; a period counts in the quarter its
-- period_start falls in (as in funnel_by_quarter.sql).
-- Parameters: $fy_start_month (1-12, the fiscal year's first month).

with

final as (
    select quarter_start, cast(sum(amount) as double) as spend,
    from quarter_spend($fy_start_month, null)
    group by all
)

select * from final
order by quarter_start
