-- schema.sql: creates Funnelcast's canonical tables in an empty database, at the newest schema
-- version (the highest NNN of queries/migrations/NNN_what.sql); the views and macros the
-- queries share come after it from shared.sql.
-- Grain of each table is stated above it. Times are UTC timestamps without time zone.
-- The schema version lives in meta('schema_version'); funnelcast.data.db refuses a database
-- whose version it does not know and migrates older ones with queries/migrations/, in order.
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

-- ===== custom attributes: every column of a leads export kept =====

-- one row per custom attribute: a column of an imported leads file that no built-in field
-- took, by its original header, with the type its values were read as
create table lead_attribute_types (
    attribute               varchar primary key,
    value_type              varchar not null check (value_type in ('text', 'number', 'date', 'yes/no')),
    source_file             varchar,
    updated_at              timestamp,
);

-- one row per lead and custom attribute it has a value for (no row: unknown). text_value for
-- text attributes; number_value for numbers, dates (seconds since the epoch, UTC) and yes/no
-- (1 / 0). No key: the importer replaces a lead's rows as a whole, which keeps them unique.
create table lead_attributes (
    lead_id                 varchar not null,
    attribute               varchar not null,
    text_value              varchar,
    number_value            double,
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

-- one row per fit rule: a lead whose field (a leads column or a custom attribute) meets the
-- rule gains points, or is disqualified. operator and field_type say what the rule is; the
-- value columns are its operand laid out for fit_rule_matches (queries/shared.sql), as
-- funnelcast.definitions.operators.compile_rule writes them: value (text `is`, `contains` and
-- `starts with`, the last two lowercased), value_list (`is any of` / `is none of`), low / high
-- (bounds on numbers, dates as epoch seconds, yes/no as 1/0; null: open; `within`: high is the
-- days in seconds). A `per unit` rule gives points per unit of a number, capped at cap_points.
create table definition_fit_rules (
    definition_id           integer not null references definitions (definition_id),
    rule_no                 integer not null,
    attribute               varchar not null,
    operator                varchar not null check (
        operator in (
            'is', 'is any of', 'is none of', 'contains', 'starts with', '<', '<=', '>', '>=',
            'between', 'before', 'after', 'within', 'is known', 'is unknown', 'per unit'
        )
    ),
    field_type              varchar not null check (field_type in ('text', 'number', 'date', 'yes/no')),
    value                   varchar,
    value_list              varchar[],
    low                     double,
    high                    double,
    low_inclusive           boolean not null default true,
    high_inclusive          boolean not null default true,
    points                  double not null default 0,
    is_disqualifier         boolean not null default false,
    cap_points              double check (cap_points >= 0),
    primary key (definition_id, rule_no),
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
