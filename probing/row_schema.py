"""What a result row may hold: checked when rows are written and whenever they are read.

Everything downstream (summaries, the report, ablation, superposition, polysemantic) reads rows
through probing.results.read_results, so a row edited by hand (`"f1": 2.0`, `"k": -1`, a support
longer than k) is skipped there, with a count, instead of being shown or used.
"""

from __future__ import annotations

import math
from typing import Any

from probing.probes.metrics import METRIC_NAMES

REQUIRED_COLUMNS = (
    "model",
    "feature",
    "collection",
    "category",
    "layer",
    "method",
    "backend",
    "k",
    *METRIC_NAMES,
    "support",
)
TEXT = ("model", "feature", "collection", "category", "method", "backend")
COUNTS = ("n_train", "n_val", "n_test", "n_test_positive", "duplicate_examples", "truncated_texts")
# fractions that may be missing (null) but never outside [0, 1]
OPTIONAL_FRACTIONS = (
    "val_f1",
    "train_f1",
    "f1_ci_low",
    "f1_ci_high",
    "chance_f1",
    "positive_fraction",
    "truncated_positive_fraction",
)
FRACTION_LISTS = ("null_f1", "null_val_f1", "random_f1")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _in(value: Any, low: float, high: float) -> bool:
    return _number(value) and low <= value <= high


def row_problem(row: Any) -> str | None:
    """Why `row` is not a valid result row, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    missing = [c for c in REQUIRED_COLUMNS if c not in row]
    if missing:
        return f"lacks {missing}"
    for name in TEXT:
        if not isinstance(row[name], str) or not row[name]:
            return f"{name}={row[name]!r} is not a name"
    if not _integer(row["layer"]) or row["layer"] < 0:
        return f"layer={row['layer']!r} is not a layer index"
    if not _integer(row["k"]) or row["k"] < 1:
        return f"k={row['k']!r} is not a positive integer"
    support = row["support"]
    if not isinstance(support, list) or not all(_integer(n) and n >= 0 for n in support):
        return f"support={support!r} is not a list of neuron indices"
    if len(support) != row["k"]:
        return f"support has {len(support)} neurons, k={row['k']}"
    if not _in(row["f1"], 0, 1):
        return f"f1={row['f1']!r} is not in [0, 1]"
    for name in METRIC_NAMES:
        low = -1 if name == "mcc" else 0
        if row[name] is not None and not _in(row[name], low, 1):
            return f"{name}={row[name]!r} is not in [{low}, 1]"
    for name in OPTIONAL_FRACTIONS:
        if row.get(name) is not None and not _in(row[name], 0, 1):
            return f"{name}={row[name]!r} is not in [0, 1]"
    if row.get("p_value") is not None and not _in(row["p_value"], 1e-12, 1):
        return f"p_value={row['p_value']!r} is not in (0, 1]"
    for name in COUNTS:
        if row.get(name) is not None and not (_integer(row[name]) and row[name] >= 0):
            return f"{name}={row[name]!r} is not a count"
    for name in FRACTION_LISTS:
        values = row.get(name)
        if values is not None and (
            not isinstance(values, list) or not all(_in(v, 0, 1) for v in values)
        ):
            return f"{name} is not a list of F1 values"
    return None
