"""Numbers as the report and `xorbench compare` print them: the report template's filters.

Each function turns a number (or a missing one) into the few characters of a table cell; none writes a
sentence. A missing number prints as "not measured (why)", never as nan or None.
"""

from __future__ import annotations

import math
import re

from .load import measured
from .stats import FASTER, FEW, MIN_PROCESSES, SAME, SLOWER, Versus, wilson

VERDICT_WORDS = {SLOWER: "slower", FASTER: "faster", SAME: "same within noise"}


def sig(x: float, digits: int = 3) -> str:
    """x to `digits` significant figures (whole numbers in full), thousands separated, never e-notation."""
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{round(x, decimals):,.{decimals}f}"


def loss_text(x: float) -> str:
    return f"{x:.3g}"


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def cell(x, text=sig, why: str = "not recorded") -> str:
    return text(x) if measured(x) else f"not measured ({why})"


def label(key: tuple) -> str:
    backend, device, mode = key[:3]
    return f"{backend} ({device}, {mode})"


def short_commit(commit: str) -> str:
    """A commit as the report names it: 12 hex digits, and whether the tree had uncommitted changes."""
    return commit[:12] + (" (with uncommitted changes)" if commit.endswith("-dirty") else "")


def success_text(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {pct(k / n)} ({pct(low)}–{pct(high)})"


def interval_text(interval: tuple | None) -> str:
    return f"{sig(interval[0])}–{sig(interval[1])}" if interval is not None else ""


def with_interval(x: float | None, interval: tuple | None, processes: int, why: str) -> str:
    """A median with its 95% interval, or why it has none."""
    if not measured(x):
        return f"not measured ({why})"
    if interval is None:
        return f"{sig(x)} (1 process, no interval)" if processes <= 1 else sig(x)
    return f"{sig(x)} ({interval_text(interval)})"


def counted(x: float | None, n: int, why: str, cache: str = "") -> str:
    """A median over n processes, with the compile cache they started with where one was recorded."""
    state = f", {cache} compile cache" if cache else ""
    return f"{sig(x)} (n={n}{state})" if measured(x) else f"not measured ({why})"


def verdict_words(v: Versus) -> str:
    if v.verdict == FEW:
        return f"too few processes to tell ({v.n_a} and {v.n_b}; {MIN_PROCESSES} each needed)"
    return VERDICT_WORDS[v.verdict]


def ratio_text(v: Versus) -> str:
    """B/A with its interval: "1.23× (1.20–1.27)"."""
    interval = f" ({interval_text((v.low, v.high))})" if v.low is not None else ""
    return f"{sig(v.ratio)}×{interval}"


def times_text(v: Versus) -> str:
    """B/A as a reader says it: "14,200× faster (11,700–16,600)" below 1, "1.17× slower (0.91–1.25)" above."""
    if v.ratio >= 1:
        return f"{sig(v.ratio)}× slower" + (f" ({interval_text((v.low, v.high))})" if v.low is not None else "")
    interval = f" ({interval_text((1 / v.high, 1 / v.low))})" if v.low is not None and v.low > 0 else ""
    return f"{sig(1 / v.ratio)}× faster{interval}"


def versus_text(v: Versus) -> str:
    return f"{ratio_text(v)}: {verdict_words(v)}"


def borrowed(row) -> str:
    """The mark on a number that comes from another mode's seeds."""
    return f" (from {row.borrowed_from})" if row.borrowed_from else ""


def seeds_text(seeds: tuple[int, ...]) -> str:
    if not seeds:
        return "each series' own seeds"
    if len(seeds) > 3 and seeds == tuple(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}–{seeds[-1]}"
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(s) for s in seeds)


def thousands(x) -> str:
    return f"{x:,}"


def md_cell(text) -> str:
    """A table cell: one line, its pipes escaped, never empty."""
    return str(text).replace("\n", " ").replace("|", "\\|") or "not measured (empty)"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# A backend's own words for a mode (runs.csv's `method`) were, before backends.describe, the first line of
# a docstring, which could stop mid-sentence ("…, looped by lax.fori_loop, with") or name a class constant
# ("WINDOW epochs per call"). Tables written then (the committed reference run) still hold such texts,
# and the report prints them as data, so they are mended here until those tables are measured again.
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{4,}\b(?= [a-z])")  # "WINDOW epochs"; not XLA, JAX, SGD, ECDF, CUDA
DANGLING = re.compile(r"[,;:]?\s+(?:with|and|or|of|the|a|an|by|to|for|in|on|at|from|where|which|that|as)$", re.I)


def whole_clause(text: str) -> str:
    """`text` without a dangling last word or a constant's name standing for a number: a clause that
    was cut is cut back to its last comma, semicolon or colon."""
    text = PLACEHOLDER.sub("a fixed number of", text.strip()).rstrip(" .,;:")
    text = text[0].upper() + text[1:] if text[:1].islower() and text.startswith("a fixed") else text
    while DANGLING.search(text):
        cut = max(text.rfind(","), text.rfind(";"), text.rfind(":"))
        text = text[:cut].rstrip() if cut > 0 else DANGLING.sub("", text)
    return text
