"""What the case studies write beside a run, and how it is read back.

The case studies (probing.case_studies) load models and write these files; the report
(analysis.report) only reads them, through this module, which imports neither torch nor the
case studies.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from probing.jsonl import good_objects, lacking

log = logging.getLogger(__name__)

ABLATION_FILE = "ablation.jsonl"  # probing.case_studies.ablate: one row per neuron x value
CONTEXTS_FILE = "neuron_contexts.json"  # probing.case_studies.polysemantic: broad-corpus hits
WEIGHTS_FILE = "weights_by_layer.csv"  # probing.case_studies.weights: one row per model x layer
# what every ablation row holds that the report reads (probing.case_studies.ablation)
ABLATION_KEYS = ("model", "feature", "layer", "neuron", "value", "delta_pos", "delta_neg",
                 "random_delta_pos_median")  # fmt: skip
# what every neuron of a neuron_contexts.json holds that the report reads
CONTEXT_KEYS = ("top", "by_token", "by_source", "distinct_tokens", "top_token_share",
                "distinct_sources")  # fmt: skip


def read_ablations(run_dir: str | Path) -> pd.DataFrame:
    """The rows `ablate_run` wrote for a run (empty when it was not ablated)."""
    path = Path(run_dir) / ABLATION_FILE
    if not path.is_file():
        return pd.DataFrame()
    return pd.DataFrame(good_objects(path, lacking(ABLATION_KEYS), "ablation line"))


def find_ablations(run_dirs: list[str]) -> pd.DataFrame:
    """The ablation rows of every run under the given directories."""
    found = {p.parent for d in run_dirs if Path(d).is_dir() for p in Path(d).rglob(ABLATION_FILE)}
    frames = [read_ablations(run) for run in sorted(found)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def find_neuron_contexts(run_dirs: list[str]) -> dict:
    """{model: {neuron_id: info}} from every neuron_contexts.json under the directories."""
    out: dict = {}
    for d in run_dirs:
        for path in sorted(Path(d).rglob(CONTEXTS_FILE)) if Path(d).is_dir() else []:
            try:
                data = json.loads(path.read_bytes())
            except ValueError as err:  # not JSON, or not UTF-8
                log.warning("%s: skipping it (%s)", path, err)
                continue
            if not (isinstance(data, dict) and isinstance(data.get("model"), str)
                    and isinstance(data.get("neurons"), dict)):  # fmt: skip
                log.warning("%s: skipping it: not the model and neurons polysemantic writes", path)
                continue
            for name, info in data["neurons"].items():
                if not (isinstance(info, dict) and set(CONTEXT_KEYS) <= info.keys()):
                    log.warning("%s: skipping %s: it lacks some of %s", path, name, CONTEXT_KEYS)
                    continue
                problem = _context_problem(info)
                if problem:
                    log.warning("%s: skipping %s: %s", path, name, problem)
                    continue
                out.setdefault(data["model"], {})[name] = info
    return out


def _context_problem(info: dict) -> str | None:
    """What in a neuron's entry is not of the types polysemantic writes (the report formats
    them as numbers and counts), or None."""

    def number(value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    def counts(value) -> bool:  # [[name, count], ...]
        return isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[1], int) for p in value
        )

    top = info["top"]
    if not (isinstance(top, list) and all(isinstance(r, dict) for r in top)):
        return "top is not a list of activations"
    for r in top:
        if not number(r.get("activation")) or not all(
            isinstance(r.get(key), str) for key in ("source", "context", "token")
        ):
            return "an entry of top lacks a numeric activation or its source, context and token"
    if not (counts(info["by_token"]) and counts(info["by_source"])):
        return "by_token and by_source must be [name, count] pairs"
    if not (isinstance(info["distinct_tokens"], int) and isinstance(info["distinct_sources"], int)):
        return "distinct_tokens and distinct_sources must be counts"
    if not number(info["top_token_share"]):
        return "top_token_share must be a number"
    return None
