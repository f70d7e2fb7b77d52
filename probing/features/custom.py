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
when the config is validated (probing.config), before any model loads, and named in one line.
The checks and the tokenising are probing.features.core.tables's, shared with the paper's
datasets; this module reads the files and registers the `custom` collection.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from probing.features.core.dataset import FeatureDataset, constructor
from probing.features.core.errors import FeatureDataError
from probing.features.core.export import is_export, load_export
from probing.features.core.registry import Collection, register
from probing.features.core.tables import LABEL_CELLS, dataset_from_table, table_fingerprint

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
    assert path is not None  # exactly one of path and hf (checked above)
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


def _numeric_labels(table: pd.DataFrame) -> pd.DataFrame:
    """CSV cells are read as text, so a text of digits stays a text; a column whose every cell
    is a 0/1 label (0, 1, 0.0, 1.0, true, false) becomes 0/1 integers."""
    out = table.copy()
    for name in out.columns:
        cells = out[name].str.strip().str.lower()
        if len(cells) and cells.isin(list(LABEL_CELLS)).all():
            out[name] = cells.map(LABEL_CELLS).astype(int)
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
    sentences: list[dict[str, Any]] = []
    doc = ""
    renamed: set[str] = set()
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


# -- the collection --------------------------------------------------------------------------------


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


@constructor("from_pandas")
def from_pandas(table: pd.DataFrame, tokenizer, **params: Any) -> FeatureDataset:
    """`FeatureDataset.from_pandas`: a DataFrame built in a notebook, same rules as a file."""
    return dataset_from_table(table, tokenizer, **{**DEFAULTS, **params})
