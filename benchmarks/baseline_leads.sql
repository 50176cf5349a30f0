-- baseline_leads.sql: the raw leads with the attributes fit rules match, for bench_lab.py's
-- plain dataframe re-score.
-- Grain: one row per lead and attribute it has a value for (lead_fit_attributes), plus its
-- creation moment in microseconds since the Unix epoch (UTC).
-- Parameters: none.

with

final as (
    select
        leads.lead_id,
        epoch_us(leads.created_at) as created_us,
        lead_fit_attributes.attribute,
        lead_fit_attributes.value,
    from leads
    left join lead_fit_attributes on lead_fit_attributes.lead_id = leads.lead_id
)

select * from final
order by lead_id, attribute
