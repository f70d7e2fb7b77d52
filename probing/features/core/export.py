"""Carry a built feature dataset to another machine as a Hugging Face dataset folder, and back.

    python -m probing.features export programming_language --out pl --tokenizer TOKENIZER_DIR
    python -m probing.run feature=custom/file feature.path=pl          # on the cluster

The folder is written by `datasets.Dataset.save_to_disk`, one row per sequence: its decoded `text`,
its exact `tokens` (unpadded), its `group` (source document) and `document` (the file or name the
collection recorded for that group, else null), and its examples: `positions` (the token read;
-1 for mean/max) and `labels` (per feature, one 0/1 per example). `feature_export.json` beside the
data, and the same JSON in the dataset's `info.description`, records the collection, the feature
names, aggregation, padding, the tokenizer, the recipe, the source and licence, and the content
hash. The import rebuilds the arrays and checks that hash, the rows' hash and the record's own:
a damaged or partial folder is an error, never data. The feature cache (probing.features.core.build)
keeps its entries in this format.

A different tokenizer at import never passes for the exported one. A token-level export is
refused, naming both tokenizers: its positions are token indices that mean nothing under other
ids. A sequence-level (mean/max) export is re-tokenised from each row's `text` (no special tokens,
cut to the export's seq_len, padded with the new tokenizer's pad id), its labels and groups
unchanged, under the name `<name>-retok-<first 8 of the new fingerprint>` and with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from probing.features.core.dataset import FeatureDataset, constructor
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import COLLECTIONS
from probing.features.core.tokens import pad_id, tokenizer_fingerprint

log = logging.getLogger(__name__)

EXPORT_FILE = "feature_export.json"
FORMAT = "probing.feature_export"
FORMAT_VERSION = 1
COLUMNS = ("text", "tokens", "group", "document", "positions", "labels")


# -- writing ---------------------------------------------------------------------------------------


def check_out(out: str | Path) -> Path:
    """The export target, refused if it holds anything: an export never mixes with other files."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FeatureDataError(
            f"--out {out} exists and is not empty; remove it or choose another folder"
        )
    blocking = file_in_the_way(out)
    if blocking is not None:  # else mkdir's FileExistsError, after the whole build
        raise FeatureDataError(f"--out {out}: {blocking} is a file; choose a folder outside it")
    return out


def file_in_the_way(folder: str | Path) -> Path | None:
    """The file at or above `folder` that keeps it from being created as a folder, or None."""
    folder = Path(folder).expanduser().absolute()
    found = next(p for p in (folder, *folder.parents) if p.exists())
    return None if found.is_dir() else found


def export_feature_dataset(ds: FeatureDataset, out: str | Path, tokenizer) -> Path:
    """Write `ds` (built with `tokenizer`) to the folder `out`; returns its path.

    The folder appears complete or not at all: it is written beside `out` under a temporary name
    and renamed, after checking that the rows rebuild `ds` exactly.
    """
    import datasets
    from datasets.table import InMemoryTable

    out = check_out(out)
    info = export_info(ds, tokenizer)
    table = export_table(ds, tokenizer)
    rebuilt, texts = dataset_from_rows(info, table, out)
    if rebuilt.content_hash() != info["content_hash"] or not np.array_equal(
        rebuilt.groups, ds.groups
    ):
        raise FeatureDataError(
            f"{ds.name}: its rows do not rebuild it (padding other than the tokenizer's pad id?)"
        )
    info["rows_hash"] = rows_hash(rebuilt.groups, texts)
    info = json.loads(json.dumps(info, ensure_ascii=False, default=str))  # as a reader parses it
    info["record_hash"] = record_hash(info)
    record = json.dumps(info, ensure_ascii=False)
    rows = datasets.Dataset(
        InMemoryTable(table.cast(export_features(ds.feature_names).arrow_schema)),
        info=datasets.DatasetInfo(
            description=record, license=info["licence"], features=export_features(ds.feature_names)
        ),
        # the two hashes say what the rows hold; datasets would otherwise hash the whole table
        fingerprint=info["content_hash"] + info["rows_hash"],
    )
    tmp = out.parent / f".{out.name}.{os.getpid()}.tmp"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        rows.save_to_disk(str(tmp))
        (tmp / EXPORT_FILE).write_text(record)  # written last: the folder is whole from here on
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def export_info(ds: FeatureDataset, tokenizer) -> dict[str, Any]:
    """Everything the import needs besides the rows, and what a reader asks of the data: where
    it came from, under which licence, for which tokenizer."""
    recipe = ds.meta.get("recipe") or {}
    collection = COLLECTIONS.get(recipe.get("collection", ds.name))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": ds.name,
        "feature_names": list(ds.feature_names),
        "aggregation": ds.aggregation,
        "seq_len": int(ds.tokens.shape[1]),
        "pad_id": pad_id(tokenizer),
        "n_sequences": ds.n_sequences,
        "n_examples": ds.n_examples,
        "tokenizer": tokenizer_identity(tokenizer),
        "recipe": recipe,
        "source": collection.source if collection else None,
        "licence": collection.licence if collection else None,
        "content_hash": ds.content_hash(),
        "meta": ds.meta,
    }


