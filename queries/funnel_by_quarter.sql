-- funnel_by_quarter.sql: the funnel's volumes, cohorts, revenue and spend per quarter and channel.
-- Grain: one row per fiscal quarter and lead channel that has leads, stage changes or spend.
-- Reads mql_moments (lead_id, mql_at), which the caller provides: the recorded MQLs or those a
-- definition computes. Two views of the same quarter:
--   by period: count_* = leads that first reached the stage inside the quarter;
--   by cohort: count_leads_reached_mql = of the leads created in the quarter, those that became MQL;
--              count_mqls_reached_* = of the quarter's MQLs, those that reached the stage so far;
--              count_sqls_reached_customer = of the quarter's SQLs, those that became customers.
-- A stage counts as reached when the lead entered it or a later one (see lead_milestones).
-- Parameters: $fy_start_month (1-12, the fiscal year's first month); $channel (or null for all).

with

leads_in_scope as (
    select
        lead_milestones.*,
        mql_moments.mql_at,
    from lead_milestones
    left join mql_moments on mql_moments.lead_id = lead_milestones.lead_id
    where $channel::varchar is null or lead_milestones.channel = $channel::varchar
),

-- one row per lead and funnel milestone it reached, with the quarter it reached it in
milestones as (
    unpivot (
        select
            lead_id,
            channel,
            created_at as lead_at,
            mql_at,
            reached_sal_at as sal_at,
            reached_sql_at as sql_at,
            reached_customer_at as customer_at,
        from leads_in_scope
    )
    on lead_at, mql_at, sal_at, sql_at, customer_at
    into name milestone value reached_at
),

by_period as (
    select
        fiscal_quarter_start(reached_at, $fy_start_month) as quarter_start,
        channel,
        count(*) filter (where milestone = 'lead_at') as count_leads,
        count(*) filter (where milestone = 'mql_at') as count_mqls,
        count(*) filter (where milestone = 'sal_at') as count_sals,
        count(*) filter (where milestone = 'sql_at') as count_sqls,
        count(*) filter (where milestone = 'customer_at') as count_customers,
    from milestones
    group by all
),

lead_cohorts as (
    select
        fiscal_quarter_start(created_at, $fy_start_month) as quarter_start,
        channel,
        count(*) filter (where mql_at is not null) as count_leads_reached_mql,
    from leads_in_scope
    group by all
),

mql_cohorts as (
    select
        fiscal_quarter_start(mql_at, $fy_start_month) as quarter_start,
        channel,
        count(*) filter (where reached_sal_at is not null) as count_mqls_reached_sal,
        count(*) filter (where reached_sql_at is not null) as count_mqls_reached_sql,
        count(*) filter (where reached_customer_at is not null) as count_mqls_reached_customer,
        count(*) filter (where first_rejected_at is not null) as count_mqls_rejected,
    from leads_in_scope
    where mql_at is not null
    group by all
),

sql_cohorts as (
    select
        fiscal_quarter_start(reached_sql_at, $fy_start_month) as quarter_start,
        channel,
        count(*) filter (where reached_customer_at is not null) as count_sqls_reached_customer,
        count(*) filter (where mql_at is null) as count_sqls_without_mql,
    from leads_in_scope
    where reached_sql_at is not null
    group by all
),

revenue as (
    select quarter_start, channel, sum(amount) as revenue,
    from won_deals($fy_start_month, null)
    where $channel::varchar is null or channel = $channel::varchar
    group by all
),

spend_by_quarter as (
    select quarter_start, channel, sum(amount) as spend,
    from quarter_spend($fy_start_month, null)
    where $channel::varchar is null or channel = $channel::varchar
    group by all
),

keys as (
    select quarter_start, channel from by_period
    union
    select quarter_start, channel from spend_by_quarter
    union
    select quarter_start, channel from revenue
),

final as (
    select
        keys.quarter_start,
        keys.channel,
        -- by period
        coalesce(by_period.count_leads, 0) as count_leads,
        coalesce(by_period.count_mqls, 0) as count_mqls,
        coalesce(by_period.count_sals, 0) as count_sals,
        coalesce(by_period.count_sqls, 0) as count_sqls,
        coalesce(by_period.count_customers, 0) as count_customers,
        -- by cohort
        coalesce(lead_cohorts.count_leads_reached_mql, 0) as count_leads_reached_mql,
        coalesce(mql_cohorts.count_mqls_reached_sal, 0) as count_mqls_reached_sal,
        coalesce(mql_cohorts.count_mqls_reached_sql, 0) as count_mqls_reached_sql,
        coalesce(mql_cohorts.count_mqls_reached_customer, 0) as count_mqls_reached_customer,
        coalesce(mql_cohorts.count_mqls_rejected, 0) as count_mqls_rejected,
        coalesce(sql_cohorts.count_sqls_reached_customer, 0) as count_sqls_reached_customer,
        coalesce(sql_cohorts.count_sqls_without_mql, 0) as count_sqls_without_mql,
        -- money
        cast(coalesce(revenue.revenue, 0) as double) as revenue,
        cast(coalesce(spend_by_quarter.spend, 0) as double) as spend,
    from keys
    left join by_period using (quarter_start, channel)
    left join lead_cohorts using (quarter_start, channel)
    left join mql_cohorts using (quarter_start, channel)
    left join sql_cohorts using (quarter_start, channel)
    left join revenue using (quarter_start, channel)
    left join spend_by_quarter using (quarter_start, channel)
)

select * from final
order by quarter_start, channel
