-- roi_by_channel_quarter.sql: what each channel and campaign cost and produced per fiscal quarter.
-- Grain: one row per fiscal quarter, channel and campaign that has leads, funnel moments,
-- revenue or spend. campaign '' is a lead without a campaign, or spend on the channel as a whole.
-- By period, as in funnel_by_quarter.sql, with leads counted by their source (leads.channel,
-- leads.campaign) and MQLs as the CRM recorded them:
--   count_* = leads that first reached the stage (or a later one) inside the quarter;
--   count_mqls_reached_sql = cohort: of the quarter's MQLs, those that reached SQL so far;
--   revenue = deal amounts of customer stage changes inside the quarter;
--   spend = spend rows whose period_start falls inside the quarter.
-- Parameters: $fy_start_month (1-12, the fiscal year's first month).

with

lead_sources as (
    select
        lead_milestones.*,
        coalesce(leads.campaign, '') as campaign,
    from lead_milestones
    join leads on leads.lead_id = lead_milestones.lead_id
),

-- one row per lead and funnel milestone it reached
milestones as (
    unpivot (
        select
            lead_id,
            channel,
            campaign,
            created_at as lead_at,
            recorded_mql_at as mql_at,
            reached_sql_at as sql_at,
            reached_customer_at as customer_at,
        from lead_sources
    )
    on lead_at, mql_at, sql_at, customer_at
    into name milestone value reached_at
),

by_period as (
    select
        fiscal_quarter_start(reached_at, $fy_start_month) as quarter_start,
        channel,
        campaign,
        count(*) filter (where milestone = 'lead_at') as count_leads,
        count(*) filter (where milestone = 'mql_at') as count_mqls,
        count(*) filter (where milestone = 'sql_at') as count_sqls,
        count(*) filter (where milestone = 'customer_at') as count_customers,
    from milestones
    group by all
),

mql_cohorts as (
    select
        fiscal_quarter_start(recorded_mql_at, $fy_start_month) as quarter_start,
        channel,
        campaign,
        count(*) filter (where reached_sql_at is not null) as count_mqls_reached_sql,
    from lead_sources
    where recorded_mql_at is not null
    group by all
),

revenue as (
    select quarter_start, channel, campaign, sum(amount) as revenue,
    from won_deals($fy_start_month, null)
    group by all
),

spend_by_quarter as (
    select quarter_start, channel, campaign, sum(amount) as spend,
    from quarter_spend($fy_start_month, null)
    group by all
),

keys as (
    select quarter_start, channel, campaign from by_period
    union
    select quarter_start, channel, campaign from revenue
    union
    select quarter_start, channel, campaign from spend_by_quarter
),

final as (
    select
        keys.quarter_start,
        keys.channel,
        keys.campaign,
        -- by period
        coalesce(by_period.count_leads, 0) as count_leads,
        coalesce(by_period.count_mqls, 0) as count_mqls,
        coalesce(by_period.count_sqls, 0) as count_sqls,
        coalesce(by_period.count_customers, 0) as count_customers,
        -- by cohort
        coalesce(mql_cohorts.count_mqls_reached_sql, 0) as count_mqls_reached_sql,
        -- money
        cast(coalesce(revenue.revenue, 0) as double) as revenue,
        cast(coalesce(spend_by_quarter.spend, 0) as double) as spend,
    from keys
    left join by_period using (quarter_start, channel, campaign)
    left join mql_cohorts using (quarter_start, channel, campaign)
    left join revenue using (quarter_start, channel, campaign)
    left join spend_by_quarter using (quarter_start, channel, campaign)
)

select * from final
order by quarter_start, channel, campaign
