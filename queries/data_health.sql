-- data_health.sql: signs that loaded data is incomplete or odd, which a figure would inherit.
-- Grain: one row per check, with how many rows fail it and up to five examples.
--   stage_before_lead_created: a stage change dated before its lead was created
--   customer_before_mql: a lead won before its first recorded MQL
--   customers_without_amount: customer stage changes with no deal amount (revenue counts 0)
--   customers_with_zero_amount: customer stage changes with an amount of 0
--   amount_outliers: customer amounts over 100 times the median non-zero amount
--   events_before_lead_created: events dated before their lead was created
--   leads_in_unknown_channel: leads whose channel is 'unknown' (a placeholder's default)
--   activity_after_as_of: leads, events or stage changes after the data's as-of moment
-- Parameters: $as_of (timestamp, or null when the database sets none).

with

stage_before_lead_created as (
    select stage_changes.lead_id || ' ' || stage_changes.stage as item
    from stage_changes
    join leads on leads.lead_id = stage_changes.lead_id
    where stage_changes.changed_at < leads.created_at
),

customer_before_mql as (
    select lead_id as item from lead_milestones where reached_customer_at < recorded_mql_at
),

customers as (
    select lead_id, amount from stage_changes where stage = 'customer'
),

customers_without_amount as (
    select lead_id as item from customers where amount is null
),

customers_with_zero_amount as (
    select lead_id as item from customers where amount = 0
),

typical_amount as (
    select median(amount) as median_amount from customers where amount > 0
),

amount_outliers as (
    select customers.lead_id || ' ' || cast(customers.amount as varchar) as item
    from customers
    cross join typical_amount
    where customers.amount > 100 * typical_amount.median_amount
),

events_before_lead_created as (
    select events.lead_id as item
    from events
    join leads on leads.lead_id = events.lead_id
    where events.occurred_at < leads.created_at
),

leads_in_unknown_channel as (
    select lead_id as item from leads where lower(channel) = 'unknown'
),

activity_after_as_of as (
    select 'lead ' || lead_id as item from leads where created_at > $as_of::timestamp
    union all
    select 'event ' || lead_id from events where occurred_at > $as_of::timestamp
    union all
    select 'stage ' || lead_id from stage_changes where changed_at > $as_of::timestamp
),

checks as (
    select 1 as check_order, item from stage_before_lead_created
    union all select 2, item from customer_before_mql
    union all select 3, item from customers_without_amount
    union all select 4, item from customers_with_zero_amount
    union all select 5, item from amount_outliers
    union all select 6, item from events_before_lead_created
    union all select 7, item from leads_in_unknown_channel
    union all select 8, item from activity_after_as_of
),

names as (
    select * from (values
        (1, 'stage_before_lead_created'),
        (2, 'customer_before_mql'),
        (3, 'customers_without_amount'),
        (4, 'customers_with_zero_amount'),
        (5, 'amount_outliers'),
        (6, 'events_before_lead_created'),
        (7, 'leads_in_unknown_channel'),
        (8, 'activity_after_as_of')
    ) as t (check_order, check_name)
),

final as (
    select
        names.check_order,
        names.check_name,
        count(checks.item) as count_items,
        first_examples(checks.item) as examples,
    from names
    left join checks using (check_order)
    group by names.check_order, names.check_name
)

select check_name, count_items, examples from final
order by check_order
