-- channels.sql: every channel the data knows, from leads and spend.
-- Grain: one row per channel.
-- Parameters: none.

with

final as (
    select channel from leads
    union
    select channel from spend
)

select * from final
order by channel
