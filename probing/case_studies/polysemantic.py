"""Is a neuron dedicated or polysemantic? Its top activations over a broad corpus, grouped.

A probe's examples show a neuron only on its own feature's text. The paper reads a neuron's
strongest activations over varied text instead: a dedicated neuron fires on one kind of thing
(Python code, French), a polysemantic one on many unrelated n-grams. Here the corpus mixes every
version-pinned source (English documentation, Python, C, C++, JavaScript, reStructuredText, and
Weblate's messages in 19 languages), the top activating tokens are grouped by the token they fire
on and by the source they come from, and two numbers summarise the spread:
`distinct_tokens` among the top activations and `top_token_share` (the most common token's share).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from probing.activations.store import HOOKS
from probing.case_study_outputs import CONTEXTS_FILE
from probing.features.core.tokens import pad_id
from probing.summaries import neuron_id

CORPUS = {  # collection -> parameters: small, varied windows from each pinned source
    "programming_language": {"n_per_class": 40, "seq_len": 64},
    "natural_language": {"n_per_class": 12, "seq_len": 64},
    "text_source": {"n_per_class": 40, "seq_len": 64},
}
CONTEXT = 12  # tokens of context shown before the activating one


@dataclass
class Corpus:
    tokens: np.ndarray  # [n, seq_len], right-padded
    lengths: np.ndarray  # [n]
    sources: list[str]  # per window: "<collection>/<feature>"


def broad_corpus(tokenizer, cache_dir: str | Path | None = None) -> Corpus:
    """Windows of every pinned source, labelled by where they come from."""
    from probing.features import build_feature_dataset

    tokens, lengths, sources = [], [], []
    for name, params in CORPUS.items():
        ds = build_feature_dataset(name, tokenizer, cache_dir, **params)
        width = max(p["seq_len"] for p in CORPUS.values())
        padded = np.full((ds.n_sequences, width), pad_id(tokenizer), np.int32)
        padded[:, : ds.tokens.shape[1]] = ds.tokens
        tokens.append(padded)
        lengths.append(ds.lengths)
        label = ds.labels[np.searchsorted(ds.example_seq, np.arange(ds.n_sequences))]
        sources += [f"{name}/{ds.feature_names[int(i)]}" for i in label.argmax(1)]
    return Corpus(np.concatenate(tokens), np.concatenate(lengths), sources)


@torch.no_grad()
def top_activations(
    model, corpus: Corpus, neurons: list[tuple[int, int]], top: int = 40, batch_size: int = 16,
    hook: str = "mlp_post",
) -> dict[tuple[int, int], list[dict]]:  # fmt: skip
    """(layer, neuron) -> its `top` strongest activations over the corpus (sequence, position,
    value), one forward pass for all neurons."""
    by_layer: dict[int, list[int]] = {}
    for layer, neuron in neurons:
        by_layer.setdefault(layer, []).append(neuron)
    values: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {key: [] for key in neurons}
    for start in range(0, len(corpus.lengths), batch_size):
        lengths = corpus.lengths[start : start + batch_size]
        width = int(lengths.max())
        ids = torch.from_numpy(corpus.tokens[start : start + batch_size, :width]).long()
        real = torch.from_numpy(np.arange(width)[None] < lengths[:, None])

        def grab(acts, hook, _start=start, _real=real):
            layer = int(hook.name.split(".")[1])
            picked = acts[..., by_layer[layer]].float().masked_fill(~_real[..., None], -np.inf)
            for j, neuron in enumerate(by_layer[layer]):
                values[(layer, neuron)].append((_start, picked[..., j].cpu().numpy()))
            return acts

        hooks = [(HOOKS[hook].format(layer=layer), grab) for layer in by_layer]
        model.bridge.run_with_hooks(ids.to(model.device), fwd_hooks=hooks,
                                    stop_at_layer=max(by_layer) + 1)  # fmt: skip
    out = {}
    for key, parts in values.items():
        flat = [(s + r, p, float(v)) for s, a in parts for (r, p), v in np.ndenumerate(a)
                if np.isfinite(v)]  # fmt: skip
        flat.sort(key=lambda t: -t[2])
        out[key] = [{"sequence": s, "position": p, "activation": v} for s, p, v in flat[:top]]
    return out


def token_label(tokenizer, token_id: int) -> str:
    """A token as text, one label per token: a token that is part of a character's UTF-8 bytes
    decodes alone to '\ufffd', as every other such token does, so it is named by its bytes
    (byte-level BPE: "<bytes c3>"; SentencePiece's byte tokens are already "<0xC3>")."""
    text = tokenizer.decode([token_id])
    if "\ufffd" not in text:
        return text
    raw = tokenizer.convert_ids_to_tokens(token_id)
    if isinstance(raw, str) and raw.startswith("<0x"):
        return raw
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_of = {c: b for b, c in bytes_to_unicode().items()}
    if isinstance(raw, str) and raw and all(c in byte_of for c in raw):
        return "<bytes " + bytes(byte_of[c] for c in raw).hex(" ") + ">"
    return f"<token {token_id}>"


def describe(tokenizer, corpus: Corpus, hits: list[dict]) -> dict:
    """The hits with their token, the token before, a context snippet and their source; grouped
    by token and by source, with the two spread numbers."""
    rows = []
    for hit in hits:
        seq, pos = corpus.tokens[hit["sequence"]], hit["position"]
        token = token_label(tokenizer, int(seq[pos]))
        before = token_label(tokenizer, int(seq[pos - 1])) if pos else ""
        context = tokenizer.decode([int(t) for t in seq[max(0, pos - CONTEXT) : pos]])
        rows.append({**hit, "token": token, "bigram": before + token, "context": context,
                     "source": corpus.sources[hit["sequence"]]})  # fmt: skip
    tokens = Counter(r["token"] for r in rows)
    sources = Counter(r["source"] for r in rows)
    return {
        "top": rows,
        "by_token": tokens.most_common(),
        "by_bigram": Counter(r["bigram"] for r in rows).most_common(10),
        "by_source": sources.most_common(),
        "distinct_tokens": len(tokens),
        "top_token_share": tokens.most_common(1)[0][1] / len(rows) if rows else float("nan"),
        "distinct_sources": len(sources),
    }


def neuron_contexts(run_dir: str | Path, top_neurons: int = 10, top: int = 40) -> Path:
    """For a run's best k=1 neurons: their broad-corpus top activations, written beside the run's
    results (neuron_contexts.json) for the report's neuron pages."""
    from dataclasses import asdict

    from probing.case_studies.ablate import best_k1, model_units, run_config, unit_label
    from probing.features import FeatureDataError
    from probing.models import load_model
    from probing.results import read_results

    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    results = read_results(run_dir)
    if results.empty:
        raise FeatureDataError(f"{run_dir} has no valid results rows")
    units, hook = model_units(results, cfg)
    targets = best_k1(units, None, top_neurons)
    model = load_model(**asdict(cfg.model), seed=cfg.seed, copies=cfg.paths.models)
    corpus = broad_corpus(model.tokenizer, Path(cfg.paths.features))
    keys = sorted({(int(t["layer"]), int(t["support"][0])) for t in targets.to_dict("records")})
    hits = top_activations(model, corpus, keys, top, cfg.model.batch_size, hook)
    out = {neuron_id(layer, neuron): describe(model.tokenizer, corpus, hits[(layer, neuron)])
           for layer, neuron in keys}  # fmt: skip
    path = run_dir / CONTEXTS_FILE
    label = unit_label(model.name, hook)  # as the report labels the run's rows
    path.write_text(json.dumps({"model": label, "neurons": out}, default=float))
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m probing.case_studies.polysemantic",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("run_dir")
    parser.add_argument("--neurons", type=int, default=10, help="the N best k=1 neurons")
    parser.add_argument("--top", type=int, default=40, help="top activations per neuron")
    args = parser.parse_args(argv)
    from probing.errors import below_least, one_line_exit

    odd = below_least(args, {"neurons": 0, "top": 1})
    if odd:
        print(f"error: {odd}", file=sys.stderr)
        return 2
    try:
        path = neuron_contexts(args.run_dir, args.neurons, args.top)
    except Exception as err:  # a user's error or the disk's is one line, a bug its traceback
        return one_line_exit(err)
    for name, info in json.loads(path.read_text())["neurons"].items():
        tokens = ", ".join(f"{t!r} x{n}" for t, n in info["by_token"][:5])
        print(f"{name}: {info['distinct_tokens']} distinct tokens in its top {len(info['top'])} "
              f"(top token {info['top_token_share']:.0%}), {info['distinct_sources']} sources; "
              f"fires on {tokens}")  # fmt: skip
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
