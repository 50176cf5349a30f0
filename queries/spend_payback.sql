-- spend_payback.sql: what a quarter's spend has paid back so far, through the leads it bought.
-- Grain: one row per fiscal quarter and channel that has spend or new leads. A quarter's leads
-- are the leads created in it (by source channel); their revenue is every deal they have won
-- so far, in whatever later quarter it closed. Spend counts in the quarter its period_start
-- falls in. Young quarters have not had time to pay back: the caller marks them immature.
-- Parameters: $fy_start_month (1-12, the fiscal year's first month).

with

lead_cohorts as (
    select
        fiscal_quarter_start(created_at, $fy_start_month) as quarter_start,
        channel,
        count(*) as count_leads,
        count(*) filter (where recorded_mql_at is not null) as count_leads_reached_mql,
        count(*) filter (where reached_customer_at is not null) as count_leads_reached_customer,
        sum(revenue) as revenue_so_far,
    from lead_milestones
    group by all
),

spend_by_quarter as (
    select quarter_start, channel, sum(amount) as spend,
    from quarter_spend($fy_start_month, null)
    group by all
),

keys as (
    select quarter_start, channel from lead_cohorts
    union
    select quarter_start, channel from spend_by_quarter
),

final as (
    select
        keys.quarter_start,
        keys.channel,
        cast(coalesce(spend_by_quarter.spend, 0) as double) as spend,
        coalesce(lead_cohorts.count_leads, 0) as count_leads,
        coalesce(lead_cohorts.count_leads_reached_mql, 0) as count_leads_reached_mql,
        coalesce(lead_cohorts.count_leads_reached_customer, 0) as count_leads_reached_customer,
        cast(coalesce(lead_cohorts.revenue_so_far, 0) as double) as revenue_so_far,
    from keys
    left join lead_cohorts using (quarter_start, channel)
    left join spend_by_quarter using (quarter_start, channel)
)

select * from final
order by quarter_start, channel
