-- shared.sql: the macros and views the queries share, each said once.
-- funnelcast.data.db runs this file after schema.sql on a new database and after the steps of
-- every migration run (everything here is `create or replace`), so each database holds this
-- file's definitions; a change here needs a migration step (queries/migrations/NNN_what.sql,
-- which may hold only a comment) for the databases already out there to be re-created.
-- The Spark engine reads this file too: it defines the views on its own tables and writes each
-- macro call out in full (funnelcast.data.spark_sql), so a macro here translates like a query.
-- Parameters: none. A scalar macro's body reads its parameters alone; a table macro reads
-- tables too, so its parameters are named as no column of theirs is.

-- ===== macros: one expression, one meaning =====

-- the first day of the fiscal quarter holding ts (a date or a timestamp) when the fiscal year
-- starts in month fy_start_month (1-12): periods.quarter_of in Python keeps the same calendar
create or replace macro fiscal_quarter_start(ts, fy_start_month) as
    cast(
        date_trunc('quarter', ts - to_months(fy_start_month - 1)) + to_months(fy_start_month - 1)
        as date
    );

-- the band a head count falls in (null without one): fit rules name bands, not head counts
create or replace macro company_size_band(head_count) as
    case
        when head_count is null then null
        when head_count <= 10 then '1-10'
        when head_count <= 50 then '11-50'
        when head_count <= 200 then '51-200'
        when head_count <= 1000 then '201-1000'
        when head_count <= 5000 then '1001-5000'
        else '5000+'
    end;

-- a stage's place when answers that share a moment are ranked: the funnel's stages in order,
-- then rejected, recycled, and disqualified last
create or replace macro stage_rank(stage) as
    case stage
        when 'mql' then 0 when 'sal' then 1 when 'sql' then 2 when 'customer' then 3
        when 'rejected' then 4 when 'recycled' then 5 else 6
    end;

-- how sales answered a hand-off, by the stage the answer moved the lead to: 'accepted' (SAL,
-- SQL or customer), 'rejected' (rejected or recycled) or 'disqualified'; null for no answer
create or replace macro sales_response(stage) as
    case
        when stage in ('sal', 'sql', 'customer') then 'accepted'
        when stage in ('rejected', 'recycled') then 'rejected'
        when stage = 'disqualified' then 'disqualified'
    end;

-- what counts of a thing that happened at occurred_at, at the later moment at_moment: it halves
-- every half_life_days
create or replace macro half_life_decay(occurred_at, at_moment, half_life_days) as
    pow(0.5, (epoch(at_moment) - epoch(occurred_at)) / 86400.0 / half_life_days);

-- the share of a scoring event's points that counts at at_moment: decayed by the half-life,
-- except a penalty (negative points), which does not fade (an unsubscribe stands until undone)
create or replace macro event_decay(points, occurred_at, at_moment, half_life_days) as
    case
        when points < 0 then 1.0
        else half_life_decay(occurred_at, at_moment, half_life_days)
    end;

-- an event type's decayed points held to its rule's cap (cap_points null: no cap)
create or replace macro capped_points(decayed_points, cap_points) as
    case when cap_points is null then decayed_points else least(decayed_points, cap_points) end;

-- when a lead first reached SAL, SQL or customer, from its stage changes (aggregates, like min):
-- a stage counts as reached when the lead entered it or any later one (a demo request that went
-- straight to SQL has reached SAL too)
create or replace macro first_reached_sal(stage, changed_at) as
    min(changed_at) filter (where stage in ('sal', 'sql', 'customer'));

create or replace macro first_reached_sql(stage, changed_at) as
    min(changed_at) filter (where stage in ('sql', 'customer'));

create or replace macro first_reached_customer(stage, changed_at) as
    min(changed_at) filter (where stage = 'customer');

-- up to five of a data check's items, in order: the examples it shows ([] for none)
create or replace macro first_examples(item) as
    coalesce(list_slice(list(item order by item) filter (where item is not null), 1, 5), []);

-- ===== views =====

-- one row per lead and fit attribute it has a value for: what fit rules match against.
-- company_size is scored by band, so a rule names a band rather than a head count.
create or replace view lead_fit_attributes as
with
attribute_values as (
    select lead_id, 'channel' as attribute, channel as value from leads
    union all
    select lead_id, 'industry', industry from leads
    union all
    select lead_id, 'company_size_band', company_size_band(company_size) from leads
    union all
    select lead_id, 'country', country from leads
    union all
    select lead_id, 'region', region from leads
    union all
    select lead_id, 'seniority', seniority from leads
)
select * from attribute_values where value is not null;

