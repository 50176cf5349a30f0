"""Arrow columns for the demo's tables: lead ids, dictionary-encoded strings (channels and
campaigns among them), timestamps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelcast.demo.story import CAMPAIGNS, CHANNELS


def lead_id_column(n: int, first: int = 0, count: int | None = None) -> pa.Array:
    """Return the ids of count leads from index first (all n by default) of n: L0000001..
    zero-padded to the width n needs, so that string order is numeric order."""
    width = max(7, len(str(n)))
    stop = n if count is None else first + count
    digits = pc.utf8_lpad(pa.array(np.arange(first + 1, stop + 1)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise("L", digits, "")


def dictionary(codes: np.ndarray, values: tuple, mask: np.ndarray | None = None) -> pa.Array:
    """Return a dictionary-encoded string column: codes index values, masked rows are null."""
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, pa.string()))


def timestamps(us: np.ndarray) -> pa.Array:
    """Return microseconds since the epoch as an Arrow timestamp column."""
    return pa.array(us.astype("datetime64[us]"))


def channel_column(codes: np.ndarray) -> pa.Array:
    """Return channel names from indices into CHANNELS."""
    return dictionary(codes, tuple(c.name for c in CHANNELS))


def campaign_column(codes: np.ndarray) -> pa.Array:
    """Return campaign names from indices into CAMPAIGNS; null where a channel has none."""
    no_campaign = np.array([c.name is None for c in CAMPAIGNS])[codes]
    return dictionary(codes, tuple(c.name or "" for c in CAMPAIGNS), no_campaign)
