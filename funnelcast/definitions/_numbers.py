"""How definitions' messages and files write numbers: 40, 12.5 (private to the package)."""

from __future__ import annotations

import math
from typing import Any


def is_number(value: Any) -> bool:
    """Return whether value is a finite int or float (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_text(value: Any) -> str:
    """Return a number as people write it: 40, 12.5 (anything else as its repr)."""
    if is_number(value):
        return str(int(value)) if float(value).is_integer() else f"{value:.6g}"
    return repr(value)