-- one row per lead and field it has a value for: what fit rules test. The built-in lead
-- columns (company_size as a number and as its band, created_at in epoch seconds) and every
-- custom attribute the importer kept (lead_attributes). text_value holds text fields;
-- number_value numbers, dates (epoch seconds) and yes/no (1 / 0).
create or replace view lead_field_values as
with
field_values as (
    select lead_id, 'channel' as field, channel as text_value, null::double as number_value,
    from leads
    union all
    select lead_id, 'campaign', campaign, null::double from leads
    union all
    select lead_id, 'company', company, null::double from leads
    union all
    select lead_id, 'industry', industry, null::double from leads
    union all
    select lead_id, 'company_size', null::varchar, company_size::double from leads
    union all
    select lead_id, 'company_size_band', company_size_band(company_size), null::double from leads
    union all
    select lead_id, 'country', country, null::double from leads
    union all
    select lead_id, 'region', region, null::double from leads
    union all
    select lead_id, 'job_title', job_title, null::double from leads
    union all
    select lead_id, 'seniority', seniority, null::double from leads
    union all
    select lead_id, 'created_at', null::varchar, epoch(created_at)::double from leads
    union all
    select lead_id, attribute, text_value, number_value from lead_attributes
)
select * from field_values where text_value is not null or number_value is not null;

-- whether a fit rule (its operator and operand columns, as definition_fit_rules stores them)
-- holds for a known field value: text `is` / `is any of` / `is none of` match exactly,
-- `contains` / `starts with` ignore case (both sides lowercased; the rule keeps its text as
-- written), and the rest bound the number (open where low or high is null). `is unknown` and `within` need more than
-- the value and are tested in lead_fit.
create or replace macro fit_rule_matches(
    operator, rule_text, rule_texts, low, high, low_inclusive, high_inclusive,
    text_value, number_value
) as
    coalesce(
        case
            when operator in ('is known', 'per unit') then true
            when operator = 'is' and rule_text is not null then text_value = rule_text
            when operator = 'is any of' then list_contains(rule_texts, text_value)
            when operator = 'is none of' then not list_contains(rule_texts, text_value)
            when operator = 'contains' then contains(lower(text_value), lower(rule_text))
            when operator = 'starts with' then starts_with(lower(text_value), lower(rule_text))
            else (low is null or number_value > low or (low_inclusive and number_value = low))
                and (
                    high is null or number_value < high or (high_inclusive and number_value = high)
                )
        end,
        false
    );

-- the points a matching fit rule gives a lead: its points, or for `per unit` its points per
-- unit of the value held to its cap
create or replace macro fit_rule_points(operator, points, cap_points, number_value) as
    case
        when operator = 'per unit' then capped_points(points * number_value, cap_points)
        else points
    end;

-- one row per MQL definition, fit rule and lead the rule matches, with the points it gives
create or replace view lead_fit_matches as
with
known_matches as (
    select
        rules.definition_id,
        rules.rule_no,
        field_values.lead_id,
        fit_rule_points(rules.operator, rules.points, rules.cap_points, field_values.number_value)
            as points,
        rules.is_disqualifier,
    from lead_field_values as field_values
    join definition_fit_rules as rules on rules.attribute = field_values.field
    where rules.operator not in ('is unknown', 'within')
        and fit_rule_matches(
            rules.operator, rules.value, rules.value_list, rules.low, rules.high,
            rules.low_inclusive, rules.high_inclusive,
            field_values.text_value, field_values.number_value
        )
),
within_matches as (
    select rules.definition_id, rules.rule_no, leads.lead_id, rules.points, rules.is_disqualifier,
    from lead_field_values as field_values
    join definition_fit_rules as rules on rules.attribute = field_values.field
    join leads on leads.lead_id = field_values.lead_id
    where rules.operator = 'within'
        and abs(field_values.number_value - epoch(leads.created_at)) <= rules.high
),
unknown_matches as (
    select rules.definition_id, rules.rule_no, leads.lead_id, rules.points, rules.is_disqualifier,
    from leads
    join definition_fit_rules as rules on rules.operator = 'is unknown'
    left join lead_field_values as field_values
        on field_values.lead_id = leads.lead_id and field_values.field = rules.attribute
    where field_values.lead_id is null
)
select * from known_matches
union all
select * from within_matches
union all
select * from unknown_matches;

-- one row per MQL definition and lead that matches at least one of its fit rules: the lead's
-- fit points under that definition and whether a disqualifier matches it
create or replace view lead_fit as
select
    definition_id,
    lead_id,
    sum(points) as fit_points,
    bool_or(is_disqualifier) as is_disqualified,
from lead_fit_matches
group by definition_id, lead_id;

