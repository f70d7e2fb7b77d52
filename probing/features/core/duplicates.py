"""Duplicated text across documents: found, and kept on one side of every split.

A split that keeps each document on one side is only held out if no text is in two documents.
Users' tables repeat texts under different `group` ids, or omit `group` (one document a row), and
near-copies (the same text with other punctuation, a boilerplate header) occur in real corpora:
random labels on such a table scored a held-out F1 of 0.92-0.95 where 0.51 is chance.

- Exact duplicates: texts equal once case, whitespace and punctuation are ignored.
- Near duplicates: character 5-gram shingle sets with a Jaccard similarity of at least
  `threshold`, found by MinHash with banded locality-sensitive hashing (64 hashes, 16 bands of 4:
  a pair at Jaccard 0.8 is a candidate with probability > 0.99) and confirmed on the exact
  shingle sets, so no pair is merged on an estimate.

`merge_duplicate_documents` unites the documents of every duplicate pair (union-find), so each
cluster of copies lands on one side of the split; mode "warn" only reports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SHINGLE = 5  # characters
N_HASHES, BANDS = 64, 16
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_HASH_A = np.random.default_rng(20230501).integers(1, 2**63, N_HASHES, dtype=np.uint64) | 1
_HASH_B = np.random.default_rng(20230502).integers(0, 2**63, N_HASHES, dtype=np.uint64)


@dataclass(frozen=True)
class DuplicateReport:
    """What was found: texts (sequences) that repeat a text of another document."""

    exact: int  # texts whose normalised text another document also has
    near: int  # texts in a near-duplicate pair across documents (and not exact)
    documents_before: int
    documents_after: int
    mode: str

    @property
    def found(self) -> bool:
        return bool(self.exact or self.near)

    def describe(self, name: str) -> str:
        action = (
            f"their documents merged ({self.documents_before} -> {self.documents_after})"
            if self.mode == "merge"
            else "NOT merged (duplicates.mode=warn): held-out scores may be inflated"
        )
        return (
            f"{name}: {self.exact} texts repeat another document's text exactly (case, "
            f"whitespace and punctuation aside) and {self.near} nearly; {action}"
        )


def normalise(text: str) -> str:
    """Case, whitespace and punctuation ignored: the key of an exact duplicate."""
    return " ".join(_NOT_WORD.sub(" ", text.casefold()).split())


def shingle_hashes(text: str) -> np.ndarray:
    """uint64 hashes of the distinct character 5-grams of normalise(text) (the whole text when
    shorter)."""
    codes = np.frombuffer(normalise(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) == 0:
        return np.zeros(0, np.uint64)
    if len(codes) < SHINGLE:
        codes = np.pad(codes, (0, SHINGLE - len(codes)))
    windows = np.lib.stride_tricks.sliding_window_view(codes, SHINGLE)
    weights = np.array([pow(1000003, i, 2**64) for i in range(SHINGLE)], dtype=np.uint64)
    with np.errstate(over="ignore"):
        return np.unique((windows * weights).sum(axis=1) & _MASK)


def minhash(hashes: np.ndarray) -> np.ndarray:
    """[N_HASHES] MinHash signature (multiply-shift hashing); all-max for an empty set."""
    if not len(hashes):
        return np.full(N_HASHES, np.iinfo(np.uint64).max, np.uint64)
    with np.errstate(over="ignore"):
        mixed = (_HASH_A[:, None] * hashes[None, :] + _HASH_B[:, None]) >> np.uint64(16)
    return mixed.min(axis=1)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 1.0


def near_duplicate_pairs(texts: list[str], threshold: float) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of texts whose shingle sets have Jaccard >= threshold."""
    shingles = [shingle_hashes(t) for t in texts]
    signatures = np.stack([minhash(s) for s in shingles]) if texts else np.zeros((0, N_HASHES))
    rows = N_HASHES // BANDS
    candidates: set[tuple[int, int]] = set()
    for band in range(BANDS):
        keys = signatures[:, band * rows : (band + 1) * rows]
        _, bucket = np.unique(keys, axis=0, return_inverse=True)
        order = np.argsort(bucket.ravel(), kind="stable")
        bounds = np.flatnonzero(np.diff(bucket.ravel()[order])) + 1
        for members in np.split(order, bounds):
            candidates.update(_bucket_pairs(sorted(int(m) for m in members)))
    return sorted(
        (i, j)
        for i, j in candidates
        if len(shingles[i]) and jaccard(shingles[i], shingles[j]) >= threshold
    )


