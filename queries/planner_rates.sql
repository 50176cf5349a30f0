-- planner_rates.sql: what the MQL planner learns its rates, run rates and costs from, as known
-- at a moment: per quarter and channel the MQL cohort and how far it got, the SQL cohort and how
-- many of it were won, the customers, deals and revenue closed, and the spend.
-- Grain: one row per fiscal quarter and lead channel with an MQL, SQL, customer or spend before
-- $as_of. Only leads created and stage changes recorded before $as_of count, so a backtest can
-- plan a past quarter with the data it would have had.
--   by cohort: count_mqls = leads whose first recorded MQL fell in the quarter;
--              count_mqls_reached_sql / _customer = of those, reached the stage (or a later one);
--              count_sqls = leads that first reached SQL (or customer) in the quarter, by any
--              path; count_sqls_reached_customer = of those, won;
--   by period: count_customers = leads won in the quarter, count_customers_without_mql = those
--              with no recorded MQL; count_deals, revenue, revenue_squares = customer stage
--              changes with an amount in the quarter, their sum and sum of squares (deal sizes).
-- Parameters: $as_of (timestamp: what the data knew then, exclusive); $fy_start_month (1-12).

with

leads_known as (
    select lead_id, channel,
    from leads
    where created_at < $as_of::timestamp
),

-- one row per known lead with a stage change: when it first reached each stage (a later stage
-- counts), and in which quarters
journeys as (
    select
        leads_known.channel,
        milestones.*,
        fiscal_quarter_start(milestones.mql_at, $fy_start_month) as mql_quarter,
        fiscal_quarter_start(milestones.sql_at, $fy_start_month) as sql_quarter,
        fiscal_quarter_start(milestones.customer_at, $fy_start_month) as customer_quarter,
    from milestones_known($as_of::timestamp) as milestones
    join leads_known on leads_known.lead_id = milestones.lead_id
),

mql_cohorts as (
    select
        mql_quarter as quarter_start,
        channel,
        count(*) as count_mqls,
        count(sql_at) as count_mqls_reached_sql,
        count(customer_at) as count_mqls_reached_customer,
    from journeys
    where mql_at is not null
    group by all
),

sql_cohorts as (
    select
        sql_quarter as quarter_start,
        channel,
        count(*) as count_sqls,
        count(customer_at) as count_sqls_reached_customer,
    from journeys
    where sql_at is not null
    group by all
),

won as (
    select
        customer_quarter as quarter_start,
        channel,
        count(*) as count_customers,
        count(*) filter (where mql_at is null) as count_customers_without_mql,
    from journeys
    where customer_at is not null
    group by all
),

deals as (
    select
        quarter_start,
        channel,
        count(*) as count_deals,
        sum(amount) as revenue,
        sum(amount * amount) as revenue_squares,
    from won_deals($fy_start_month, $as_of::timestamp)
    group by all
),

spend_known as (
    select quarter_start, channel, sum(amount) as spend,
    from quarter_spend($fy_start_month, $as_of::timestamp)
    group by all
),

keys as (
    select quarter_start, channel from mql_cohorts
    union
    select quarter_start, channel from sql_cohorts
    union
    select quarter_start, channel from won
    union
    select quarter_start, channel from deals
    union
    select quarter_start, channel from spend_known
),

final as (
    select
        keys.quarter_start,
        keys.channel,
        -- by cohort
        coalesce(mql_cohorts.count_mqls, 0) as count_mqls,
        coalesce(mql_cohorts.count_mqls_reached_sql, 0) as count_mqls_reached_sql,
        coalesce(mql_cohorts.count_mqls_reached_customer, 0) as count_mqls_reached_customer,
        coalesce(sql_cohorts.count_sqls, 0) as count_sqls,
        coalesce(sql_cohorts.count_sqls_reached_customer, 0) as count_sqls_reached_customer,
        -- by period
        coalesce(won.count_customers, 0) as count_customers,
        coalesce(won.count_customers_without_mql, 0) as count_customers_without_mql,
        coalesce(deals.count_deals, 0) as count_deals,
        cast(coalesce(deals.revenue, 0) as double) as revenue,
        cast(coalesce(deals.revenue_squares, 0) as double) as revenue_squares,
        cast(coalesce(spend_known.spend, 0) as double) as spend,
        spend_known.spend is not null as has_spend,
    from keys
    left join mql_cohorts using (quarter_start, channel)
    left join sql_cohorts using (quarter_start, channel)
    left join won using (quarter_start, channel)
    left join deals using (quarter_start, channel)
    left join spend_known using (quarter_start, channel)
)

select * from final
order by quarter_start, channel
