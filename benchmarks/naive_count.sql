-- naive_count.sql: the benchmark's baseline: one figure for one channel and quarter per query,
-- straight from the raw tables, as a first dashboard is often written.
-- Grain: one row. Parameters: $figure, $channel, $start (date), $end (date, exclusive).
select case $figure
    when 'leads' then (
        select count(*) from leads
        where channel = $channel and created_at >= $start and created_at < $end)
    when 'mqls' then (
        select count(*) from (
            select s.lead_id from stage_changes s join leads l using (lead_id)
            where l.channel = $channel and s.stage = 'mql'
            group by s.lead_id having min(s.changed_at) >= $start and min(s.changed_at) < $end))
    when 'sqls' then (
        select count(*) from (
            select s.lead_id from stage_changes s join leads l using (lead_id)
            where l.channel = $channel and s.stage in ('sql', 'customer')
            group by s.lead_id having min(s.changed_at) >= $start and min(s.changed_at) < $end))
    when 'customers' then (
        select count(*) from (
            select s.lead_id from stage_changes s join leads l using (lead_id)
            where l.channel = $channel and s.stage = 'customer'
            group by s.lead_id having min(s.changed_at) >= $start and min(s.changed_at) < $end))
    when 'mqls_reached_sql' then (
        select count(*) from (
            select s.lead_id from stage_changes s join leads l using (lead_id)
            where l.channel = $channel and s.stage = 'mql'
            group by s.lead_id having min(s.changed_at) >= $start and min(s.changed_at) < $end) m
        where exists (
            select 1 from stage_changes x
            where x.lead_id = m.lead_id and x.stage in ('sql', 'customer')))
    when 'revenue' then (
        select sum(s.amount) from stage_changes s join leads l using (lead_id)
        where l.channel = $channel and s.stage = 'customer'
            and s.changed_at >= $start and s.changed_at < $end)
    when 'spend' then (
        select sum(amount) from spend
        where channel = $channel and period_start >= $start and period_start < $end)
end as value
