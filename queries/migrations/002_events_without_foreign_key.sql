-- 002_events_without_foreign_key.sql: schema 1 -> 2. Events lose their foreign key to leads
-- (why: see the events table in queries/schema.sql). DuckDB cannot drop a constraint, so the
-- table is rebuilt as schema.sql now creates it, every row kept.

create table events_v2 (
    lead_id                 varchar not null,
    occurred_at             timestamp not null,
    event_type              varchar not null,
    content_stage           varchar check (content_stage in ('top', 'middle', 'bottom')),
    channel                 varchar,
    campaign                varchar,
);

insert into events_v2
select lead_id, occurred_at, event_type, content_stage, channel, campaign from events;

drop table events;

alter table events_v2 rename to events;