def _bucket_pairs(members: list[int], all_pairs_up_to: int = 50) -> list[tuple[int, int]]:
    """Candidate pairs of one LSH bucket: all of them in a small bucket; in a large one (many
    templated texts) each member with the first and with its predecessor, so a cluster of
    copies is still connected without a quadratic number of comparisons."""
    if len(members) <= all_pairs_up_to:
        return [(a, b) for x, a in enumerate(members) for b in members[x + 1 :]]
    first = members[0]
    return [(first, m) for m in members[1:]] + list(zip(members[1:-1], members[2:], strict=True))


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def merge_duplicate_documents(
    texts: list[str], documents: np.ndarray, threshold: float = 0.8, mode: str = "merge"
) -> tuple[np.ndarray, DuplicateReport]:
    """(documents, report): each text's document id [len(texts)], with the documents of
    duplicate texts united (mode "merge") or unchanged (mode "warn"). Ids are renumbered from 0
    in order of first appearance when merged."""
    if mode not in ("merge", "warn"):
        raise ValueError(f"mode must be merge or warn, got {mode!r}")
    documents = np.asarray(documents)
    _, doc = np.unique(documents, return_inverse=True)
    doc = doc.ravel()
    union = _Union(int(doc.max()) + 1 if len(doc) else 0)
    exact: set[int] = set()
    near: set[int] = set()
    first_of: dict[str, int] = {}
    for i, text in enumerate(texts):
        key = normalise(text)
        if not key:
            continue
        j = first_of.setdefault(key, i)
        if doc[j] != doc[i]:
            exact.update((i, j))
            union.union(int(doc[i]), int(doc[j]))
    distinct = list(first_of.values())  # one text per normalised text: the rest are exact
    for a, b in near_duplicate_pairs([texts[i] for i in distinct], threshold):
        i, j = distinct[a], distinct[b]
        if doc[i] != doc[j]:
            near.update(x for x in (i, j) if x not in exact)
            union.union(int(doc[i]), int(doc[j]))
    roots = np.array([union.find(int(d)) for d in doc], dtype=np.int64)
    merged = np.unique(roots, return_inverse=True)[1].ravel() if len(roots) else roots
    report = DuplicateReport(
        exact=len(exact),
        near=len(near),
        documents_before=len(np.unique(doc)),
        documents_after=len(np.unique(merged)),
        mode=mode,
    )
    return (merged if mode == "merge" else documents), report


def sequence_texts(dataset, tokenizer) -> list[str]:
    """The text of each sequence as the model reads it (its real tokens, decoded)."""
    ids = [dataset.tokens[s, : dataset.lengths[s]].tolist() for s in range(dataset.n_sequences)]
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def merge_duplicates(
    dataset, tokenizer, threshold: float = 0.8, mode: str = "merge"
) -> tuple[DuplicateReport, int]:
    """Find duplicate texts across a FeatureDataset's documents and (mode "merge") unite their
    documents in dataset.groups, in place. Returns the report and the number of examples whose
    document was united with another."""
    seq_doc = np.full(dataset.n_sequences, -1, dtype=np.int64)
    seq_doc[dataset.example_seq] = dataset.groups
    lone = np.flatnonzero(seq_doc < 0)  # sequences no example reads: documents of their own
    seq_doc[lone] = dataset.groups.max(initial=-1) + 1 + np.arange(len(lone))
    merged, report = merge_duplicate_documents(
        sequence_texts(dataset, tokenizer), seq_doc, threshold, mode
    )
    if mode != "merge" or not report.found:
        return report, 0
    pairs = np.unique(np.stack([merged, seq_doc]), axis=1)  # (merged, original) documents
    united = np.flatnonzero(np.bincount(pairs[0]) > 1)  # merged documents of several originals
    example_docs = merged[dataset.example_seq]
    dataset.groups = example_docs.astype(np.int32)
    return report, int(np.isin(example_docs, united).sum())
