-- rollup_funnel_steps_source.sql: funnel_steps.sql's counts for the Funnel page's summary
-- (funnelcast.analytics.rollups_funnel), for every channel and every breakdown at once: the same
-- leads, joins and counts, grouped by the lead's channel too, so that summing the rows of one
-- breakdown over the channels in scope gives funnel_steps.sql's rows for any channel choice.
-- Grain: one row per breakdown (dimension: 'channel', 'campaign', 'seniority',
-- 'company_size_band', 'industry', 'region'), fiscal quarter of lead creation, lead channel and
-- segment. The 'channel' rows also answer "no breakdown" (every lead in segment 'all').
-- Parameters: $fy_start_month (1-12).

with

leads_in_scope as (
    select
        leads.lead_id,
        leads.channel,
        fiscal_quarter_start(leads.created_at, $fy_start_month) as quarter_start,
        coalesce(nullif(leads.campaign, ''), '(unknown)') as campaign_segment,
        coalesce(leads.seniority, '(unknown)') as seniority_segment,
        coalesce(company_size_band(leads.company_size), '(unknown)') as company_size_segment,
        coalesce(leads.industry, '(unknown)') as industry_segment,
        coalesce(leads.region, '(unknown)') as region_segment,
    from leads
),

journeys as (
    select
        leads_in_scope.*,
        lead_milestones.recorded_mql_at,
        lead_milestones.reached_sal_at,
        lead_milestones.reached_sql_at,
        lead_milestones.reached_customer_at,
    from leads_in_scope
    join lead_milestones on lead_milestones.lead_id = leads_in_scope.lead_id
),

counted as (
    select
        case
            when grouping(campaign_segment) = 0 then 'campaign'
            when grouping(seniority_segment) = 0 then 'seniority'
            when grouping(company_size_segment) = 0 then 'company_size_band'
            when grouping(industry_segment) = 0 then 'industry'
            when grouping(region_segment) = 0 then 'region'
            else 'channel'
        end as dimension,
        quarter_start,
        channel,
        coalesce(
            campaign_segment,
            seniority_segment,
            company_size_segment,
            industry_segment,
            region_segment,
            coalesce(channel, '(unknown)')
        ) as segment,
        count(*) as count_leads,
        count(*) filter (
            where recorded_mql_at is not null or reached_sal_at is not null
        ) as count_reached_mql,
        count(reached_sal_at) as count_reached_sal,
        count(reached_sql_at) as count_reached_sql,
        count(reached_customer_at) as count_reached_customer,
        count(*) filter (
            where recorded_mql_at is null and reached_sal_at is not null
        ) as count_mql_skipped,
    from journeys
    group by grouping sets (
        (quarter_start, channel),
        (quarter_start, channel, campaign_segment),
        (quarter_start, channel, seniority_segment),
        (quarter_start, channel, company_size_segment),
        (quarter_start, channel, industry_segment),
        (quarter_start, channel, region_segment)
    )
),

final as (
    select * from counted
)

select * from final
order by dimension, quarter_start, channel, segment
