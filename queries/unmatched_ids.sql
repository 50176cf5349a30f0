-- unmatched_ids.sql: ids and names that do not match across tables (the importer keeps
-- events and stage changes of unknown leads out; these are the mismatches it allows).
-- Grain: one row per check, with how many items fail it and up to five examples.
--   leads_without_stage_changes: leads the CRM history never mentions
--   customers_without_mql: leads that became customers with no recorded MQL
--   spend_channels_without_leads: channels with spend but no lead of that channel
--   lead_channels_without_spend: channels with leads but no spend row
--   spend_campaigns_without_leads: (channel, campaign) with spend but no lead of it
-- Parameters: none.

with

leads_without_stage_changes as (
    select lead_id as item from leads
    where not exists (select 1 from stage_changes where stage_changes.lead_id = leads.lead_id)
),

customers_without_mql as (
    select lead_id as item from stage_changes
    where stage = 'customer'
    group by lead_id
    having not exists (
        select 1 from stage_changes as mqls
        where mqls.lead_id = stage_changes.lead_id and mqls.stage = 'mql'
    )
),

spend_channels_without_leads as (
    select distinct channel as item from spend
    where not exists (select 1 from leads where leads.channel = spend.channel)
),

lead_channels_without_spend as (
    select distinct channel as item from leads
    where not exists (select 1 from spend where spend.channel = leads.channel)
),

spend_campaigns_without_leads as (
    select distinct channel || ' / ' || campaign as item from spend
    where campaign <> ''
        and not exists (
            select 1 from leads
            where leads.channel = spend.channel and leads.campaign = spend.campaign
        )
),

checks as (
    select 1 as check_order, 'leads_without_stage_changes' as check_name, item
    from leads_without_stage_changes
    union all
    select 2, 'customers_without_mql', item from customers_without_mql
    union all
    select 3, 'spend_channels_without_leads', item from spend_channels_without_leads
    union all
    select 4, 'lead_channels_without_spend', item from lead_channels_without_spend
    union all
    select 5, 'spend_campaigns_without_leads', item from spend_campaigns_without_leads
),

names as (
    select * from (values
        (1, 'leads_without_stage_changes'),
        (2, 'customers_without_mql'),
        (3, 'spend_channels_without_leads'),
        (4, 'lead_channels_without_spend'),
        (5, 'spend_campaigns_without_leads')
    ) as t (check_order, check_name)
),

final as (
    select
        names.check_order,
        names.check_name,
        count(checks.item) as count_items,
        first_examples(checks.item) as examples,
    from names
    left join checks using (check_order, check_name)
    group by names.check_order, names.check_name
)

select check_name, count_items, examples from final
order by check_order
