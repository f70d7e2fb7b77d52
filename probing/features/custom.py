"""Your own features, by config alone: a table of texts and labels becomes a FeatureDataset.

    python -m probing.run model=tiny-pythia feature=custom/file feature.path=my.jsonl
    python -m probing.run feature=custom/hub feature.hf=ORG/NAME feature.split=validation

(The configs sit under conf/feature/custom/ so that `feature='glob(*)'` stays the built-ins.)

Sources: a `.jsonl` / `.json` (JSON lines), `.csv` or `.parquet` file, a folder written by
`datasets.Dataset.save_to_disk`, a `.conllu` treebank, or a Hugging Face dataset id (or local
dataset folder) loaded with `datasets.load_dataset` from the hub or the local HF cache. A folder
written by `python -m probing.features export` is not a table: it comes back as the exported
FeatureDataset, unchanged (probing.features.core.export says what a different tokenizer does).

- Sequence level: a `text` column and one 0/1 column per feature; every column other than the
  text and an optional `group` column is a feature (`feature.only` picks some). The activation is
  the mean (or max) over the text's tokens.
- Token level: a `text` column and, per feature, a list of [start, end) character spans; every
  token of the text is an example, labelled 1 where it overlaps a span of that feature (aligned
  through the tokenizer's offsets). A `.conllu` file is read this way with one feature per value
  of its tag column (UPOS by default), sentences grouped by document (`# newdoc id`).
- `group` (e.g. a document id) keeps a document on one side of the train/test split; without it
  each row is its own group.

Everything a user can get wrong about the table (a missing file, an unknown format, no text
column, labels that are not 0/1, an empty file, non-UTF-8 text, spans outside the text) is found
by `check_source` before any model loads, and named in one line.
"""

from __future__ import annotations

import hashlib
import io
import logging
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.export import is_export, load_export
from probing.features.core.registry import Collection, register
from probing.features.core.tokens import pad_id, tokenize

log = logging.getLogger(__name__)

RECIPE_VERSION = 1
FORMATS = (".jsonl", ".json", ".csv", ".parquet", ".conllu")
DEFAULTS: dict[str, Any] = {
    "path": None,  # set from feature.path
    "hf": None,  # set from feature.hf
    "split": None,  # set from feature.split
    "hf_config": None,  # set from feature.hf_config
    "level": "auto",  # sequence | token | auto (token when the feature columns hold span lists)
    "text_column": "text",
    "group_column": "group",
    "tag_column": "upos",  # .conllu: which column makes the features (upos, xpos, deprel)
    "aggregation": "mean",  # sequence level: mean | max over the text's tokens
    "seq_len": 128,  # tokens kept per text
}
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel")


# -- reading ---------------------------------------------------------------------------------------


def read_source(
    path: str | None = None,
    hf: str | None = None,
    split: str | None = None,
    hf_config: str | None = None,
    tag_column: str = "upos",
) -> pd.DataFrame:
    """The table behind feature.path or feature.hf, as pandas; FeatureDataError if unreadable."""
    if (path is None) == (hf is None):
        raise FeatureDataError(
            "feature=custom needs exactly one of feature.path=FILE (.jsonl, .csv, .parquet, "
            ".conllu or a save_to_disk folder) and feature.hf=ORG/NAME"
        )
    if hf is not None:
        return _load_hf(hf, split, hf_config)
    p = Path(path).expanduser()
    if not p.exists():
        raise FeatureDataError(f"feature.path={path}: no such file or folder")
    if p.is_dir():
        return _load_from_disk(p, split)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise FeatureDataError(
            f"feature.path={path}: unknown format {suffix or '(no suffix)'}; use one of "
            f"{', '.join(FORMATS)} or a datasets save_to_disk folder"
        )
    if suffix == ".parquet":
        try:
            return pd.read_parquet(p)
        except Exception as err:
            raise FeatureDataError(
                f"feature.path={path}: not a readable parquet file ({err})"
            ) from None
    text = _utf8(p)
    if not text.strip():
        raise FeatureDataError(f"feature.path={path}: the file is empty")
    try:
        if suffix == ".csv":
            _refuse_duplicate_header(text, path)
            # text stays text: "123" is a text, not a number; labels are checked as 0/1 later
            return pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str).pipe(
                _numeric_labels
            )
        if suffix == ".conllu":
            return conllu_table(text, tag_column)
        if suffix == ".json" or text.lstrip().startswith("["):  # a JSON array of records
            return pd.read_json(io.StringIO(text), orient="records", dtype=False)
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)
    except FeatureDataError:
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FeatureDataError(
            f"feature.path={path}: cannot parse it as {suffix} ({first})"
        ) from None