def tokenizer_identity(tokenizer) -> dict[str, str]:
    """The fingerprint decides; the name and class make an error message readable."""
    return {
        "fingerprint": tokenizer_fingerprint(tokenizer),
        "name": str(getattr(tokenizer, "name_or_path", "") or ""),
        "class": type(tokenizer).__name__,
    }


def export_features(feature_names: list[str]):
    """The rows' schema; labels are a struct keyed by feature name, so a feature may be called
    `text` without clashing with the columns."""
    from datasets import Features, List, Value

    return Features(
        {
            "text": Value("string"),
            "tokens": List(Value("int32")),
            "group": Value("int64"),
            "document": Value("string"),
            "positions": List(Value("int32")),
            "labels": {f: List(Value("int8")) for f in feature_names},
        }
    )


def export_table(ds: FeatureDataset, tokenizer):
    """One arrow row per sequence, built from whole arrays (no Python loop over tokens)."""
    import pyarrow as pa

    lengths = ds.lengths
    real = np.arange(ds.tokens.shape[1]) < lengths[:, None]
    per_seq = np.bincount(ds.example_seq, minlength=ds.n_sequences)
    ex_offsets = pa.array(np.concatenate([[0], np.cumsum(per_seq)]).astype(np.int32))

    def per_sequence(values: np.ndarray, offsets=ex_offsets):
        return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(values)))

    tok_offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    groups = sequence_groups(ds)
    labels = [per_sequence(ds.labels[:, j]) for j in range(len(ds.feature_names))]
    return pa.table(
        {
            "text": pa.array(decode_rows(tokenizer, ds.tokens, lengths), pa.string()),
            "tokens": per_sequence(ds.tokens[real], tok_offsets),
            "group": pa.array(groups.astype(np.int64)),
            "document": pa.array(sequence_documents(ds.meta, groups), pa.string()),
            "positions": per_sequence(ds.example_pos),
            "labels": pa.StructArray.from_arrays(labels, names=list(ds.feature_names)),
        }
    )


def decode_rows(tokenizer, tokens: np.ndarray, lengths: np.ndarray) -> list[str]:
    """Each sequence's real tokens as text, exactly `tokenizer.decode(ids,
    clean_up_tokenization_spaces=False)`; a fast tokenizer's backend decodes them all in one
    call, which halves the export of a large collection (the per-call checks dominate)."""
    rows = [row[:n].tolist() for row, n in zip(tokens, lengths, strict=True)]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.decode_batch(rows, skip_special_tokens=False)
    return [tokenizer.decode(row, clean_up_tokenization_spaces=False) for row in rows]


def sequence_groups(ds: FeatureDataset) -> np.ndarray:
    """The group of each sequence (-1 for one without examples); a row stores one group, so a
    sequence whose examples come from several documents cannot be exported."""
    groups = np.full(ds.n_sequences, -1, dtype=np.int64)
    groups[ds.example_seq] = ds.groups
    if not np.array_equal(groups[ds.example_seq], ds.groups):
        raise FeatureDataError(
            f"{ds.name}: a sequence's examples belong to different groups; it cannot be exported "
            "one row per sequence"
        )
    return groups


def sequence_documents(meta: dict, groups: np.ndarray) -> list[str | None]:
    """Each row's source: meta["documents"] (group -> path or name, most collections) or
    meta["group_names"] (natural_language, custom tables); None where neither says."""
    documents = meta.get("documents") or {}
    names = meta.get("group_names") or []

    def document(g: int) -> str | None:
        if str(g) in documents:
            return str(documents[str(g)])
        return str(names[g]) if 0 <= g < len(names) else None

    return [document(int(g)) for g in groups]


