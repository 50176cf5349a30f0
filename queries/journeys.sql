-- journeys.sql: the paths leads took through the funnel, straight or not: how they entered
-- sales (an MQL, or a demo request or direct contact that skipped MQL), sales' first answer,
-- recycling and a second hand-off, the answer to that, and where they stand now.
-- Grain: one row per fiscal quarter of lead creation, lead channel and journey pattern, with
-- count_leads (funnelcast.analytics.journeys.over_channels sums the channels in scope; the Funnel
-- page's summary keeps these rows for every channel: rollup_funnel_write.sql).
-- Pattern columns:
--   entry            'mql' (an MQL was recorded), 'demo_request' / 'direct' (reached SAL or later
--                    without one; demo_request when a demo request came first), 'none';
--   first_response   sales' first recorded answer after the first MQL: 'accepted' (SAL, SQL or
--                    customer), 'rejected' (rejected or recycled), 'disqualified', 'awaiting'
--                    (none yet); null unless entry = 'mql';
--   is_recycled      the lead was recycled at some point;
--   is_back          a second MQL was recorded (handed to sales again);
--   second_response  the first answer after the second MQL, as above; null unless is_back;
--   outcome          'customer', 'lost' (disqualified after SQL), 'open_sql', 'dropped_at_sal'
--                    (disqualified after SAL, before SQL), 'open_sal', or null (never accepted);
--   is_sal_skipped   reached SQL without a recorded SAL;
--   recycled_outcome for recycled leads, the furthest stage reached after the first recycling:
--                    'customer', 'sql' or 'none'; null when not recycled.
-- Parameters: $fy_start_month (1-12); $channel (or null for all channels).

with

ranked_changes as (
    select
        lead_id,
        stage,
        changed_at,
        stage_rank(stage) as stage_rank,
    from stage_changes
),

mql_passes as (
    select
        lead_id,
        changed_at,
        row_number() over (partition by lead_id order by changed_at) as pass_number,
    from stage_changes
    where stage = 'mql'
),

hand_offs as (
    select
        lead_id,
        min(changed_at) filter (where pass_number = 1) as first_mql_at,
        min(changed_at) filter (where pass_number = 2) as second_mql_at,
    from mql_passes
    group by lead_id
),

-- every answer after the first MQL, with the hand-off it answers (the second one from its time)
answers as (
    select
        ranked_changes.lead_id,
        ranked_changes.stage,
        ranked_changes.changed_at,
        ranked_changes.stage_rank,
        case
            when hand_offs.second_mql_at is not null
                and ranked_changes.changed_at >= hand_offs.second_mql_at then 2
            else 1
        end as pass_number,
    from ranked_changes
    join hand_offs on hand_offs.lead_id = ranked_changes.lead_id
    where ranked_changes.stage <> 'mql'
        and ranked_changes.changed_at >= hand_offs.first_mql_at
),

numbered_answers as (
    select
        *,
        row_number() over (
            partition by lead_id, pass_number order by changed_at, stage_rank
        ) as answer_number,
    from answers
),

first_answers as (
    select
        lead_id,
        max(stage) filter (where pass_number = 1 and answer_number = 1) as first_answer_stage,
        max(stage) filter (where pass_number = 2 and answer_number = 1) as second_answer_stage,
    from numbered_answers
    group by lead_id
),

after_recycling as (
    select
        lead_milestones.lead_id,
        first_reached_sql(stage_changes.stage, stage_changes.changed_at) as reached_sql_at,
        first_reached_customer(stage_changes.stage, stage_changes.changed_at)
            as reached_customer_at,
    from lead_milestones
    join stage_changes
        on stage_changes.lead_id = lead_milestones.lead_id
        and stage_changes.changed_at >= lead_milestones.first_recycled_at
    group by lead_milestones.lead_id
),

demo_requests as (
    select lead_id, min(occurred_at) as first_demo_request_at,
    from events
    where event_type = 'demo_request'
    group by lead_id
),

journeys as (
    select
        fiscal_quarter_start(lead_milestones.created_at, $fy_start_month) as quarter_start,
        lead_milestones.channel,
        lead_milestones.recorded_mql_at,
        lead_milestones.reached_sal_at,
        lead_milestones.reached_sql_at,
        lead_milestones.reached_customer_at,
        hand_offs.second_mql_at,
        first_answers.first_answer_stage,
        first_answers.second_answer_stage,
        lead_milestones.recorded_sal_at,
        lead_milestones.first_recycled_at,
        lead_milestones.last_disqualified_at,
        after_recycling.reached_sql_at as sql_after_recycling_at,
        after_recycling.reached_customer_at as customer_after_recycling_at,
        demo_requests.first_demo_request_at,
    from lead_milestones
    left join hand_offs on hand_offs.lead_id = lead_milestones.lead_id
    left join first_answers on first_answers.lead_id = lead_milestones.lead_id
    left join after_recycling on after_recycling.lead_id = lead_milestones.lead_id
    left join demo_requests on demo_requests.lead_id = lead_milestones.lead_id
    where $channel::varchar is null or lead_milestones.channel = $channel::varchar
),

patterns as (
    select
        quarter_start,
        channel,
        case
            when recorded_mql_at is not null then 'mql'
            when reached_sal_at is not null and first_demo_request_at <= reached_sal_at
                then 'demo_request'
            when reached_sal_at is not null then 'direct'
            else 'none'
        end as entry,
        case
            when recorded_mql_at is not null
                then coalesce(sales_response(first_answer_stage), 'awaiting')
        end as first_response,
        first_recycled_at is not null as is_recycled,
        second_mql_at is not null as is_back,
        case
            when second_mql_at is not null
                then coalesce(sales_response(second_answer_stage), 'awaiting')
        end as second_response,
        case
            when reached_customer_at is not null then 'customer'
            when reached_sql_at is not null and last_disqualified_at >= reached_sql_at then 'lost'
            when reached_sql_at is not null then 'open_sql'
            when reached_sal_at is not null and last_disqualified_at >= reached_sal_at
                then 'dropped_at_sal'
            when reached_sal_at is not null then 'open_sal'
        end as outcome,
        reached_sql_at is not null and recorded_sal_at is null as is_sal_skipped,
        case
            when first_recycled_at is null then null
            when customer_after_recycling_at is not null then 'customer'
            when sql_after_recycling_at is not null then 'sql'
            else 'none'
        end as recycled_outcome,
    from journeys
),

final as (
    select
        quarter_start,
        channel,
        entry,
        first_response,
        is_recycled,
        is_back,
        second_response,
        outcome,
        is_sal_skipped,
        recycled_outcome,
        count(*) as count_leads,
    from patterns
    group by all
)

select * from final
order by quarter_start, channel, entry, first_response, is_recycled, is_back, second_response,
    outcome, is_sal_skipped, recycled_outcome
