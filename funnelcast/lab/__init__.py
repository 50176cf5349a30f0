"""The Threshold Lab engine: what-if MQL definitions, backtested on history, fast at 1M leads.

Its public face; each job has its module:
- quarters: the days and fiscal quarters of the data (Calendar);
- history: what no slider changes, materialised once per data load (Materialised), and its
  half-life copies (with_half_life);
- weights: a definition compiled against the history (Weights), and micro-points;
- scores: a definition's record highs over the history (score, Scores), and who owns the
  arrays they live in;
- thresholds: what a threshold move answers (backtest, backtest_moments, tradeoff_curve);
- versions: MQL moments checked at every moment, each quarter by its version in force;
- moving: who a candidate definition takes in or drops (who_moves, movers);
- explain: one lead's scores, and a score's rows from the database;
- page: what the Lab page shows, without Streamlit;
- warm: the engine's loops compiled ahead (a server starts it in the background);
- budget: the memory a materialisation will take, set against what the process may use, and
  the seeded sample of leads it works on where the whole will not fit;
- sampled: a sampled history's figures, volumes scaled back to the whole data.
The compiled loops, the hand-written vector type and the buffer pool are fenced in the private
package _fast, which these modules call through its small interface. FUNNELCAST_LAB_FAST=0
runs the generic loops with no buffer reuse, the same answers bit for bit; it is read on every
call into the fast path (each scoring starts by reading it), never at import (_fast/switch.py).

A Scores' arrays come from its history's pool: whoever owns a scoring calls Scores.release
when done with it (the dashboard's cache on eviction, a loop before its next rescore), and the
next scoring writes over them; a scoring never released is simply garbage collected.
"""

from funnelcast.lab import budget, sampled
from funnelcast.lab._fast import BIAS, DAY_US, NEVER, SCORE_BITS, Released
from funnelcast.lab.budget import Sample
from funnelcast.lab.explain import explain_score, lead_checks
from funnelcast.lab.fields import FieldNotLoaded, named_fields
from funnelcast.lab.history import (
    FIT_ATTRIBUTES,
    Materialised,
    Progress,
    Rematerialise,
    materialise,
    materialise_for,
    read_fields,
    read_fields_for,
)
from funnelcast.lab.moving import NO_VALUE, PERSONA, Movers, movers, who_moves
from funnelcast.lab.quarters import Calendar
from funnelcast.lab.scores import Records, Scores, score, with_half_life
from funnelcast.lab.thresholds import (
    Backtest,
    backtest,
    backtest_moments,
    default_thresholds,
    tradeoff_curve,
)
from funnelcast.lab.versions import (
    moments_frame,
    mql_moments,
    mql_moments_in_force,
    versions_in_force,
)
from funnelcast.lab.weights import (
    Weights,
    compile_weights,
    fit_values,
    micro,
    threshold_micro,
)

__all__ = [
    "BIAS",
    "FieldNotLoaded",
    "Sample",
    "budget",
    "named_fields",
    "sampled",
    "fit_values",
    "read_fields",
    "read_fields_for",
    "DAY_US",
    "FIT_ATTRIBUTES",
    "NEVER",
    "NO_VALUE",
    "PERSONA",
    "SCORE_BITS",
    "Backtest",
    "Calendar",
    "Materialised",
    "Movers",
    "Progress",
    "Records",
    "Released",
    "Rematerialise",
    "Scores",
    "Weights",
    "backtest",
    "backtest_moments",
    "compile_weights",
    "default_thresholds",
    "explain_score",
    "lead_checks",
    "materialise",
    "materialise_for",
    "micro",
    "moments_frame",
    "movers",
    "mql_moments",
    "mql_moments_in_force",
    "score",
    "threshold_micro",
    "tradeoff_curve",
    "versions_in_force",
    "who_moves",
    "with_half_life",
]
