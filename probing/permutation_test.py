"""The permutation p-value: one formula for the probes' per-layer nulls and the summaries' nulls
of the chosen layer (a leaf, so the results-only analysis code can import it without torch)."""

from __future__ import annotations

import numpy as np


def p_value(statistic: float, null) -> float:
    """(1 + #{null >= statistic}) / (1 + n): the permutation p-value, never 0 (the real labels
    count as one draw of the null). NaN without a null or a finite statistic."""
    null = np.asarray(null, dtype=float)
    if not len(null) or not np.isfinite(statistic):
        return float("nan")
    return float((1 + np.sum(null >= statistic - 1e-12)) / (1 + len(null)))
