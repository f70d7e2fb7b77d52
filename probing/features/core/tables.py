"""A table of texts and labels becomes a FeatureDataset: the checks and the tokenising.

A table is a pandas DataFrame with a `text` column, an optional `group` column (the source
document; without it each row is its own), and every other column a feature:
- sequence level: 0/1 per row; the activation is the mean (or max) over the text's tokens;
- token level: per row a list of [start, end) character spans; every token of the text is an
  example, labelled 1 where it overlaps a span of that feature (aligned through the tokenizer's
  offsets).
Users' files (probing.features.custom) and the paper's hub datasets (probing.features.paper) are
read into such tables and built here, so both are checked and tokenised the same way.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from typing import Any

import numpy as np
import pandas as pd

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.tokens import pad_id, tokenize

log = logging.getLogger(__name__)


# -- checking --------------------------------------------------------------------------------------


def feature_columns(table: pd.DataFrame, text_column: str, group_column: str) -> list[str]:
    return [c for c in table.columns if c not in (text_column, group_column)]


def check_table(table: pd.DataFrame, level: str, text_column: str, group_column: str) -> str:
    """The level ("sequence" or "token") of a valid table; FeatureDataError naming the problem."""
    if len(table) == 0:
        raise FeatureDataError("the custom dataset has no rows")
    if text_column not in table.columns:
        raise FeatureDataError(
            f"the custom dataset has no {text_column!r} column (it has {list(table.columns)}); "
            "rename it or set feature.params.text_column"
        )
    texts = table[text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise FeatureDataError(f"column {text_column!r}: rows {bad[:5]} are empty or not text")
    features = feature_columns(table, text_column, group_column)
    if not features:
        raise FeatureDataError(
            f"the custom dataset has no feature column besides {text_column!r}/{group_column!r}"
        )
    bad_names = [f for f in features if not isinstance(f, str) or not f or _has_control(f)]
    if bad_names:
        raise FeatureDataError(
            f"feature names {[str(f) for f in bad_names[:5]]!r} are empty, hold control "
            "characters or are not text: rename those columns"
        )
    if level == "auto":
        is_spans = any(_is_list(v) for f in features for v in table[f])
        level = "token" if is_spans else "sequence"
    if level not in ("sequence", "token"):
        raise FeatureDataError(f"feature.params.level={level!r}: use sequence, token or auto")
    for f in features:
        if level == "sequence":
            _check_binary(table[f], f)
        else:
            _check_spans(table[f], texts, f)
    _check_groups(table, group_column)
    _check_classes(table, features, level)
    return level


def _check_groups(table: pd.DataFrame, group_column: str) -> None:
    """A group column names every row's document: an empty one would make every unnamed row one
    document (pandas reads them all as the same "None")."""
    if group_column not in table.columns:
        return
    missing = [i for i, g in enumerate(table[group_column]) if g is None or g != g or g == ""]
    if missing:
        raise FeatureDataError(
            f"column {group_column!r}: rows {missing[:5]} ({len(missing)} in all) name no "
            "document; fill them in, or drop the column to make each row its own document"
        )


def _check_classes(table: pd.DataFrame, features: list[str], level: str) -> None:
    """A feature with one class cannot be probed: warned about now (it is skipped later), and
    an error when no feature has both."""

    def has_both(column: pd.Series) -> bool:
        if level == "sequence":
            return len(set(column.astype(float))) == 2
        # token level: some span somewhere (positives) and, in practice, tokens outside them
        return any(_is_list(v) and len(v) > 0 for v in column)

    one_class = [f for f in features if not has_both(table[f])]
    if one_class and len(one_class) == len(features):
        raise FeatureDataError(
            f"every feature of the custom dataset has one class only ({one_class[:5]}): a probe "
            "needs positive and negative examples"
        )
    if one_class:
        log.warning("features with one class only, which will be skipped: %s", one_class)


def _has_control(name: str) -> bool:
    """NUL, newlines, escapes...: a name that cannot be a file name, a log line or a cache key."""
    return any(unicodedata.category(c) == "Cc" for c in name)


def _is_list(v: Any) -> bool:
    return isinstance(v, list | tuple | np.ndarray)


# CSV cells that read as a 0/1 label (probing.features.custom converts a column of only these)
LABEL_CELLS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def _check_binary(column: pd.Series, name: str) -> None:
    def ok(v: Any) -> bool:
        return isinstance(v, bool | np.bool_) or (
            isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
        )

    def label_cell(v: Any) -> bool:
        return isinstance(v, str) and v.strip().lower() in LABEL_CELLS

    bad = [i for i, v in enumerate(column) if not ok(v)]
    # a CSV column with one blank or mistyped cell stays text: name that cell, not every row
    bad = [i for i in bad if not label_cell(column.iloc[i])] or bad
    if bad:
        shown = sorted({repr(column.iloc[i]) for i in bad[:20]})[:5]
        raise FeatureDataError(
            f"feature column {name!r} must hold 0/1 labels; rows {bad[:5]} hold {', '.join(shown)}"
        )


def _is_integer(v: Any) -> bool:
    """An integer offset: int or numpy integer, never bool (True is 1 to int()), never a float
    (a float offset is a mistake, even 2.0: JSON and parquet keep integers as integers)."""
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _check_spans(column: pd.Series, texts: pd.Series, name: str) -> None:
    for i, (spans, text) in enumerate(zip(column, texts, strict=True)):
        if spans is None or (not _is_list(spans) and pd.isna(spans)):
            continue
        if not _is_list(spans):
            raise FeatureDataError(
                f"row {i}, feature {name!r}: expected a list of [start, end] spans"
            )
        for span in spans:
            if not _is_list(span) or len(span) != 2:
                raise FeatureDataError(
                    f"row {i}, feature {name!r}: span {span!r} is not [start, end]"
                )
            if not all(_is_integer(v) for v in span):
                raise FeatureDataError(
                    f"row {i}, feature {name!r}: span {list(span)!r} must be two integers "
                    "(character offsets), not floats, booleans, strings or NaN"
                )
            start, end = int(span[0]), int(span[1])
            if not 0 <= start < end <= len(text):
                raise FeatureDataError(
                    f"row {i}, feature {name!r}: span [{start}, {end}] lies outside the text "
                    f"(length {len(text)})"
                )


def table_fingerprint(table: pd.DataFrame) -> str:
    rows = table.to_json(orient="records", lines=True, default_handler=str)
    return hashlib.sha256(rows.encode()).hexdigest()[:16]


# -- building --------------------------------------------------------------------------------------


def dataset_from_table(
    table: pd.DataFrame,
    tokenizer,
    level: str = "auto",
    text_column: str = "text",
    group_column: str = "group",
    aggregation: str = "mean",
    seq_len: int = 128,
    name: str = "custom",
    **_: Any,
) -> FeatureDataset:
    """A FeatureDataset from a table (see the module docstring), tokenised with `tokenizer`."""
    level = check_table(table, level, text_column, group_column)
    features = feature_columns(table, text_column, group_column)
    groups, group_names = (
        pd.factorize(table[group_column].astype(str))
        if group_column in table.columns
        else (np.arange(len(table)), None)
    )
    texts = list(table[text_column])
    # a bounded prefix: a 5 MB text is not tokenised whole to keep its first seq_len tokens
    limit = seq_len * CHARS_PER_TOKEN
    enc = _encode(tokenizer, [t[:limit] for t in texts], with_offsets=level == "token")
    ids = [row[:seq_len] for row in enc["input_ids"]]
    cut = np.array(
        [
            len(row) > seq_len or len(t) > limit
            for row, t in zip(enc["input_ids"], texts, strict=True)
        ]
    )
    if any(len(row) == 0 for row in ids):
        raise FeatureDataError("a text of the custom dataset has no tokens")
    tokens = np.full((len(ids), seq_len), pad_id(tokenizer), dtype=np.int32)
    for r, row in enumerate(ids):
        tokens[r, : len(row)] = row
    lengths = np.array([len(row) for row in ids], dtype=np.int32)
    meta: dict[str, Any] = {
        "source": "custom",
        "fingerprint": table_fingerprint(table),
        "level": level,
    }
    meta["truncation"] = truncation(tokenizer, texts, ids, cut, table, features, level, seq_len)
    if group_names is not None:  # group index -> the table's own document id, for provenance
        meta["group_names"] = [str(g) for g in group_names]
    if level == "sequence":
        if aggregation not in ("mean", "max"):
            raise FeatureDataError(f"feature.params.aggregation={aggregation!r}: use mean or max")
        labels = table[features].astype(float).to_numpy().astype(np.int8)
        return FeatureDataset(
            name=name,
            feature_names=features,
            tokens=tokens,
            lengths=lengths,
            example_seq=np.arange(len(ids)),
            example_pos=-np.ones(len(ids)),
            labels=labels,
            groups=groups,
            aggregation=aggregation,
            meta=meta,
        )
    offsets = [row[:seq_len] for row in enc["offset_mapping"]]
    example_seq = np.concatenate([np.full(n, r) for r, n in enumerate(lengths)])
    example_pos = np.concatenate([np.arange(n) for n in lengths])
    labels = np.zeros((len(example_seq), len(features)), dtype=np.int8)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    dropped = 0
    for j, feature in enumerate(features):
        for r, spans in enumerate(table[feature]):
            for start, end in _spans(spans):
                hit = [t for t, (a, b) in enumerate(offsets[r]) if a < end and b > start]
                if hit:
                    labels[first[r] + np.array(hit), j] = 1
                elif offsets[r] and start >= offsets[r][-1][1]:
                    dropped += 1  # past the seq_len tokens kept
                else:
                    raise FeatureDataError(
                        f"row {r}, feature {feature!r}: span [{start}, {end}] "
                        f"({texts[r][start:end]!r}) covers no token"
                    )
    if dropped:
        log.warning(
            "custom dataset: %d spans lie past the first %d tokens; dropped", dropped, seq_len
        )
    return FeatureDataset(
        name=name,
        feature_names=features,
        tokens=tokens,
        lengths=lengths,
        example_seq=example_seq,
        example_pos=example_pos,
        labels=labels,
        groups=np.asarray(groups)[example_seq],
        aggregation="token",
        meta=meta,
    )


CHARS_PER_TOKEN = 64  # a prefix of seq_len * this many characters holds seq_len tokens


def truncation(tokenizer, texts, ids, cut, table, features, level, seq_len) -> dict:
    """How much of the texts the model reads: texts cut at seq_len tokens, the median share of
    a cut text's characters kept, and per sequence-level feature the share of its positive texts
    that were cut (a label decided after the cut reads as chance: warned above HALF)."""
    out: dict = {"seq_len": seq_len, "texts": int(cut.sum()), "median_read": 1.0, "positives": {}}
    if not cut.any():
        return out
    kept = [len(tokenizer.decode(ids[i])) / max(len(texts[i]), 1) for i in np.flatnonzero(cut)]
    out["median_read"] = round(float(np.median(np.minimum(kept, 1.0))), 4)
    log.warning(
        "custom dataset: %d of %d texts are cut at %d tokens (median %.0f%% of a cut text read); "
        "raise feature.params.seq_len to read more",
        out["texts"], len(texts), seq_len, 100 * out["median_read"],
    )  # fmt: skip
    if level != "sequence":
        return out
    for feature in features:
        positive = table[feature].astype(float).to_numpy() == 1
        if positive.any():
            share = float(cut[positive].mean())
            out["positives"][feature] = round(share, 4)
            if share > HALF:
                log.warning(
                    "feature %s: %.0f%% of its positive texts are cut at %d tokens; a label "
                    "decided after the cut reads as chance", feature, 100 * share, seq_len,
                )  # fmt: skip
    return out


HALF = 0.5


def _spans(spans: Any) -> list[tuple[int, int]]:
    if spans is None or (not _is_list(spans) and pd.isna(spans)):
        return []
    return [(int(s[0]), int(s[1])) for s in spans]


def _encode(tokenizer, texts: list[str], with_offsets: bool) -> dict:
    return tokenize(tokenizer, texts, with_offsets)
