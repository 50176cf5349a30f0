"""A seeded, realistic B2B funnel history for an empty Funnelcast database.

The story the data tells, so that tests and pages can rely on it:
- 12 fiscal quarters of leads ending at `end`, growing about 30% a year, with a summer and a
  December dip; eight channels with their own volume, cost per lead and lead quality.
- Each lead belongs to a company (industry, size, country, region) and has a seniority and a job
  title. Directors and above at 201-5000 employee software and finance companies convert best;
  interns, juniors and the unserved region (mena) never become customers.
- Each lead has an engagement arc: events build up towards a peak and fade after it, and
  higher-intent leads do more middle- and bottom-of-funnel things near their peak.
- The default MQL definition (id 1) scores them; the recorded MQL moments are exactly what
  queries/computed_mql_moments.sql computes for it (found with funnelcast.scoring, its
  linear-time twin). Downstream stages are drawn per lead with a
  planted probability = channel base rate x persona multiplier, stored in demo_planted_rates.
- Every MQL is resolved (SQL, customer, lost, rejected, disqualified) within LAG_CAP_DAYS, so MQL
  and SQL cohorts older than that are mature; nothing after `end` is recorded, so recent cohorts
  are not. Some rejected 'not ready' MQLs are recycled and come back as MQLs again; some demo
  requests that never made MQL go straight to SQL.
- demo_planted_rates holds, per channel and for 'all': mql_to_sql = mean planted P(reach SQL by
  any path) over the MQLs recorded before end + 1 day - LAG_CAP_DAYS; sql_to_customer = mean
  planted P(customer) over the SQLs reached before then; cost_per_lead = the channel's planted
  cost, which spend follows quarter by quarter (direct has spend rows of 0: it costs nothing).
- meta as_of = `end`: the data's today. Targets cover the 12 quarters (the trend plus some
  ambition) and the next 2 (last year's same quarter plus 10%, the Planner's suggestion).

- Leads come in units of UNIT_LEADS, each drawn from its own random streams (the first from the
  seed's own), and a build generates, writes and scores a block of whole units at a time: the
  memory is bounded at any size and the same seed gives the same data whatever the block size.

Its modules: story (every parameter of the story above, as tables), people, events, definition
(the default MQL definition and its moments), mql (a block's MQL moments from its generated
events, bit for bit the scorer's), stages, spend (spend and targets), units (which
streams draw which leads, and the blocks), and build (`build_demo`, `build_file`); sampling and
columns hold what the generators share.
"""

from funnelcast.demo.build import build_demo, build_file
from funnelcast.demo.story import EVENT_TYPES, LAG_CAP_DAYS, REJECT_REASONS, REPS

__all__ = ["EVENT_TYPES", "LAG_CAP_DAYS", "REJECT_REASONS", "REPS", "build_demo", "build_file"]