def _refuse_duplicate_header(text: str, path: str) -> None:
    """pandas renames a repeated column `label.1` and would probe it: refuse instead."""
    import csv

    header = next(csv.reader(io.StringIO(text)), [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise FeatureDataError(f"feature.path={path}: the header repeats {repeated}")


_LABEL_CELLS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}


def _numeric_labels(table: pd.DataFrame) -> pd.DataFrame:
    """CSV cells are read as text, so a text of digits stays a text; a column whose every cell
    is a 0/1 label (0, 1, 0.0, 1.0, true, false) becomes 0/1 integers."""
    out = table.copy()
    for name in out.columns:
        cells = out[name].str.strip().str.lower()
        if len(cells) and cells.isin(list(_LABEL_CELLS)).all():
            out[name] = cells.map(_LABEL_CELLS).astype(int)
    return out


def _utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")  # a byte-order mark (Excel, Notepad) is not content
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise FeatureDataError(
            f"feature.path={path}: not UTF-8 text (byte {err.start}, line {line}); "
            "convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def _load_from_disk(folder: Path, split: str | None) -> pd.DataFrame:
    import datasets

    if not any(
        (folder / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")
    ):
        raise FeatureDataError(
            f"feature.path={folder}: a folder must be written by datasets' save_to_disk "
            "(or use feature.hf for a folder of data files)"
        )
    try:
        loaded = datasets.load_from_disk(str(folder))
    except Exception as err:
        raise FeatureDataError(f"feature.path={folder}: cannot load it ({err})") from None
    return _one_split(loaded, split, f"feature.path={folder}").to_pandas()


def _load_hf(name: str, split: str | None, config: str | None) -> pd.DataFrame:
    """Through probing.features.sources.hub: an unreachable hub fails in one line within seconds (offline
    mode instead of retries), naming the download command."""
    from probing.features.sources.hub import open_split

    return open_split(name, split or "train", config).to_pandas()


def _one_split(loaded, split: str | None, where: str):
    import datasets

    if not isinstance(loaded, datasets.DatasetDict):
        return loaded
    if split is None and len(loaded) == 1:
        split = next(iter(loaded))
    if split not in loaded:
        raise FeatureDataError(f"{where}: choose feature.split from {sorted(loaded)}")
    return loaded[split]


def conllu_table(text: str, tag_column: str = "upos") -> pd.DataFrame:
    """One row per sentence: its text, its document, and per tag value the spans of its tokens.

    Read to the CoNLL-U spec: any line ending (LF, CRLF, CR), a sentence ends at a blank line
    (whitespace only counts as blank), comments start with #, multiword ranges and empty nodes
    are skipped. A tag value that is also the name of the text or group column (an XPOS
    "text") becomes the feature `<tag_column>:<value>`, so it never overwrites them."""
    if tag_column not in CONLLU_COLUMNS[1:]:
        raise FeatureDataError(f"tag_column={tag_column!r}: use one of {CONLLU_COLUMNS[3:]}")
    column = CONLLU_COLUMNS.index(tag_column)
    sentences, doc, renamed = [], "", set()
    block: list[str] = []
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for line in [*lines, ""]:
        if line.strip():
            block.append(line)
            continue
        if block:
            doc, sentence = _conllu_sentence(block, column, doc, tag_column, renamed)
            if sentence is not None:
                sentences.append({"group": doc or f"s{len(sentences)}", **sentence})
            block = []
    if not sentences:
        raise FeatureDataError("the CoNLL-U file holds no sentences")
    if renamed:
        log.warning("CoNLL-U %s values %s renamed %s", tag_column, sorted(renamed),
                    [f"{tag_column}:{v}" for v in sorted(renamed)])  # fmt: skip
    tags = sorted({tag for s in sentences for tag in s["spans"]})
    table = pd.DataFrame(
        {
            "text": [s["text"] for s in sentences],
            "group": [s["group"] for s in sentences],
            **{tag: [s["spans"].get(tag, []) for s in sentences] for tag in tags},
        }
    )
    return table


def _conllu_sentence(block: list[str], column: int, doc: str, tag_column: str, renamed: set):
    """(document, {"text", "spans"} or None) of one sentence's lines."""
    spans: dict[str, list[list[int]]] = {}
    sentence = ""
    for line in block:
        if line.startswith("#"):
            if line.startswith("# newdoc"):
                doc = line.split("=", 1)[-1].strip() if "=" in line else doc
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 10:
            raise FeatureDataError(f"CoNLL-U line has {len(cols)} columns, not 10: {line!r}")
        if not cols[0].isdigit():  # multiword ranges (1-2) and empty nodes (1.1)
            continue
        tag = cols[column]
        if tag in ("text", "group"):
            renamed.add(tag)
            tag = f"{tag_column}:{tag}"
        start = len(sentence)
        sentence += cols[1]
        spans.setdefault(tag, []).append([start, len(sentence)])
        if "SpaceAfter=No" not in cols[9].split("|"):
            sentence += " "
    if not spans:
        return doc, None
    return doc, {"text": sentence.rstrip(), "spans": spans}


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
    bad_names = [f for f in features if not isinstance(f, str) or _has_control(f)]
    if bad_names:
        raise FeatureDataError(
            f"feature names {[str(f) for f in bad_names[:5]]!r} hold control characters (or are "
            "not text): rename those columns"
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


def _check_binary(column: pd.Series, name: str) -> None:
    def ok(v: Any) -> bool:
        return isinstance(v, bool | np.bool_) or (
            isinstance(v, int | float | np.integer | np.floating) and v in (0, 1)
        )

    bad = [i for i, v in enumerate(column) if not ok(v)]
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


def source_fingerprint(params: dict) -> str:
    """What the table holds (its bytes, or a dataset's fingerprint): the feature cache's key."""
    h = hashlib.sha256()
    path = params.get("path")
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            read_source(path)  # raises the one-line error
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(p) if p.is_dir() else f.name).encode())
            h.update(f.read_bytes())
        return h.hexdigest()[:16]
    table = read_source(None, params.get("hf"), params.get("split"), params.get("hf_config"))
    return table_fingerprint(table)


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
    meta = {"source": "custom", "fingerprint": table_fingerprint(table), "level": level}
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


def build(tokenizer, **params: Any) -> FeatureDataset:
    """The registered builder: read the configured source, then dataset_from_table. A folder
    written by `python -m probing.features export` comes back as exported (probing.features.core.export;
    the table-reading parameters do not apply to it)."""
    if is_export(params["path"]):
        return load_export(params["path"], tokenizer)
    table = read_source(
        params["path"], params["hf"], params["split"], params["hf_config"], params["tag_column"]
    )
    dataset = dataset_from_table(table, tokenizer, **params)
    dataset.meta["path"] = params["path"]
    dataset.meta["hf"] = params["hf"]
    return dataset


COLLECTION = register(
    Collection(
        name="custom",
        category="custom",
        source="your file or Hugging Face dataset (feature.path / feature.hf)",
        licence="yours",
        aggregation="mean",
        features={},
        defaults=DEFAULTS,
        recipe_version=RECIPE_VERSION,
        builder=build,
        fingerprint=source_fingerprint,
    )
)


def from_pandas(table: pd.DataFrame, tokenizer, **params: Any) -> FeatureDataset:
    """`FeatureDataset.from_pandas`: a DataFrame built in a notebook, same rules as a file."""
    return dataset_from_table(table, tokenizer, **{**DEFAULTS, **params})
