"""The paper's own datasets (Gurnee et al. 2023, github wesg52/sparse-probing-paper) as collections.

    python -m probing.run model=pythia-70m feature=paper/ewt_pos
    python -m probing.run model=pythia-70m feature=paper/europarl feature.hf=/shared/europarl

Each source is read with `datasets.load_dataset` (the hub, the local HF cache, or a local folder
given as feature.hf; see probing.features.sources.hub) in its hub schema, and its rows become the
table that probing.features.core.tables builds (a `text` column and 0/1 columns, or span lists),
so the tokenising, span-to-token alignment and checks are those of a user's file
(probing.features.custom).

- paper/europarl: Helsinki-NLP/europarl, data_dir = the pair with English (de-en, en-fr, ...);
  column translation; the paper's 9 (its TOP_NATURAL_LANGS).
- paper/pile_subset: NeelNanda/pile-10k; columns text, meta.pile_set_name; the paper's 9 subsets.
- paper/github_code: codeparrot/github-code, data_files data/train-00000-of-01126.parquet;
  columns code, language, repo_name; the paper's languages (8: the dataset has no XML).
- paper/ewt_pos, ewt_dep, ewt_morph: universal-dependencies/universal_dependencies, revision
  refs/convert/parquet (its parquet export), data_dir en_ewt; columns idx, text, tokens, upos,
  deprel, feats, misc; the paper's 16 UPOS tags, 29 relations, 23 Feature=Value pairs.

Where we differ from the paper, and why:
- europarl: the paper read the Pile's monolingual Europarl component (`the_pile` script, gone from
  the hub). The parallel corpus gives each language through its pair with English; consecutive
  sentences are joined to `min_chars`, and a text and its translation share a group, so they sit
  on one side of the train/test split.
- github_code: the paper labelled the Pile's GitHub files with guesslang; codeparrot/github-code
  has a language column (from the file extension) and no XML, and spells Go "GO".
- pile_subset: the paper sampled the Pile test split evenly per subset; pile-10k is 10,000
  documents in the Pile's proportions, so rare subsets (Enron Emails) have few. The same schema
  streams from monology/pile-uncopyrighted (feature.hf=..., feature.split=test, streaming).
- ewt: one row per sentence, every token an example, labelled one-vs-rest for each tag (the paper
  packed a document's sentences into 512-token contexts and, for Number / Mood / Tense / Voice,
  compared two values only).
- people: the paper's Wikidata table (facts about people matched in Pile text) is not on the hub
  in any schema we know of; export it and use feature=custom/file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register
from probing.features.core.tables import dataset_from_table, table_fingerprint
from probing.features.paper.tables import europarl_table, ewt_table, labelled_rows_table, slug
from probing.features.sources.hub import include, one_line_errors, open_split

RECIPE_VERSION = 1
CHARS_PER_TOKEN = 16  # texts are cut to seq_len * this many characters before tokenising

EUROPARL_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "el", "sv"]
PILE_SUBSETS = [
    "Wikipedia (en)", "PubMed Abstracts", "StackExchange", "Github", "ArXiv",
    "USPTO Backgrounds", "FreeLaw", "HackerNews", "Enron Emails",
]  # fmt: skip
CODE_LANGUAGES = ["C++", "C", "GO", "HTML", "Java", "JavaScript", "PHP", "Python"]
# The en_ewt ClassLabel names of the hub dataset's upos column, for parquet files without them.
UPOS_NAMES = [
    "NOUN", "PUNCT", "ADP", "NUM", "SYM", "SCONJ", "ADJ", "PART", "DET", "CCONJ", "PROPN", "PRON",
    "X", "_", "ADV", "INTJ", "VERB", "AUX",
]  # fmt: skip
POS_TAGS = [t for t in UPOS_NAMES if t not in ("PART", "_")]  # the paper's 16
DEP_LABELS = [
    "acl", "acl:relcl", "advcl", "advmod", "amod", "appos", "aux", "aux:pass", "case", "cc",
    "ccomp", "compound", "conj", "cop", "det", "flat", "list", "mark", "nmod", "nmod:poss",
    "nsubj", "nsubj:pass", "nummod", "obj", "obl", "parataxis", "punct", "root", "xcomp",
]  # fmt: skip
MORPH_FEATS = [
    "Number=Sing", "Number=Plur", "Mood=Ind", "Mood=Imp", "Tense=Pres", "Tense=Past",
    "VerbForm=Fin", "VerbForm=Inf", "VerbForm=Ger", "VerbForm=Part", "PronType=Art",
    "PronType=Dem", "PronType=Prs", "PronType=Rel", "PronType=Int", "Person=1", "Person=2",
    "Person=3", "NumType=Card", "Voice=Pass", "Gender=Masc", "Gender=Fem", "Gender=Neut",
]  # fmt: skip
UD_HUB = "universal-dependencies/universal_dependencies"
EWT_COLUMNS = {"ewt_pos": ["upos"], "ewt_dep": ["upos", "deprel"], "ewt_morph": ["upos", "feats"]}


def _source(params: dict) -> dict:
    keys = ("hf", "split", "hf_config", "data_dir", "revision", "streaming", "data_files")
    return {k: params.get(k) for k in keys}


def require_columns(dataset, columns: list[str], name: str, hf: str) -> None:
    """A source of another schema is named in one line, not found by a KeyError deep inside."""
    have = getattr(dataset, "column_names", None)
    missing = [c for c in columns if have is not None and c not in have]
    if missing:
        raise FeatureDataError(
            f"feature.hf={hf} has no column(s) {missing} (it has {have}); paper/{name} reads "
            f"{columns}, the schema of {COLLECTION_SPECS[name]['defaults']['hf']}"
        )


def _sample(dataset, k: int, seed: int):
    """k rows: a seeded sample of a map-style dataset, the first k of a streamed one."""
    if not k:
        return dataset
    import datasets

    if isinstance(dataset, datasets.Dataset):
        if len(dataset) <= k:
            return dataset
        return dataset.select(sorted(np.random.default_rng(seed).choice(len(dataset), k, False)))
    return dataset.take(k)


# -- reading: build_feature_dataset calls the fingerprint, then (on a cache miss) the builder ------
# The fingerprint reads the source every time (a changed source must change the cache key) and
# leaves the table here; the builder of the same call takes it instead of reading again.

_read: dict[str, pd.DataFrame] = {}


def _key(name: str, params: dict) -> str:
    return json.dumps([name, params], sort_keys=True, default=str)


def read_table(name: str, params: dict) -> pd.DataFrame:
    """The table of collection `name` under `params`, read from its source now."""
    source = _source(params)
    max_chars = params["seq_len"] * CHARS_PER_TOKEN
    pattern = include(source["data_dir"], source["data_files"])
    with one_line_errors(source["hf"], source["revision"], pattern):
        if name == "europarl":

            def open_rows(pair: str):
                dataset = open_split(**{**source, "data_dir": pair})
                require_columns(dataset, ["translation"], name, source["hf"])
                return dataset

            table = europarl_table(params, open_rows, max_chars)
        elif name in ("pile_subset", "github_code"):
            dataset = open_split(**source)
            columns = [params["text_column"], params["label_column"].split(".")[0]]
            require_columns(dataset, columns, name, source["hf"])
            table = labelled_rows_table(
                dataset,
                params["labels"],
                params["text_column"],
                params["label_column"],
                params["group_column"],
                params["n_per_class"],
                params["max_rows"],
                max_chars,
            )
        else:
            dataset = open_split(**source)
            require_columns(dataset, ["text", "tokens", *EWT_COLUMNS[name]], name, source["hf"])
            names = _upos_names(dataset)
            rows = _sample(dataset, params["max_sentences"], params["seed"])
            table = ewt_table(rows, name.split("_")[1], params["tags"], names)
    return table


def check_schema(name: str, params: dict) -> None:
    """Open a local copy's split and check its columns, reading no rows: a folder of another
    schema is one line at config validation, before any model loads."""
    source = _source(params)
    pattern = include(source["data_dir"], source["data_files"])
    with one_line_errors(source["hf"], source["revision"], pattern):
        if name == "europarl":
            pivot = params["pivot"]
            other = next((lang for lang in params["languages"] if lang != pivot), None)
            if other is None:
                return
            pair = "-".join(sorted((pivot, other)))
            dataset = open_split(**{**source, "data_dir": pair})
            require_columns(dataset, ["translation"], name, source["hf"])
        elif name in ("pile_subset", "github_code"):
            dataset = open_split(**source)
            columns = [params["text_column"], params["label_column"].split(".")[0]]
            require_columns(dataset, columns, name, source["hf"])
        else:
            dataset = open_split(**source)
            require_columns(dataset, ["text", "tokens", *EWT_COLUMNS[name]], name, source["hf"])


def _upos_names(dataset) -> list[str]:
    feature = (dataset.features or {}).get("upos")
    names = getattr(getattr(feature, "feature", None), "names", None)
    return list(names) if names else UPOS_NAMES


def builder(name: str) -> Callable[..., FeatureDataset]:
    def build(tokenizer, **params: Any) -> FeatureDataset:
        table = _read.pop(_key(name, params), None)
        if table is None:
            table = read_table(name, params)
        level = "token" if name.startswith("ewt_") else "sequence"
        ds = dataset_from_table(
            table,
            tokenizer,
            level=level,
            aggregation=params.get("aggregation", "mean"),
            seq_len=params["seq_len"],
            name=name,
        )
        ds.meta.update(source=f"paper:{name}", **_source(params))
        return ds

    return build


def fingerprint(name: str) -> Callable[[dict], str]:
    """What the source gave (the sampled rows): joins the cache key, so a changed source or a
    new revision of the hub dataset is rebuilt, not served from the cache."""

    def of(params: dict) -> str:
        _read.clear()  # at most one table waits for its builder
        table = _read[_key(name, params)] = read_table(name, params)
        return table_fingerprint(table)

    return of


# -- registration ---------------------------------------------------------------------------------


def _hub(hf: str, split: str = "train", **extra: Any) -> dict[str, Any]:
    """Where a collection's rows come from; every key is a builder parameter (see hub.open_split)."""
    base = dict(hf=hf, split=split, hf_config=None, data_dir=None, revision=None, data_files=None)
    return {**base, "streaming": False, **extra}


