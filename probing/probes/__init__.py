"""k-sparse probing: rank neurons, fit probes that may read k of them, sweep k."""

from . import selection  # noqa: F401  (registers the rankings beyond mean_diff and random)
from .layer import probe_layer
from .metrics import classification_metrics
from .ranking import RANKERS, rank_neurons
from .sparse_probe import SparseProbe
from .sweep import paper_k_list, sweep_k

__all__ = [
    "RANKERS",
    "SparseProbe",
    "classification_metrics",
    "paper_k_list",
    "probe_layer",
    "rank_neurons",
    "sweep_k",
]
