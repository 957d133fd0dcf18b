"""Numbers as the report and `xorbench compare` print them."""

from __future__ import annotations

import math


def sig(x: float, digits: int = 3) -> str:
    """x to `digits` significant figures (whole numbers in full), thousands separated, never e-notation."""
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):,.{decimals}f}"
