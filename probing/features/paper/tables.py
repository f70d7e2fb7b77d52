"""The paper's sources, row by row, as the tables probing.features.core.tables builds: functions
of rows in each hub dataset's schema that open nothing themselves (europarl_table is handed a
function that opens a language pair), so each is tested on a few rows.

- labelled_rows_table: one text per row, one-vs-rest over a label column (the Pile's
  meta.pile_set_name, a code dataset's language) -> text, group, one 0/1 column per label.
- europarl_table: Europarl translation pairs -> texts of each language, 0/1 per language.
- ewt_table: UD treebank sentences (tokens, upos, deprel, feats) -> text, group, and per tag
  the character spans of its words (token level).
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Callable, Iterable
from itertools import zip_longest
from typing import Any

import numpy as np
import pandas as pd

from probing.features.core.errors import FeatureDataError

log = logging.getLogger(__name__)


def slug(label: str) -> str:
    """A feature name from a label value: 'Wikipedia (en)' -> wikipedia_en, 'C++' -> cpp."""
    text = label.lower().replace("++", "pp").replace("#", "sharp")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


# -- sequence level: one text per row, one-vs-rest over a label column ----------------------------


def _field(row: dict, dotted: str) -> Any:
    """row['meta']['pile_set_name'] for 'meta.pile_set_name'; a JSON/Python-literal string
    (the Pile's meta in some copies) is parsed on the way."""
    value: Any = row
    for key in dotted.split("."):
        if isinstance(value, str):
            value = _literal(value)
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None


def labelled_rows_table(
    rows: Iterable[dict],
    labels: list[str],
    text_column: str,
    label_column: str,
    group_column: str | None,
    n_per_class: int,
    max_rows: int,
    max_chars: int,
) -> pd.DataFrame:
    """Up to n_per_class texts per label, in source order; rows of other labels are skipped.
    Labels match by slug, so 'Go' and 'GO' are one label."""
    counts = dict.fromkeys((slug(label) for label in labels), 0)
    records = []
    for i, row in enumerate(rows):
        if (max_rows and i >= max_rows) or min(counts.values()) >= n_per_class:
            break
        value = _field(row, label_column)
        feature = slug(str(value)) if value is not None else None
        text = row.get(text_column)
        if feature is None or counts.get(feature, n_per_class) >= n_per_class:
            continue
        if not isinstance(text, str):
            continue
        if not text.strip():
            continue
        counts[feature] += 1
        group = row.get(group_column) if group_column else None
        records.append({"text": text[:max_chars], "group": str(group or f"row{i}"), feature: 1})
    if not records:
        raise FeatureDataError(
            f"no row has {label_column} in {labels} (and a text in {text_column!r})"
        )
    table = pd.DataFrame(records, columns=["text", "group", *counts])
    table[list(counts)] = table[list(counts)].fillna(0).astype(np.int8)
    return table


def europarl_table(
    params: dict, open_rows: Callable[[str], Iterable[dict]], max_chars: int
) -> pd.DataFrame:
    """Each language from its pair with `pivot` (data_dir "de-en", "en-fr": sorted codes); runs of
    consecutive sentences joined until min_chars. The pivot's texts are the same runs' other
    side, taken from the pairs in turn, each pivot sentence once (every pair repeats the English
    proceedings); a text and its translation share a group."""
    pivot, languages, n = params["pivot"], list(params["languages"]), params["n_per_class"]
    others = [lang for lang in languages if lang != pivot]
    if not others:
        raise FeatureDataError(f"feature.params.languages needs a language besides {pivot}")
    texts: dict[str, list[tuple[str, str]]] = {lang: [] for lang in others}
    pivot_pools: list[list[tuple[str, str]]] = []
    seen: set[str] = set()
    for lang in others:
        pair = "-".join(sorted([lang, pivot]))
        pool: list[tuple[str, str]] = []
        parts: dict[str, list[str]] = {lang: [], pivot: []}
        for i, row in enumerate(open_rows(pair)):
            if len(texts[lang]) >= n or (params["max_rows"] and i >= params["max_rows"]):
                break
            for side in parts:
                sentence = (row["translation"].get(side) or "").strip()
                if sentence:
                    parts[side].append(sentence)
            if len(" ".join(parts[lang])) >= params["min_chars"] and parts[pivot]:
                group = f"{pair}/{len(texts[lang])}"
                texts[lang].append((" ".join(parts[lang])[:max_chars], group))
                if seen.isdisjoint(parts[pivot]):
                    pool.append((" ".join(parts[pivot])[:max_chars], group))
                    seen.update(parts[pivot])
                parts = {lang: [], pivot: []}
        pivot_pools.append(pool)
    if pivot in languages:  # in turn: the first of each pair's, then the second, ...
        turns = zip_longest(*pivot_pools)
        texts[pivot] = [t for turn in turns for t in turn if t is not None][:n]
    records = [
        {"text": text, "group": group, lang: 1}
        for lang in languages
        for text, group in texts.get(lang, [])
    ]
    if not records:
        raise FeatureDataError(f"feature.hf={params['hf']}: no Europarl text for {languages}")
    table = pd.DataFrame(records, columns=["text", "group", *languages])
    table[languages] = table[languages].fillna(0).astype(np.int8)
    return table


# -- token level: UD English Web Treebank -------------------------------------------------------


def parse_feats(value: Any) -> dict[str, str]:
    """A word's morphological features: the hub's str(dict) ("{'Number': 'Sing'}", "None") or
    CoNLL-U's "Number=Sing|Person=3" ("_" for none)."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not isinstance(value, str) or value in ("", "_", "None"):
        return {}
    if value.startswith("{"):
        parsed = _literal(value)
        return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
    return dict(item.split("=", 1) for item in value.split("|") if "=" in item)


def word_spans(text: str, words: list[str]) -> list[tuple[int, int]] | None:
    """Each word's [start, end) in `text`, found left to right; None if one is not there."""
    spans, at = [], 0
    for word in words:
        start = text.find(word, at)
        if start < 0:
            return None
        spans.append((start, start + len(word)))
        at = start + len(word)
    return spans


def ewt_table(rows: Iterable[dict], kind: str, tags: list[str], upos_names: list[str]):
    """One row per sentence: its text, its document (idx without the sentence number) and, per
    tag, the character spans of its words with that tag. Multiword-token lines (upos "_") and
    enhanced-graph copies (CopyOf in misc) are not words of the text and are skipped."""
    records: list[dict[str, Any]] = []
    dropped = 0
    for row in rows:
        upos = [upos_names[u] if isinstance(u, int | np.integer) else str(u) for u in row["upos"]]
        misc = row.get("misc") or [""] * len(upos)
        keep = [i for i, u in enumerate(upos) if u != "_" and "CopyOf" not in str(misc[i])]
        text = row["text"]
        spans = word_spans(text, [row["tokens"][i] for i in keep])
        if spans is None or not text.strip():
            dropped += 1
            continue
        by_tag: dict[str, list] = {tag: [] for tag in tags}
        for i, span in zip(keep, spans, strict=True):
            if kind == "pos":
                values = [upos[i]]
            elif kind == "dep":
                values = [row["deprel"][i]]
            else:
                values = [f"{k}={v}" for k, v in parse_feats(row["feats"][i]).items()]
            for value in values:
                if value in by_tag:
                    by_tag[value].append(list(span))
        document = str(row.get("idx") or f"s{len(records)}").rsplit("-", 1)[0]
        records.append({"text": text, "group": document, **by_tag})
    if dropped:
        log.warning("EWT: %d sentences whose words are not found in their text; skipped", dropped)
    if not records:
        raise FeatureDataError("no EWT sentence could be aligned to its text")
    return pd.DataFrame(records, columns=["text", "group", *tags])
