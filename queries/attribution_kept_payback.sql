-- attribution_kept_payback.sql: the kept payback of each quarter's spend (spend_payback.sql's
-- rows, as attribution_kept_write.sql kept them with the attribution).
-- Grain: spend_payback.sql's.
-- Parameters: none.

with

final as (
    select * from attribution_kept_payback
)

select * from final
