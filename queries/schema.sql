-- schema.sql: creates Funnelcast's canonical tables in an empty database.
-- Grain of each table is stated above it. Times are UTC timestamps without time zone.
-- The schema version lives in meta('schema_version'); funnelcast.db refuses a database
-- whose version it does not know and migrates older ones step by step.
-- Parameters: none. Run once per new database, inside one transaction.

-- settings and facts about the database: one row per key
create table meta (
    key                     varchar primary key,
    value                   varchar not null,
);

-- ===== the funnel =====

-- one row per lead (a contact in the CRM)
create table leads (
    lead_id                 varchar primary key,
    created_at              timestamp not null,
    channel                 varchar not null,
    campaign                varchar,
    company                 varchar,
    industry                varchar,
    company_size            integer check (company_size >= 0),
    country                 varchar,
    region                  varchar,
    job_title               varchar,
    seniority               varchar,
    attributes              json,
);

-- one row per behavioural event of a lead. Every lead_id is a lead's: the loaders see to it
-- (funnelcast import refuses a file with an event of an unknown lead, the demo builder makes
-- events only for the leads it makes). No foreign key: DuckDB would check it row by row and
-- keep an index over every event, which costs more than all the rest of a 20M-event import.
create table events (
    lead_id                 varchar not null,
    occurred_at             timestamp not null,
    event_type              varchar not null,
    content_stage           varchar check (content_stage in ('top', 'middle', 'bottom')),
    channel                 varchar,
    campaign                varchar,
);

-- one row per stage a lead entered, as the CRM recorded it
create table stage_changes (
    lead_id                 varchar not null references leads (lead_id),
    stage                   varchar not null check (
        stage in ('mql', 'sal', 'sql', 'customer', 'rejected', 'recycled', 'disqualified')
    ),
    changed_at              timestamp not null,
    reason                  varchar,
    amount                  decimal(18, 2) check (amount >= 0),
    owner                   varchar,
    primary key (lead_id, stage, changed_at),
);

-- ===== money and plans =====

-- one row per period, channel and campaign; campaign '' is spend on the channel as a whole
create table spend (
    period_start            date not null,
    channel                 varchar not null,
    campaign                varchar not null default '',
    amount                  decimal(18, 2) not null check (amount >= 0),
    primary key (period_start, channel, campaign),
);

-- one row per quarter with a plan: what the quarter should win
create table targets (
    quarter_start           date primary key,
    target_customers        integer check (target_customers > 0),
    target_revenue          decimal(18, 2) check (target_revenue > 0),
    check (target_customers is not null or target_revenue is not null),
);

-- ===== MQL definitions: versioned, never overwritten =====

-- one row per version of the MQL definition; the one in force in a quarter is the one
-- with the latest effective_from on or before the quarter's start
create table definitions (
    definition_id           integer primary key,
    name                    varchar not null,
    effective_from          date not null,
    threshold               double not null check (threshold >= 0),
    half_life_days          double not null check (half_life_days > 0),
    created_at              timestamp not null,
    note                    varchar,
);

-- one row per fit rule: a lead whose attribute has this value gains points, or is disqualified
create table definition_fit_rules (
    definition_id           integer not null references definitions (definition_id),
    attribute               varchar not null check (
        attribute in ('channel', 'industry', 'company_size_band', 'country', 'region', 'seniority')
    ),
    value                   varchar not null,
    points                  double not null default 0,
    is_disqualifier         boolean not null default false,
    primary key (definition_id, attribute, value),
);

-- one row per event type that scores: points per event, decayed by the half-life,
-- the decayed sum of one type capped at cap_points (null: no cap)
create table definition_behaviour_rules (
    definition_id           integer not null references definitions (definition_id),
    event_type              varchar not null,
    points                  double not null,
    cap_points              double check (cap_points >= 0),
    primary key (definition_id, event_type),
);

-- ===== views the queries share =====

-- one row per lead and fit attribute it has a value for: what fit rules match against.
-- company_size is scored by band, so a rule names a band rather than a head count.
create view lead_fit_attributes as
with
attribute_values as (
    select lead_id, 'channel' as attribute, channel as value from leads
    union all
    select lead_id, 'industry', industry from leads
    union all
    select
        lead_id,
        'company_size_band',
        case
            when company_size is null then null
            when company_size <= 10 then '1-10'
            when company_size <= 50 then '11-50'
            when company_size <= 200 then '51-200'
            when company_size <= 1000 then '201-1000'
            when company_size <= 5000 then '1001-5000'
            else '5000+'
        end
    from leads
    union all
    select lead_id, 'country', country from leads
    union all
    select lead_id, 'region', region from leads
    union all
    select lead_id, 'seniority', seniority from leads
)
select * from attribute_values where value is not null;

-- one row per MQL definition and lead that matches at least one of its fit rules: the lead's
-- fit points under that definition and whether a disqualifier matches it
create view lead_fit as
select
    rules.definition_id,
    lead_fit_attributes.lead_id,
    sum(rules.points) as fit_points,
    bool_or(rules.is_disqualifier) as is_disqualified,
from lead_fit_attributes
join definition_fit_rules as rules
    on rules.attribute = lead_fit_attributes.attribute
    and rules.value = lead_fit_attributes.value
group by rules.definition_id, lead_fit_attributes.lead_id;

-- one row per lead: when it first reached each stage of the funnel as the CRM recorded it.
-- A stage counts as reached when the lead entered it or any later stage (a demo request that
-- went straight to SQL has reached SAL too), so for every lead
-- reached_sal_at <= reached_sql_at <= reached_customer_at where they are set.
-- recorded_mql_at stays the recorded MQL moment alone: SQLs without one are counted apart.
create view lead_milestones as
with
stage_times as (
    select
        lead_id,
        min(changed_at) filter (where stage = 'mql') as recorded_mql_at,
        min(changed_at) filter (where stage in ('sal', 'sql', 'customer')) as reached_sal_at,
        min(changed_at) filter (where stage in ('sql', 'customer')) as reached_sql_at,
        min(changed_at) filter (where stage = 'customer') as reached_customer_at,
        min(changed_at) filter (where stage = 'rejected') as first_rejected_at,
        coalesce(sum(amount) filter (where stage = 'customer'), 0) as revenue,
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
from leads
left join stage_times on stage_times.lead_id = leads.lead_id;
