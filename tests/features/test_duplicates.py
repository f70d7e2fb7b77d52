"""Duplicate texts across documents are found and kept on one side of the split."""

from __future__ import annotations

import numpy as np
import pytest

from probing.features.core.duplicates import (
    jaccard,
    merge_duplicate_documents,
    near_duplicate_pairs,
    normalise,
    shingle_hashes,
)

PROSE = [
    "The committee met on Tuesday to discuss the budget for the coming year in detail.",
    "A small dog ran across the field, chasing a red ball that the children had thrown.",
    "Rain is expected over the northern hills tonight, with clearing skies by the morning.",
    "She opened the old wooden box and found letters written by her grandmother in 1952.",
    "The new bridge will connect both sides of the river and shorten the commute by an hour.",
]


def test_exact_duplicates_ignore_case_whitespace_and_punctuation():
    assert normalise("Hello,   World!\n") == normalise("hello world") == "hello world"
    texts = [PROSE[0], PROSE[0].upper().replace(",", ";"), PROSE[1], "  " + PROSE[1] + " "]
    docs, report = merge_duplicate_documents(texts, np.array([0, 1, 2, 3]))
    assert docs[0] == docs[1] and docs[2] == docs[3] and docs[0] != docs[2]
    assert report.exact == 4 and report.near == 0
    assert (report.documents_before, report.documents_after) == (4, 2)


def test_near_duplicates_are_found_and_distinct_texts_are_not():
    edited = PROSE[2].replace("tonight", "this evening")  # one phrase changed
    texts = [*PROSE, edited]
    pairs = near_duplicate_pairs(texts, 0.6)
    assert pairs == [(2, 5)]
    exact = jaccard(shingle_hashes(PROSE[2]), shingle_hashes(edited))
    assert 0.6 < exact < 0.95
    docs, report = merge_duplicate_documents(texts, np.arange(6), threshold=0.6)
    assert docs[2] == docs[5] and len(set(docs)) == 5 and report.near == 2


def test_templated_short_texts_are_mostly_not_near_duplicates_at_the_default():
    """Only templates one character apart ("met 10 people" / "met 100 people") are merged."""
    texts = [f"We met {i} people on the way." for i in range(200)]
    docs, report = merge_duplicate_documents(texts, np.arange(200))
    assert report.exact == 0 and len(set(docs)) >= 190


def test_copies_within_one_document_change_nothing_and_warn_mode_keeps_documents():
    texts = [PROSE[0], PROSE[0], PROSE[1]]
    docs, report = merge_duplicate_documents(texts, np.array([7, 7, 9]))
    assert not report.found and len(set(docs)) == 2
    texts = [PROSE[0], PROSE[0]]
    docs, report = merge_duplicate_documents(texts, np.array([3, 4]), mode="warn")
    assert report.found and docs.tolist() == [3, 4] and "NOT merged" in report.describe("x")
    with pytest.raises(ValueError, match="merge or warn"):
        merge_duplicate_documents(texts, np.array([3, 4]), mode="ignore")


def test_a_large_cluster_of_copies_ends_in_one_document():
    base = " ".join(PROSE)
    texts = [base + f" ({i})" * (i % 3) for i in range(300)] + PROSE
    docs, report = merge_duplicate_documents(texts, np.arange(len(texts)), threshold=0.9)
    assert len(set(docs[:300])) == 1 and len(set(docs)) == 6


def test_the_warn_message_names_the_override_that_asked_for_it(tmp_path):
    """What the warning says was set is a key of the config: composing it gives mode warn (it
    said probe.duplicates=warn, which Hydra refuses: 'Could not override')."""
    import re

    from probing.config import validate_config
    from tests.conftest import compose_cfg

    _, report = merge_duplicate_documents([PROSE[0], PROSE[0]], np.array([3, 4]), mode="warn")
    override = re.search(r"\((\S+=warn)\)", report.describe("x"))
    assert override, report.describe("x")
    cfg = compose_cfg(tmp_path, ["model=tiny-pythia", override[1]])
    assert validate_config(cfg).duplicates.mode == "warn"
