"""compound_words: does the current word complete a known two-word compound ("source code")?

The paper's n-gram neurons fire on the second token of a frequent compound only when the first
one precedes it. Here every example is the first token of a compound's second word ("code"), in
English text of the spaCy collections' genres (Django's documentation, release notes, docstrings); a feature is 1
where the word before is the compound's first word ("source code"), 0 where it is another word
("exit code", "the code") or where the example is another compound's second word. The same
second word after other words gives the hard negatives: a probe that reads only the current
token cannot tell them apart, so it must use context.

The compounds are among the most frequent adjacent pairs that spaCy (en_core_web_sm 3.8.0) labels
`compound` in 900 windows of this text (`survey_compounds` repeats that count), keeping those
whose second word also often follows other words (so there are hard negatives) and leaving out
one-off names ("bounding box", "internet explorer"). Labels are read off the text itself (the two
words, separated only by whitespace or one hyphen), so they are exact, not a parser's guess.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from probing.features.builtin.linguistic import TEXT_GENRES, english_windows
from probing.features.core.dataset import FeatureDataset
from probing.features.core.errors import FeatureDataError
from probing.features.core.registry import Collection, register

RECIPE_VERSION = 2
COMPOUNDS: list[tuple[str, str]] = [
    ("security", "issue"),
    ("base", "class"),
    ("form", "field"),
    ("field", "name"),
    ("default", "value"),
    ("template", "tag"),
    ("keyword", "arguments"),
    ("query", "string"),
    ("web", "server"),
    ("user", "input"),
]
FEATURES = [f"{first}_{second}" for first, second in COMPOUNDS]
SECOND_WORDS = sorted({second for _, second in COMPOUNDS})
_WORD = re.compile(r"[A-Za-z]+")
_JOIN = re.compile(r"\s+|-")  # what may separate a compound's two words
_PARAGRAPHS = re.compile(r"\n\s*\n")


def paragraphs_with(words: list[str]):
    """keep(text): the document's paragraphs that contain one of `words` (whole word, any case),
    so windows land where the compounds and their hard negatives are, in their own context."""
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)

    def keep(text: str) -> str | None:
        kept = [p for p in _PARAGRAPHS.split(text) if pattern.search(p)]
        return "\n\n".join(kept) or None

    return keep


def second_word_examples(
    text: str, offsets: list[tuple[int, int]], min_pos: int
) -> list[tuple[int, str, list[bool]]]:
    """(token position, word, labels) for each second word that begins a token at or after min_pos.

    The word must follow another word in the window (its context is known) and must end before
    the window does (a cut-off "value" might be "values"). Labels follow COMPOUNDS.
    """
    words = list(_WORD.finditer(text))
    by_start = {m.start(): i for i, m in enumerate(words) if m.end() < len(text)}
    out = []
    for k, (s, e) in enumerate(offsets):
        piece = text[s:e]
        start = s + len(piece) - len(piece.lstrip())
        i = by_start.get(start)
        if k < min_pos or i is None or i == 0 or words[i].group().lower() not in SECOND_WORDS:
            continue
        word, before = words[i].group().lower(), words[i - 1]
        joined = _JOIN.fullmatch(text[before.end() : words[i].start()]) is not None
        previous = before.group().lower() if joined else None
        out.append((k, word, [(previous, word) == pair for pair in COMPOUNDS]))
    return out


def build(
    tokenizer,
    seq_len: int,
    n_sequences: int,
    tokens_per_sequence: int,
    min_pos: int,
    max_per_doc: int,
    max_negatives_per_word: int,
    seed: int,
) -> FeatureDataset:
    if min_pos < 1:
        raise FeatureDataError(f"compound_words needs min_pos >= 1 (a word before); got {min_pos}")
    rng = np.random.default_rng(seed)
    windows, documents = english_windows(
        tokenizer, n_sequences, seq_len, max_per_doc, rng, keep=paragraphs_with(SECOND_WORDS)
    )
    seqs, positions, words, labels = [], [], [], []
    for s in range(len(windows.lengths)):
        found = second_word_examples(windows.texts[s], windows.offsets[s], min_pos)
        take = min(tokens_per_sequence, len(found))
        for j in np.sort(rng.choice(len(found), size=take, replace=False)):
            seqs.append(s)
            positions.append(found[j][0])
            words.append(found[j][1])
            labels.append(found[j][2])
    labels_arr = np.array(labels, dtype=np.int8).reshape(len(seqs), len(FEATURES))
    words_arr = np.array(words)
    kept = cap_negatives(words_arr, labels_arr, max_negatives_per_word, rng)
    # sequences left without an example are dropped: they would cost a forward pass for nothing
    used, example_seq = np.unique(np.array(seqs)[kept], return_inverse=True)
    return FeatureDataset(
        name="compound_words",
        feature_names=FEATURES,
        tokens=windows.tokens[used],
        lengths=windows.lengths[used],
        example_seq=example_seq,
        example_pos=np.array(positions)[kept],
        labels=labels_arr[kept],
        groups=windows.docs[used][example_seq],
        aggregation="token",
        meta={
            "genres": TEXT_GENRES,
            "documents": {str(d): documents[str(d)] for d in np.unique(windows.docs[used])},
            "hard_negatives": hard_negatives(words_arr[kept], labels_arr[kept]),
        },
    )


def cap_negatives(
    words: np.ndarray, labels: np.ndarray, cap: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices of the examples kept: every positive, and per second word at most `cap`
    negatives (seeded), so the frequent words ("license", "file") do not drown the compounds."""
    negative = labels.sum(axis=1) == 0
    keep = ~negative
    for word in SECOND_WORDS:
        idx = np.flatnonzero(negative & (words == word))
        keep[rng.choice(idx, size=min(cap, len(idx)), replace=False)] = True
    return np.flatnonzero(keep)


