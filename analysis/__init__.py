"""Analysis of probing results: one table across runs, the paper's plots, an HTML report.

from analysis import load_results, best_neurons, sparsity
results = load_results("multirun/2026-11-25/04-10-05")
python -m analysis.report multirun/... -o report.html
"""

from analysis.aggregate import DEDUP_KEY, load_results
from analysis.models import known_models, model_info, order_models
from analysis.tables import best_neurons, neuron_id, sparsity, top_neurons

__all__ = [
    "DEDUP_KEY",
    "known_models",
    "best_neurons",
    "load_results",
    "model_info",
    "neuron_id",
    "order_models",
    "sparsity",
    "top_neurons",
]
