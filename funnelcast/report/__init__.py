"""The quarterly review: one self-contained HTML file a marketing leader can forward.

It sits above analytics and charts (it gathers figures from the one and draws them with the
other); the ROI page's download button and `funnelcast roi --review` both build it here.
"""

from funnelcast.report.review import ReportData, attribution_notes, build, collect, render, write

__all__ = ["ReportData", "attribution_notes", "build", "collect", "render", "write"]