def hard_negatives(words: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """Per feature, the negatives whose word is the compound's own second word."""
    return {
        f: int(((words == second) & (labels[:, j] == 0)).sum())
        for j, (f, (_, second)) in enumerate(zip(FEATURES, COMPOUNDS, strict=True))
    }


def survey_compounds(texts: list[str], nlp, top: int = 30) -> list[tuple[str, str, int]]:
    """The `top` adjacent (word, next word) pairs that spaCy labels `compound`, most frequent
    first, lower-cased: how COMPOUNDS was chosen (nlp must include the parser)."""
    counts: Counter[tuple[str, str]] = Counter()
    for doc in nlp.pipe(texts, batch_size=32):
        for w in doc:
            if w.dep_ == "compound" and w.head.i == w.i + 1 and w.is_alpha and w.head.is_alpha:
                counts[(w.lower_, w.head.lower_)] += 1
    return [(a, b, n) for (a, b), n in counts.most_common(top)]


COLLECTION = register(
    Collection(
        name="compound_words",
        category="compound_words",
        source="English text of text_source's documentation, release_notes and docstring genres (Django 5.2.8) (equal "
        "shares), the paragraphs holding a compound's second word; compounds chosen by spaCy's "
        "`compound` relation (en_core_web_sm 3.8.0), labels read off the text",
        licence="text: BSD-3-Clause (Django)",
        aggregation="token",
        features={
            f: f"the word is {second!r} and the word before it is {first!r} (read at "
            f"{second!r}'s first token; examples are first tokens of {', '.join(SECOND_WORDS)})"
            for f, (first, second) in zip(FEATURES, COMPOUNDS, strict=True)
        },
        defaults={
            "seq_len": 128,
            "n_sequences": 1200,
            "tokens_per_sequence": 16,
            "min_pos": 1,
            "max_per_doc": 3,
            "max_negatives_per_word": 150,
            "seed": 0,
        },
        recipe_version=RECIPE_VERSION,
        builder=build,
        artefacts=("django",),
    )
)