SEQUENCE = {"seq_len": 128, "aggregation": "mean", "n_per_class": 100}
EWT = {"max_sentences": 500, "seed": 0, "seq_len": 128}
COLLECTION_SPECS: dict[str, dict[str, Any]] = {
    "europarl": dict(
        category="natural_language",
        source="Europarl (Helsinki-NLP/europarl: translation pairs with English)",
        licence="Europarl: no known copyright restrictions (statmt.org/europarl)",
        defaults={  # no data_dir / data_files: each language pair (de-en, en-fr) is a data_dir
            "hf": "Helsinki-NLP/europarl",
            "split": "train",
            "hf_config": None,
            "revision": None,
            "streaming": True,
            **SEQUENCE,
            "languages": EUROPARL_LANGUAGES,
            "pivot": "en",
            "min_chars": 400,
            "max_rows": 20000,
        },
        features={lang: f"a Europarl text in {lang}" for lang in EUROPARL_LANGUAGES},
    ),
    "pile_subset": dict(
        category="text_source",
        source="the Pile (NeelNanda/pile-10k), meta.pile_set_name",
        licence="the Pile's components' own licences",
        defaults={
            **_hub("NeelNanda/pile-10k"),
            **SEQUENCE,
            "labels": PILE_SUBSETS,
            "text_column": "text",
            "label_column": "meta.pile_set_name",
            "group_column": "",
            "max_rows": 0,
        },
        features={slug(s): f"a Pile document of {s}" for s in PILE_SUBSETS},
    ),
    "github_code": dict(
        category="programming_language",
        source="GitHub files (codeparrot/github-code, its first parquet shard), language column",
        licence="each file's own (the dataset's license column)",
        defaults={
            **_hub(
                "codeparrot/github-code",
                data_files="data/train-00000-of-01126.parquet",
                streaming=True,
            ),
            **SEQUENCE,
            "labels": CODE_LANGUAGES,
            "text_column": "code",
            "label_column": "language",
            "group_column": "repo_name",
            "max_rows": 200000,
        },
        features={slug(lang): f"a file in {lang}" for lang in CODE_LANGUAGES},
    ),
    **{
        f"ewt_{kind}": dict(
            category=category,
            source=f"UD English EWT ({UD_HUB}, en_ewt, parquet export), gold {column}",
            licence="CC BY-SA 4.0 (UD_English-EWT)",
            defaults={
                **_hub(UD_HUB, data_dir="en_ewt", revision="refs/convert/parquet"),
                **EWT,
                "tags": tags,
            },
            features={tag: f"the token is in a word with {column} {tag}" for tag in tags},
        )
        for kind, category, column, tags in [
            ("pos", "part_of_speech", "upos", POS_TAGS),
            ("dep", "dependency", "deprel", DEP_LABELS),
            ("morph", "morphology", "feats", MORPH_FEATS),
        ]
    },
}

COLLECTIONS = [
    register(
        Collection(
            name=name,
            aggregation="token" if name.startswith("ewt_") else "mean",
            recipe_version=RECIPE_VERSION,
            builder=builder(name),
            fingerprint=fingerprint(name),
            **spec,
        )
    )
    for name, spec in COLLECTION_SPECS.items()
]
PAPER_COLLECTIONS = tuple(COLLECTION_SPECS)
