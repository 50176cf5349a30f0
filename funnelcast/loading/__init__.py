"""Every write of data, with the summaries the pages read kept in the same transaction: an
import (`import_file`), the demo build (`build_demo`) and `summarise` for a database made before.
The CLI, the Data page and the dashboard's first start write through here, so that no caller has
to remember to keep the summaries (funnelcast.analytics.rollups and .rollups_pages)."""

from funnelcast.loading.write import build_demo, import_file, keep_summaries, summarise

__all__ = ["build_demo", "import_file", "keep_summaries", "summarise"]
