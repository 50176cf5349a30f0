-- rollup_roi.sql: the ROI summary's rows: roi_by_channel_quarter.sql as rollup_write.sql kept it.
-- Grain: one row per fiscal quarter, channel and campaign (roi_by_channel_quarter.sql's grain).
-- Parameters: none.

with

final as (
    select * from rollup_roi_by_channel_quarter
)

select * from final
order by quarter_start, channel, campaign
