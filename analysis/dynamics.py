"""Scale dynamics: how each feature's best single neuron changes across the models of a sweep.

The paper (section 6) sees three fates as models grow: a dedicated neuron **emerges** (the best
k=1 F1 rises to a high value), a feature **splits** into finer ones spread over several neurons
(the best k=1 F1 falls while probes with more neurons keep finding it), or nothing much changes.
With the models ordered by parameter count, from the smallest to the largest:

- `emerges`: the best k=1 F1 rises by at least RISE and ends at least HIGH;
- `splits`: the best k=1 F1 falls by at least FALL while the best F1 at any k stays within KEEP
  of where it was (the information is still there, no longer in one neuron);
- `unchanged`: the best k=1 F1 moves by less than STEADY;
- `mixed`: anything else (it moved, but not in one of the ways above);
- `inconclusive`: it moved by STEADY or more, but the 95% intervals of the two test F1s overlap
  (rows with f1_ci_low / f1_ci_high): a move that test noise alone makes often (with 30 + 30
  test examples, for about a quarter of features that do not change at all) is no dynamics.

Best layers and probes are chosen on validation where the rows have it (probing.results), so a
noisy maximum over layers does not pass for a change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.models import model_info, order_models
from probing.summaries import best_rows

RISE, HIGH, FALL, KEEP, STEADY = 0.15, 0.8, 0.1, 0.05, 0.1
RULE = (
    f"emerges: k=1 F1 rises >= {RISE} and ends >= {HIGH}; splits: k=1 F1 falls >= {FALL} while "
    f"the best F1 at any k moves < {KEEP}; unchanged: k=1 F1 moves < {STEADY}; inconclusive: "
    "it moves more, but the two k=1 F1s' 95% intervals overlap; else mixed (smallest vs largest "
    "model)"
)


def classify(
    k1_first: float,
    k1_last: float,
    best_first: float,
    best_last: float,
    k1_first_ci: tuple[float, float] | None = None,
    k1_last_ci: tuple[float, float] | None = None,
) -> str:
    """The class of the change (module docstring); the k=1 F1s' 95% intervals, where given,
    decide whether a move of STEADY or more is one."""
    change = k1_last - k1_first
    if abs(change) >= STEADY and _overlap(k1_first_ci, k1_last_ci):
        return "inconclusive"
    if change >= RISE and k1_last >= HIGH:
        return "emerges"
    if change <= -FALL and abs(best_last - best_first) < KEEP:
        return "splits"
    if abs(change) < STEADY:
        return "unchanged"
    return "mixed"


def _overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Whether two intervals overlap; False where either is missing (nothing to say)."""
    if a is None or b is None or not np.isfinite([*a, *b]).all():
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def _interval(row: pd.Series) -> tuple[float, float] | None:
    if "f1_ci_low" not in row or "f1_ci_high" not in row:
        return None
    return float(row["f1_ci_low"]), float(row["f1_ci_high"])


def scale_dynamics(results: pd.DataFrame, method: str | None = None) -> pd.DataFrame:
    """Per feature seen in two or more models: the k=1 and best-any-k F1 of each model (smallest
    first) and the class of the change (see the module docstring)."""
    rows = results[~results["method"].astype(str).str.endswith("+rotated")]
    if method is not None:
        rows = rows[rows["method"] == method]
    columns = ["feature", "models", "k1_f1", "best_f1", "k1_layer_depth", "dynamics"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    models = order_models(list(rows["model"].unique()), rows)
    k1 = best_rows(rows[rows["k"] == 1], ["model", "feature"]).set_index(["model", "feature"])
    best = best_rows(rows, ["model", "feature"]).set_index(["model", "feature"])
    out = []
    for feature in sorted(rows["feature"].unique()):
        have = [m for m in models if (m, feature) in k1.index and (m, feature) in best.index]
        if len(have) < 2:
            continue
        k1_f1 = [float(k1.loc[(m, feature), "f1"]) for m in have]
        best_f1 = [float(best.loc[(m, feature), "f1"]) for m in have]
        depth = [
            round(int(k1.loc[(m, feature), "layer"]) / max(model_info(m, rows).n_layers - 1, 1), 2)
            for m in have
        ]
        first, last = k1.loc[(have[0], feature)], k1.loc[(have[-1], feature)]
        dynamics = classify(k1_f1[0], k1_f1[-1], best_f1[0], best_f1[-1],
                            _interval(first), _interval(last))  # fmt: skip
        out.append((feature, have, k1_f1, best_f1, depth, dynamics))
    return pd.DataFrame(out, columns=columns)
