"""The switch that turns the Threshold Lab's fast path off: FUNNELCAST_LAB_FAST=0.

Off, every scoring loop runs kernels.generic_scores (never the vector loop) and the buffer pool
reuses nothing: every rescore writes fresh arrays. The answers are the same either way, bit for
bit (tests/test_lab.py runs them both); off is for reading and checking the engine, and for
Pythons where the hand-written vector type or reused memory are in doubt.

The variable is read on every call into the fast path (each scoring, each pass over the check
moments, each take from or give-back to the pool), never cached at import: set it before a
scoring starts, and that scoring runs as it says. Any value but 0, false, no or off is on.
"""

from __future__ import annotations

import os

ENV = "FUNNELCAST_LAB_FAST"
_OFF = frozenset({"0", "false", "no", "off"})


def enabled() -> bool:
    """Return whether the fast path is on: the vector loop and reused buffers."""
    return os.environ.get(ENV, "1").strip().lower() not in _OFF
