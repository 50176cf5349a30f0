-- handoff_mqls.sql: every hand-off of an MQL to sales, sales' first answer to it, and what the
-- lead did afterwards.
-- Grain: one row per recorded MQL stage change (a recycled lead that comes back is handed over
-- twice: two rows, numbered by handoff_number).
--   response_stage, responded_at, response_reason: the first other stage change at or after
--     the hand-off and before the lead's next hand-off (null: no answer yet); response
--     groups it: 'accepted' (SAL, SQL or customer), 'rejected' (rejected or recycled),
--     'disqualified';
--   reached_sql_at, reached_customer_at: the first SQL-or-later and customer stage at or after
--     the hand-off (whenever it came, across later hand-offs); revenue: the lead's deal amounts.
--   The lead's channel, campaign, seniority, company_size_band, industry and region come along
--   for breakdowns ('(unknown)' where missing).
-- Parameters: $fy_start_month (1-12); $channel (or null for all channels).

with

hand_offs as (
    select
        stage_changes.lead_id,
        stage_changes.changed_at as handed_at,
        row_number() over (
            partition by stage_changes.lead_id order by stage_changes.changed_at
        ) as handoff_number,
        lead(stage_changes.changed_at) over (
            partition by stage_changes.lead_id order by stage_changes.changed_at
        ) as next_handed_at,
    from stage_changes
    join leads on leads.lead_id = stage_changes.lead_id
    where stage_changes.stage = 'mql'
        and ($channel::varchar is null or leads.channel = $channel::varchar)
),

answers as (
    select
        hand_offs.lead_id,
        hand_offs.handed_at,
        stage_changes.stage,
        stage_changes.changed_at,
        stage_changes.reason,
        row_number() over (
            partition by hand_offs.lead_id, hand_offs.handed_at
            order by stage_changes.changed_at, stage_rank(stage_changes.stage)
        ) as answer_number,
    from hand_offs
    join stage_changes
        on stage_changes.lead_id = hand_offs.lead_id
        and stage_changes.stage <> 'mql'
        and stage_changes.changed_at >= hand_offs.handed_at
        and (hand_offs.next_handed_at is null or stage_changes.changed_at < hand_offs.next_handed_at)
),

outcomes as (
    select
        hand_offs.lead_id,
        hand_offs.handed_at,
        first_reached_sql(stage_changes.stage, stage_changes.changed_at) as reached_sql_at,
        first_reached_customer(stage_changes.stage, stage_changes.changed_at)
            as reached_customer_at,
        coalesce(sum(stage_changes.amount) filter (where stage_changes.stage = 'customer'), 0)
            as revenue,
    from hand_offs
    left join stage_changes
        on stage_changes.lead_id = hand_offs.lead_id
        and stage_changes.changed_at >= hand_offs.handed_at
    group by hand_offs.lead_id, hand_offs.handed_at
),

final as (
    select
        hand_offs.lead_id,
        hand_offs.handoff_number,
        hand_offs.handed_at,
        fiscal_quarter_start(hand_offs.handed_at, $fy_start_month) as quarter_start,
        -- the first answer
        answers.stage as response_stage,
        sales_response(answers.stage) as response,
        answers.changed_at as responded_at,
        answers.reason as response_reason,
        -- afterwards
        outcomes.reached_sql_at,
        outcomes.reached_customer_at,
        cast(outcomes.revenue as double) as revenue,
        -- who
        leads.channel,
        coalesce(nullif(leads.campaign, ''), '(unknown)') as campaign,
        coalesce(leads.seniority, '(unknown)') as seniority,
        coalesce(company_size_band(leads.company_size), '(unknown)') as company_size_band,
        coalesce(leads.industry, '(unknown)') as industry,
        coalesce(leads.region, '(unknown)') as region,
    from hand_offs
    join leads on leads.lead_id = hand_offs.lead_id
    left join answers
        on answers.lead_id = hand_offs.lead_id
        and answers.handed_at = hand_offs.handed_at
        and answers.answer_number = 1
    join outcomes
        on outcomes.lead_id = hand_offs.lead_id
        and outcomes.handed_at = hand_offs.handed_at
)

select * from final
order by handed_at, lead_id
