"""Small-sample honesty: rates with their n and a Wilson score interval."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Below this many trials a rate is flagged as resting on a small sample.
MIN_N = 30
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """A share of successes among n trials, with its 95% Wilson interval."""

    successes: int
    n: int
    value: float | None
    low: float | None
    high: float | None
    is_small_sample: bool

    def as_dict(self) -> dict:
        """Return the rate as a JSON-ready dict."""
        return asdict(self)


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for successes out of n; n must be > 0."""
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At 0 or n successes the bound equals the observed rate exactly; rounding must not move it.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return low, high


def rate(successes: int, n: int) -> Rate:
    """Return successes / n with its interval; value and interval are None when n is 0."""
    successes, n = int(successes), int(n)
    if successes < 0 or n < 0 or successes > n:
        raise ValueError(f"a rate needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Rate(successes, n, None, None, None, True)
    low, high = wilson(successes, n)
    return Rate(successes, n, successes / n, low, high, n < MIN_N)


def ratio(numerator: float, denominator: float) -> float | None:
    """Return numerator / denominator, or None when the denominator is 0."""
    return None if not denominator else numerator / denominator
