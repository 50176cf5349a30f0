"""The Threshold Lab's fast path, fenced: everything numba-, LLVM- or memory-reuse-specific.

funnelcast.lab's readable modules say what is computed and call only the names below; how it is
made fast lives here:
- crossings: a lead's first check whose score reaches a threshold (crossings);
- kernels: the scoring loops (numba, cache=True; the hot ones without reference counting,
  _nrt=False) and their Python entry points record_highs, refit_highs, crossings and
  check_scores;
- simd: the hand-written 8-lane LLVM vector type the vector scoring loop keeps its sums in;
- layout: events sorted per lead and laid out as checks and event groups; fit points per lead;
- sorting: a quarter's record keys sorted by radix on the bits they use;
- counting: what a threshold move counts (buckets, histograms, SQL counts, who moves);
- stabbing: the SQL records of chosen quarters indexed so a threshold move reads a few hundred
  (checkpointed running sums by lower and upper bound; the median days earlier by rank bins);
- buffers: the BufferPool a history's scorings take their arrays from, and the Lease by which
  a scoring holds them until its owner releases it;
- switch: FUNNELCAST_LAB_FAST=0 runs the generic loop only and reuses no buffer.
"""

from funnelcast.lab._fast.buffers import BufferPool, Lease, Released
from funnelcast.lab._fast.counting import (
    MOVER_STEP,
    bucket_places,
    count_buckets,
    day_counts,
    key_histogram,
    mover_checkpoints,
    mover_groups,
    mover_keys,
    movers_before,
    scatter,
    sql_counts,
    sql_histograms,
    type_masks,
    who_moves,
)
from funnelcast.lab._fast.crossings import crossings
from funnelcast.lab._fast.kernels import (
    BIAS,
    CAPPED,
    DAY_US,
    NEVER,
    NO_SCORE,
    PENALTY,
    REWARD,
    SCORE_BITS,
    VECTOR_SLOTS,
    check_scores,
    new_behaviour,
    record_highs,
    refit_highs,
)
from funnelcast.lab._fast.layout import count_layout, fill_layout, fit_points, sort_events
from funnelcast.lab._fast.sorting import sort_keys
from funnelcast.lab._fast.stabbing import LAG_SPLIT, SqlIndex, sql_index, sql_index_at
from funnelcast.lab._fast.switch import ENV, enabled

__all__ = [
    "BIAS",
    "CAPPED",
    "DAY_US",
    "ENV",
    "LAG_SPLIT",
    "MOVER_STEP",
    "NEVER",
    "NO_SCORE",
    "PENALTY",
    "REWARD",
    "SCORE_BITS",
    "SqlIndex",
    "VECTOR_SLOTS",
    "BufferPool",
    "Lease",
    "Released",
    "bucket_places",
    "check_scores",
    "count_buckets",
    "count_layout",
    "crossings",
    "day_counts",
    "enabled",
    "fill_layout",
    "fit_points",
    "key_histogram",
    "mover_checkpoints",
    "mover_groups",
    "mover_keys",
    "movers_before",
    "new_behaviour",
    "record_highs",
    "refit_highs",
    "scatter",
    "sort_events",
    "sort_keys",
    "sql_counts",
    "sql_histograms",
    "sql_index",
    "sql_index_at",
    "type_masks",
    "who_moves",
]
