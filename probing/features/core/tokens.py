"""Tokenising real text into fixed-length windows, the same way for every collection.

No special tokens are added (no BOS): position 0 is the first token of the text, and a feature
dataset built with one tokenizer means the same thing for every model that shares it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from probing.features.core.errors import FeatureDataError


def tokenizer_fingerprint(tokenizer) -> str:
    """Short sha256 of the tokenizer's class name and sorted vocabulary: same ids, same hash."""
    vocab = sorted(tokenizer.get_vocab().items())
    h = hashlib.sha256(type(tokenizer).__name__.encode())
    h.update(json.dumps(vocab, ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def pad_id(tokenizer) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def encode(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def token_strings(tokenizer, ids: np.ndarray) -> tuple[list[str], list[str]]:
    """Per id: the decoded text of the token alone, and its raw vocabulary string (Ġ / ▁ kept)."""
    id_list = [int(i) for i in ids]
    decoded = [tokenizer.decode([i]) for i in id_list]
    raw = tokenizer.convert_ids_to_tokens(id_list)
    return decoded, [r if r is not None else "" for r in raw]


@dataclass
class Windows:
    """Token windows cut from documents: tokens [n, seq_len] right-padded, lengths, source doc."""

    tokens: np.ndarray
    lengths: np.ndarray
    docs: np.ndarray
    texts: list[str] = field(default_factory=list)
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)


def window_at(
    text: str, tokenizer, seq_len: int, rng: np.random.Generator, with_offsets: bool = False
) -> tuple[list[int], str, list[tuple[int, int]]]:
    """Up to seq_len tokens from a seeded random line start, leaving room for a full window.

    Returns the ids, the text they cover and, with_offsets, each token's (start, end) characters
    in that text (fast tokenizers only), which token-level linguistic labels align against.
    """
    line_starts = np.array([0] + [m.end() for m in re.finditer("\n", text)])
    room = len(text) - seq_len * 6  # ~6 characters per token is ample for prose and code
    usable = line_starts[line_starts <= max(room, 0)]
    start = int(rng.choice(usable)) if len(usable) else 0
    chunk = text[start : start + seq_len * 16]
    if not with_offsets:
        return encode(tokenizer, chunk)[:seq_len], chunk, []
    enc = tokenize(tokenizer, chunk, with_offsets=True)
    offsets = [tuple(o) for o in enc["offset_mapping"][:seq_len]]
    return list(enc["input_ids"][:seq_len]), chunk[: offsets[-1][1] if offsets else 0], offsets


def sample_windows(
    n_docs: int,
    read: Callable[[int], str | None],
    tokenizer,
    n: int,
    seq_len: int,
    max_per_doc: int,
    rng: np.random.Generator,
    min_tokens: int | None = None,
    with_offsets: bool = False,
    fill_docs: bool = False,
) -> Windows:
    """n windows from documents 0..n_docs-1, at most max_per_doc each.

    Documents are visited in a seeded order, one window each per round, so every document is used
    once before any is used twice; with fill_docs, each document gives max_per_doc windows before
    the next is read, so all the documents used hold the same number of windows (but the last,
    which gives what is left). `read(i)` returns a document's text or None (skipped). Fewer than n
    windows come back when the documents run out; the caller reports that.
    """
    min_tokens = seq_len // 2 if min_tokens is None else min_tokens
    order = [int(i) for i in rng.permutation(n_docs)]
    if fill_docs:
        visits = (i for i in order for _ in range(max_per_doc))
    else:
        visits = (i for _ in range(max_per_doc) for i in order)
    texts: dict[int, str] = {}
    dead: set[int] = set()
    rows: list[list[int]] = []
    docs: list[int] = []
    cut_texts: list[str] = []
    cut_offsets: list[list[tuple[int, int]]] = []
    for i in visits:
        if len(rows) >= n:
            break
        if i in dead:
            continue
        if i not in texts:
            text = read(i)
            if text is None:
                dead.add(i)
                continue
            texts[i] = text
        ids, cut, offsets = window_at(texts[i], tokenizer, seq_len, rng, with_offsets)
        if len(ids) < min_tokens:
            dead.add(i)
            continue
        rows.append(ids)
        docs.append(i)
        if with_offsets:
            cut_texts.append(cut)
            cut_offsets.append(offsets)
    windows = pack(rows, docs, seq_len, pad_id(tokenizer))
    windows.texts, windows.offsets = cut_texts, cut_offsets
    return windows


def pack(
    rows: Sequence[Sequence[int]], docs: Sequence[int] | np.ndarray, seq_len: int, pad: int
) -> Windows:
    tokens = np.full((len(rows), seq_len), pad, dtype=np.int32)
    for r, ids in enumerate(rows):
        tokens[r, : len(ids)] = ids
    lengths = np.array([len(ids) for ids in rows], dtype=np.int32)
    return Windows(tokens=tokens, lengths=lengths, docs=np.asarray(docs, dtype=np.int32))


def require_count(got: int, wanted: int, what: str, hint: str) -> None:
    if got < wanted:
        raise FeatureDataError(f"only {got} of {wanted} {what} could be built; {hint}")


def sample_positions(
    lengths: np.ndarray, per_seq: int, min_pos: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(example_seq, example_pos): per_seq distinct positions per sequence, uniform on
    [min_pos, length), sorted, so example_seq is non-decreasing as FeatureDataset requires."""
    seqs, positions = [], []
    for s, length in enumerate(lengths):
        candidates = np.arange(min_pos, int(length))
        chosen = np.sort(rng.choice(candidates, size=min(per_seq, len(candidates)), replace=False))
        seqs.append(np.full(len(chosen), s))
        positions.append(chosen)
    return np.concatenate(seqs).astype(np.int32), np.concatenate(positions).astype(np.int32)


def tokenize(tokenizer, texts, with_offsets: bool) -> dict:
    """The tokenizer's encoding without special tokens; a slow tokenizer that cannot give
    character offsets is one clear error, not a NotImplementedError from deep inside."""
    try:
        return tokenizer(texts, add_special_tokens=False, return_offsets_mapping=with_offsets)
    except NotImplementedError:
        raise FeatureDataError(
            f"{type(tokenizer).__name__} cannot map tokens to characters; use a fast tokenizer"
        ) from None
