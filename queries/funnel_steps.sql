-- funnel_steps.sql: the lead funnel by creation cohort: of the leads created in each fiscal
-- quarter, how many have reached MQL, SAL, SQL and customer so far, per segment of one dimension.
-- Grain: one row per fiscal quarter of lead creation and segment.
-- A stage counts as reached when the lead entered it or any later one, so the counts never grow
-- down the funnel: a demo request taken straight to SQL has reached MQL and SAL too, and
-- count_mql_skipped says how many of the MQL step never had an MQL recorded.
-- Parameters: $fy_start_month (1-12); $channel (or null for all channels); $dimension (the
-- segment: 'channel', 'campaign', 'seniority', 'company_size_band', 'industry' or 'region';
-- null puts every lead in one segment 'all'). Missing attribute values read '(unknown)'.

with

leads_in_scope as (
    select
        leads.lead_id,
        fiscal_quarter_start(leads.created_at, $fy_start_month) as quarter_start,
        coalesce(
            case $dimension::varchar
                when 'channel' then leads.channel
                when 'campaign' then nullif(leads.campaign, '')
                when 'seniority' then leads.seniority
                when 'company_size_band' then company_size_band(leads.company_size)
                when 'industry' then leads.industry
                when 'region' then leads.region
                else 'all'
            end,
            '(unknown)'
        ) as segment,
    from leads
    where $channel::varchar is null or leads.channel = $channel::varchar
),

journeys as (
    select
        leads_in_scope.quarter_start,
        leads_in_scope.segment,
        lead_milestones.recorded_mql_at,
        lead_milestones.reached_sal_at,
        lead_milestones.reached_sql_at,
        lead_milestones.reached_customer_at,
    from leads_in_scope
    join lead_milestones on lead_milestones.lead_id = leads_in_scope.lead_id
),

final as (
    select
        quarter_start,
        segment,
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
    group by quarter_start, segment
)

select * from final
order by quarter_start, segment