-- one row per lead: when it first reached each stage of the funnel as the CRM recorded it.
-- reached_*: the stage or a later one (see first_reached_sal), so for every lead
-- reached_sal_at <= reached_sql_at <= reached_customer_at where they are set.
-- recorded_*: that stage's own first change alone (recorded_mql_at: SQLs without one are
-- counted apart); first_rejected_at, first_recycled_at and last_disqualified_at likewise.
create or replace view lead_milestones as
with
stage_times as (
    select
        lead_id,
        min(changed_at) filter (where stage = 'mql') as recorded_mql_at,
        first_reached_sal(stage, changed_at) as reached_sal_at,
        first_reached_sql(stage, changed_at) as reached_sql_at,
        first_reached_customer(stage, changed_at) as reached_customer_at,
        min(changed_at) filter (where stage = 'rejected') as first_rejected_at,
        coalesce(sum(amount) filter (where stage = 'customer'), 0) as revenue,
        min(changed_at) filter (where stage = 'sal') as recorded_sal_at,
        min(changed_at) filter (where stage = 'sql') as recorded_sql_at,
        min(changed_at) filter (where stage = 'recycled') as first_recycled_at,
        max(changed_at) filter (where stage = 'disqualified') as last_disqualified_at,
    from stage_changes
    group by lead_id
)
select
    leads.lead_id,
    leads.channel,
    leads.created_at,
    stage_times.recorded_mql_at,
    stage_times.reached_sal_at,
    stage_times.reached_sql_at,
    stage_times.reached_customer_at,
    stage_times.first_rejected_at,
    coalesce(stage_times.revenue, 0) as revenue,
    stage_times.recorded_sal_at,
    stage_times.recorded_sql_at,
    stage_times.first_recycled_at,
    stage_times.last_disqualified_at,
from leads
left join stage_times on stage_times.lead_id = leads.lead_id;

-- one row per quarter with a plan: what it should win, revenue as a double as the planner counts
create or replace view plan_targets as
select quarter_start, target_customers, cast(target_revenue as double) as target_revenue,
from targets;

-- ===== table macros: the rows several queries aggregate their own way =====

-- one row per event an MQL definition gives points for (of_definition: its definition_id),
-- with the points of its event type and their cap (null: no cap)
create or replace macro scored_events(of_definition) as table
    select
        events.lead_id,
        events.occurred_at,
        events.event_type,
        rules.points,
        rules.cap_points,
    from events
    join definition_behaviour_rules as rules
        on rules.event_type = events.event_type
        and rules.definition_id = of_definition;

-- one row per lead: its fit points under the MQL definition of_definition (0 when none of its
-- fit rules matches the lead) and whether one of its disqualifiers does
create or replace macro lead_fit_points(of_definition) as table
    select
        leads.lead_id,
        leads.created_at,
        coalesce(lead_fit.fit_points, 0) as fit_points,
        coalesce(lead_fit.is_disqualified, false) as is_disqualified,
    from leads
    left join lead_fit
        on lead_fit.lead_id = leads.lead_id
        and lead_fit.definition_id = of_definition;

-- one row per lead with a stage change recorded before as_of: when it first reached MQL, SQL
-- (or customer) and customer, as the CRM knew it then
create or replace macro milestones_known(as_of) as table
    select
        lead_id,
        min(changed_at) filter (where stage = 'mql') as mql_at,
        first_reached_sql(stage, changed_at) as sql_at,
        first_reached_customer(stage, changed_at) as customer_at,
    from stage_changes
    where changed_at < as_of
    group by lead_id;

-- one row per deal: a customer stage change with an amount, with the fiscal quarter it closed
-- in and its lead's source channel and campaign ('' for none). With as_of (a timestamp), only
-- leads created and stage changes recorded before it count, as a backtest knew them then;
-- as_of null counts every row.
create or replace macro won_deals(fy_start_month, as_of) as table
    select
        stage_changes.lead_id,
        stage_changes.changed_at as deal_at,
        fiscal_quarter_start(stage_changes.changed_at, fy_start_month) as quarter_start,
        leads.channel,
        coalesce(leads.campaign, '') as campaign,
        stage_changes.amount,
    from stage_changes
    join leads on leads.lead_id = stage_changes.lead_id
    where stage_changes.stage = 'customer'
        and stage_changes.amount is not null
        and (as_of is null or (leads.created_at < as_of and stage_changes.changed_at < as_of));

-- one row per spend row, with the fiscal quarter its period_start falls in. With as_of, only
-- periods starting before it count; as_of null counts every row.
create or replace macro quarter_spend(fy_start_month, as_of) as table
    select
        fiscal_quarter_start(period_start, fy_start_month) as quarter_start,
        channel,
        campaign,
        amount,
    from spend
    where as_of is null or period_start < as_of;
