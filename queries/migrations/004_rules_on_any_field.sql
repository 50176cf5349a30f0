-- 004_rules_on_any_field.sql: schema 3 -> 4. Fit rules name any field with an operator, and
-- the columns of a leads export no built-in field took are kept as custom attributes.
-- definition_fit_rules is rebuilt as schema.sql now creates it: every old rule becomes an
-- `is` rule on a text field with its points, so every saved version scores as it did.

create table definition_fit_rules_v4 (
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

insert into definition_fit_rules_v4
    (definition_id, rule_no, attribute, operator, field_type, value, points, is_disqualifier)
select
    definition_id,
    row_number() over (partition by definition_id order by attribute, value),
    attribute,
    'is',
    'text',
    value,
    points,
    is_disqualifier,
from definition_fit_rules;

drop table definition_fit_rules;

alter table definition_fit_rules_v4 rename to definition_fit_rules;

create table lead_attribute_types (
    attribute               varchar primary key,
    value_type              varchar not null check (value_type in ('text', 'number', 'date', 'yes/no')),
    source_file             varchar,
    updated_at              timestamp,
);

create table lead_attributes (
    lead_id                 varchar not null,
    attribute               varchar not null,
    text_value              varchar,
    number_value            double,
);