def rows_hash(groups: np.ndarray, texts: list[str]) -> str:
    """What the content hash leaves out but an import uses: the groups (splits) and the texts
    (re-tokenisation); a change to either is damage too."""
    h = hashlib.sha256(np.ascontiguousarray(groups, dtype=np.int32).tobytes())
    h.update(json.dumps(texts, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def record_hash(info: dict[str, Any]) -> str:
    """Hash of the record itself (meta, recipe, names...), which neither data hash covers: a
    record edited or bit-flipped into other valid JSON would otherwise pass, and meta decides
    which features a run probes."""
    body = {k: v for k, v in info.items() if k != "record_hash"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:16]


# -- reading ---------------------------------------------------------------------------------------


def is_export(path: str | Path | None) -> bool:
    """Whether `path` is a folder this module wrote, judged by its record or, where that file was
    lost, by the dataset's own description (so a partial copy is reported, not misread)."""
    if path is None:
        return False
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return False
    if (folder / EXPORT_FILE).exists():
        return True
    try:
        described = json.loads((folder / "dataset_info.json").read_text()).get("description", "")
    except (OSError, ValueError, AttributeError):
        return False
    return FORMAT in str(described)


class DamagedExport(FeatureDataError):
    """A damaged or incomplete export folder. `why` (one line) is kept apart from the advice, so
    the feature cache, which rebuilds rather than asks for a copy, can log just that."""

    def __init__(self, folder: Path, why: str):
        self.why = why.strip().splitlines()[0] if why.strip() else "unreadable"
        super().__init__(
            f"{folder}: damaged or incomplete feature export ({self.why}); copy it again or "
            "re-run python -m probing.features export"
        )


def read_record(folder: Path) -> dict[str, Any]:
    """The export's record, checked for the keys the import reads."""
    try:
        info = json.loads((folder / EXPORT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedExport(folder, f"{EXPORT_FILE} is missing") from None
    except (OSError, ValueError) as err:
        raise DamagedExport(folder, f"{EXPORT_FILE} is unreadable: {err}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise DamagedExport(folder, f"{EXPORT_FILE} is not a {FORMAT} record")
    if info.get("format_version") != FORMAT_VERSION:
        raise FeatureDataError(
            f"{folder}: feature export format {info.get('format_version')} is not the "
            f"{FORMAT_VERSION} this probing reads; update probing or export it again"
        )
    needed = ("name", "feature_names", "aggregation", "seq_len", "pad_id", "n_sequences")
    # record_hash is required: an optional one would let an edit pass by deleting it
    hashes = ("tokenizer", "content_hash", "rows_hash", "record_hash")
    missing = [k for k in (*needed, *hashes) if k not in info]
    if missing:
        raise DamagedExport(folder, f"{EXPORT_FILE} lacks {missing}")
    if record_hash(info) != info["record_hash"]:
        raise DamagedExport(
            folder, f"{EXPORT_FILE} was edited: it no longer matches its record_hash"
        )
    return info


def read_rows(folder: Path, info: dict[str, Any]):
    """The rows as one arrow table; any failure of the data files is damage, in one line."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
        if not isinstance(loaded, datasets.Dataset):
            raise ValueError("holds several splits")
        table = loaded.with_format("arrow")[:]
        table.validate(full=True)  # offsets and strings in bounds before anything reads them
    except Exception as err:  # missing, truncated or rewritten arrow files, in many library types
        raise DamagedExport(folder, f"{type(err).__name__}: {err}") from None
    if missing := [c for c in COLUMNS if c not in table.column_names]:
        raise DamagedExport(folder, f"no column(s) {missing}")
    if table.num_rows != info["n_sequences"]:
        raise DamagedExport(folder, f"{table.num_rows} rows, the record says {info['n_sequences']}")
    return table


def list_column(column, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(all values, length per row) of a list column (a table's chunked one or a struct's child),
    copied: the dataset owns writable memory, not a view into a file that may be replaced."""
    arr = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    if arr.null_count:
        raise DamagedExport(folder, "a list cell is null")
    values = np.array(arr.flatten().to_numpy(zero_copy_only=False))
    return values, np.array(arr.value_lengths().to_numpy(zero_copy_only=False))


def dataset_from_rows(info: dict[str, Any], table, folder: Path) -> tuple[FeatureDataset, list]:
    """(the FeatureDataset the rows and record describe, the rows' texts), exactly as exported."""
    n, seq_len = info["n_sequences"], info["seq_len"]
    token_values, lengths = list_column(table.column("tokens"), folder)
    if (lengths < 1).any() or (lengths > seq_len).any():
        raise DamagedExport(folder, f"a row holds no tokens or more than seq_len={seq_len}")
    tokens = np.full((n, seq_len), info["pad_id"], dtype=np.int32)
    tokens[np.arange(seq_len) < lengths[:, None]] = token_values
    positions, per_seq = list_column(table.column("positions"), folder)
    struct = table.column("labels").combine_chunks()
    names = [struct.type.field(j).name for j in range(struct.type.num_fields)]
    if names != info["feature_names"]:
        raise DamagedExport(
            folder, f"label columns {names} are not the features {info['feature_names']}"
        )
    labels = []
    for name, child in zip(names, struct.flatten(), strict=True):
        values, counts = list_column(child, folder)
        if not np.array_equal(counts, per_seq):
            raise DamagedExport(folder, f"labels of {name!r} do not match the positions")
        labels.append(values)
    groups = table.column("group").to_numpy(zero_copy_only=False)
    try:
        ds = FeatureDataset(
            name=info["name"],
            feature_names=list(info["feature_names"]),
            tokens=tokens,
            lengths=lengths,
            example_seq=np.repeat(np.arange(n), per_seq),
            example_pos=positions,
            labels=np.stack(labels, axis=1) if labels else np.zeros((len(positions), 0)),
            groups=np.repeat(groups, per_seq),
            aggregation=info["aggregation"],
            meta=dict(info.get("meta") or {}),
        )
    except ValueError as err:
        raise DamagedExport(folder, str(err)) from None
    return ds, table.column("text").to_pylist()


def read_export(path: str | Path) -> tuple[FeatureDataset, list[str], dict[str, Any]]:
    """(the FeatureDataset exactly as exported, meta included and nothing added; its rows'
    texts; the record), checked against the recorded hashes. The feature cache reads its entries
    with this, so that a cached load equals the fresh build; any damage is one FeatureDataError.
    """
    folder = Path(path).expanduser()
    info = read_record(folder)
    table = read_rows(folder, info)
    try:
        ds, texts = dataset_from_rows(info, table, folder)
    except FeatureDataError:
        raise
    except Exception as err:  # a schema or record edited into shapes the reader never expects
        raise DamagedExport(folder, f"{type(err).__name__}: {err}") from None
    if ds.content_hash() != info["content_hash"]:
        raise DamagedExport(
            folder, f"content hash {ds.content_hash()}, the record says {info['content_hash']}"
        )
    if rows_hash(ds.groups, texts) != info["rows_hash"]:
        raise DamagedExport(folder, "the groups or texts differ from those exported")
    return ds, texts, info


@constructor("load_from_disk")
def load_export(path: str | Path, tokenizer=None) -> FeatureDataset:
    """`FeatureDataset.load_from_disk`: the FeatureDataset exported to `path`, checked against its recorded hashes, with where it
    came from in meta["export"].

    With `tokenizer` of another fingerprint: re-tokenised (sequence level) or refused (token
    level), as the module docstring says. Without one, the data exactly as exported.
    """
    folder = Path(path).expanduser()
    ds, texts, info = read_export(folder)
    ds.meta["export"] = {"path": str(folder), **{k: v for k, v in info.items() if k != "meta"}}
    if tokenizer is None or tokenizer_fingerprint(tokenizer) == info["tokenizer"]["fingerprint"]:
        return ds
    return retokenised(ds, texts, tokenizer, info, folder)


def describe(identity: dict[str, str]) -> str:
    name = identity.get("name") or identity.get("class") or "a tokenizer"
    return f"{name} (fingerprint {identity.get('fingerprint')})"


def retokenised(
    ds: FeatureDataset, texts: list[str], tokenizer, info: dict[str, Any], folder: Path
) -> FeatureDataset:
    """`ds` for another tokenizer: its texts encoded again (sequence level only), renamed."""
    theirs, ours = info["tokenizer"], tokenizer_identity(tokenizer)
    if ds.aggregation == "token":
        raise FeatureDataError(
            f"{folder} was exported with tokenizer {describe(theirs)}, this run's is "
            f"{describe(ours)}; a token-level dataset reads token positions, so export it again "
            f"with this tokenizer: python -m probing.features export {info['recipe'].get('collection', ds.name)} "
            "--tokenizer THIS_TOKENIZER_DIR (and the same --set options)"
        )
    seq_len = ds.tokens.shape[1]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    ids = [row[:seq_len] for row in encoded]
    if empty := [i for i, row in enumerate(ids) if not row]:
        raise FeatureDataError(f"{folder}: rows {empty[:5]} have no tokens under {describe(ours)}")
    tokens = np.full((len(ids), seq_len), pad_id(tokenizer), dtype=np.int32)
    for r, row in enumerate(ids):
        tokens[r, : len(row)] = row
    log.warning(
        "%s was exported with tokenizer %s; re-tokenised its texts with %s (name %s-retok-%s)",
        folder,
        describe(theirs),
        describe(ours),
        ds.name,
        ours["fingerprint"][:8],
    )
    meta = {**ds.meta, "retokenised": {"from": theirs["fingerprint"], "to": ours["fingerprint"]}}
    return FeatureDataset(
        name=f"{ds.name}-retok-{ours['fingerprint'][:8]}",
        feature_names=ds.feature_names,
        tokens=tokens,
        lengths=np.array([len(row) for row in ids], dtype=np.int32),
        example_seq=ds.example_seq,
        example_pos=ds.example_pos,
        labels=ds.labels,
        groups=ds.groups,
        aggregation=ds.aggregation,
        meta=meta,
    )
