-- lab_leads.sql: what the Threshold Lab holds per lead: fit attributes, persona and outcomes.
-- Grain: one row per lead, in lead_id order; lead_index numbers them from 0 in that order
-- (lab_check_events.sql uses the same numbering).
-- The fit attributes are those definition_fit_rules match against (lead_fit_attributes);
-- outcomes come from lead_milestones. Times are microseconds since the Unix epoch (UTC).
-- Parameters: none.

with

numbered as (
    select
        row_number() over (order by lead_id) - 1 as lead_index,
        lead_id,
        created_at,
        channel,
        industry,
        country,
        region,
        seniority,
    from leads
),

-- company_size is banded by the lead_fit_attributes view, so the bands have one definition
size_bands as (
    select lead_id, value as company_size_band,
    from lead_fit_attributes
    where attribute = 'company_size_band'
),

final as (
    select
        numbered.lead_index,
        numbered.lead_id,
        epoch_us(numbered.created_at) as created_us,
        numbered.channel,
        numbered.industry,
        size_bands.company_size_band,
        numbered.country,
        numbered.region,
        numbered.seniority,
        epoch_us(lead_milestones.recorded_mql_at) as recorded_mql_us,
        epoch_us(lead_milestones.reached_sql_at) as reached_sql_us,
        epoch_us(lead_milestones.reached_customer_at) as reached_customer_us,
    from numbered
    left join size_bands on size_bands.lead_id = numbered.lead_id
    left join lead_milestones on lead_milestones.lead_id = numbered.lead_id
)

select * from final
order by lead_index
