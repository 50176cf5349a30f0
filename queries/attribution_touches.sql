-- attribution_touches.sql: every deal's journey of touches, with each touch's weight under each
-- attribution model. A deal is a customer stage change; its touches are its lead's source (the
-- channel and campaign the lead came from, at created_at) and its events up to the deal moment.
-- An event without a channel is credited to the lead's source channel and campaign; an event at
-- the moment the lead was created, through its source channel and campaign, is the source touch
-- itself and not a second one. The source is a touch even when (bad data) it follows the deal,
-- so every deal has at least one touch.
-- Grain: one row per deal (lead_id, deal_at) and touch, touch_index 1..count_touches in time
-- order (ties: the source first, then channel, campaign, event type).
-- Weights per deal sum to 1 under every model (n = count_touches):
--   w_first_touch      1 on touch 1.
--   w_last_touch_mql   1 on the MQL touch: the last touch at or before the recorded MQL moment
--                      (touch 1 if the MQL precedes every touch); a deal without an MQL before it
--                      (an SQL that skipped MQL) falls back to the last touch before the deal.
--   w_last_touch_deal  1 on touch n.
--   w_linear           1/n each.
--   w_u_shaped         0.4 first, 0.4 last, 0.2 spread over the touches between; with two
--                      touches nothing lies between, so 0.5 each; with one touch, 1.
--   w_w_shaped         0.3 each to the first touch, the MQL touch and the last touch (a touch
--                      holding two roles gets both shares), 0.1 spread over the other touches;
--                      when no other touch exists the 0.1 is spread over all n touches.
--   w_time_decay       2^(-days before the journey's last touch / half-life), normalised.
-- Parameters: $fy_start_month (1-12); $half_life_days (> 0, the time-decay half-life);
-- $lead_from, $lead_to: the deals of the leads with lead_from <= lead_id < lead_to only (NULL:
-- no bound), so that the caller can read the journeys a batch of leads at a time
-- (queries/attribution_batches.sql) and memory stays bounded at any size.

with

deals as (
    select
        lead_id,
        changed_at as deal_at,
        cast(round(coalesce(amount, 0) * 100) as bigint) as amount_cents,
        row_number() over (partition by lead_id order by changed_at) = 1 as is_first_deal,
    from stage_changes
    where stage = 'customer'
        and ($lead_from is null or lead_id >= $lead_from)
        and ($lead_to is null or lead_id < $lead_to)
),

dealing_leads as (
    select
        leads.lead_id,
        leads.created_at,
        leads.channel,
        coalesce(leads.campaign, '') as campaign,
        lead_milestones.recorded_mql_at as mql_at,
    from leads
    join lead_milestones on lead_milestones.lead_id = leads.lead_id
    where leads.lead_id in (select lead_id from deals)
),

touches as (
    select
        lead_id,
        created_at as touch_at,
        channel,
        campaign,
        true as is_source,
        cast(null as varchar) as event_type,
    from dealing_leads
    union all
    select
        events.lead_id,
        events.occurred_at as touch_at,
        coalesce(events.channel, dealing_leads.channel) as channel,
        case
            when events.channel is null then dealing_leads.campaign
            else coalesce(events.campaign, '')
        end as campaign,
        false as is_source,
        events.event_type,
    from events
    join dealing_leads on dealing_leads.lead_id = events.lead_id
    where ($lead_from is null or events.lead_id >= $lead_from)
        and ($lead_to is null or events.lead_id < $lead_to)
),

-- the source touch and the event that created the lead are one touch
distinct_touches as (
    select touches.*
    from touches
    join dealing_leads on dealing_leads.lead_id = touches.lead_id
    where touches.is_source
        or not (
            touches.touch_at = dealing_leads.created_at
            and touches.channel = dealing_leads.channel
            and touches.campaign = dealing_leads.campaign
        )
),

journeys as (
    select
        deals.lead_id,
        deals.deal_at,
        deals.amount_cents,
        deals.is_first_deal,
        case when dealing_leads.mql_at <= deals.deal_at then dealing_leads.mql_at end as mql_at,
        distinct_touches.touch_at,
        distinct_touches.channel,
        distinct_touches.campaign,
        distinct_touches.is_source,
        distinct_touches.event_type,
        row_number() over (
            partition by deals.lead_id, deals.deal_at
            order by
                distinct_touches.touch_at,
                distinct_touches.is_source desc,
                distinct_touches.channel,
                distinct_touches.campaign,
                distinct_touches.event_type
        ) as touch_index,
        count(*) over (partition by deals.lead_id, deals.deal_at) as count_touches,
    from deals
    join dealing_leads on dealing_leads.lead_id = deals.lead_id
    join distinct_touches
        on distinct_touches.lead_id = deals.lead_id
        and (distinct_touches.is_source or distinct_touches.touch_at <= deals.deal_at)
),

roles as (
    select
        journeys.*,
        case
            when mql_at is null then count_touches
            else coalesce(
                max(case when touch_at <= mql_at then touch_index end)
                    over (partition by lead_id, deal_at),
                1
            )
        end as mql_touch_index,
        half_life_decay(
            touch_at, max(touch_at) over (partition by lead_id, deal_at), $half_life_days
        ) as decay,
    from journeys
),

shaped as (
    select
        roles.*,
        -- how many distinct touches hold the first, MQL and last roles
        1
        + case when count_touches > 1 then 1 else 0 end
        + case when mql_touch_index not in (1, count_touches) then 1 else 0 end
            as count_key_touches,
    from roles
),

final as (
    select
        fiscal_quarter_start(deal_at, $fy_start_month) as quarter_start,
        lead_id,
        deal_at,
        amount_cents,
        is_first_deal,
        mql_at,
        count_touches,
        mql_touch_index,
        touch_index,
        touch_at,
        channel,
        campaign,
        is_source,
        event_type,
        -- weights per model
        cast(case when touch_index = 1 then 1 else 0 end as double) as w_first_touch,
        cast(case when touch_index = mql_touch_index then 1 else 0 end as double)
            as w_last_touch_mql,
        cast(case when touch_index = count_touches then 1 else 0 end as double)
            as w_last_touch_deal,
        cast(1 as double) / count_touches as w_linear,
        cast(case
            when count_touches = 1 then 1
            when count_touches = 2 then 0.5
            when touch_index in (1, count_touches) then 0.4
            else 0.2 / (count_touches - 2)
        end as double) as w_u_shaped,
        cast(0.3 as double) * (case when touch_index = 1 then 1 else 0 end)
        + 0.3 * (case when touch_index = mql_touch_index then 1 else 0 end)
        + 0.3 * (case when touch_index = count_touches then 1 else 0 end)
        + case
            when count_touches = count_key_touches then 0.1 / count_touches
            when touch_index in (1, mql_touch_index, count_touches) then 0.0
            else 0.1 / (count_touches - count_key_touches)
        end as w_w_shaped,
        decay / sum(decay) over (partition by lead_id, deal_at) as w_time_decay,
    from shaped
)

select * from final
order by quarter_start, lead_id, deal_at, touch_index
