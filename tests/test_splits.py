import numpy as np
import pytest

from probing.splits import SplitError, group_split


def test_groups_never_straddle_the_split_and_both_sides_have_both_classes():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(60), 5)
    y = (groups % 3 == 0).astype(int)
    train, test = group_split(y, groups, 0.2, seed=1)
    assert not set(groups[train]) & set(groups[test])
    assert set(y[train]) == set(y[test]) == {0, 1}
    assert 0.1 < len(test) / len(y) < 0.3
    assert len(train) + len(test) == len(y)
    again = group_split(y, groups, 0.2, seed=1)
    assert np.array_equal(again[1], test)  # seeded
    other = group_split(y, groups, 0.2, seed=2)
    assert not np.array_equal(other[1], test)
    del rng


def test_one_class_is_refused():
    with pytest.raises(SplitError, match="each class"):
        group_split(np.zeros(20, int), np.arange(20))


def test_documents_are_held_out_even_when_a_class_has_few_of_them():
    """With fewer documents per class than folds the split used to fall back, silently, to
    splitting examples: test windows then came from training documents."""
    y = np.array([1] * 30 + [0] * 170)
    groups = np.concatenate([np.repeat([0, 1, 2], 10), 3 + np.arange(170) // 10])
    train, test = group_split(y, groups, 0.2, seed=0)
    assert not set(groups[train]) & set(groups[test])
    assert set(y[test]) == {0, 1} and set(y[train]) == {0, 1}


def test_a_class_from_one_document_cannot_be_held_out():
    y = np.array([1] * 30 + [0] * 70)
    groups = np.concatenate([np.zeros(30, int), 1 + np.arange(70) // 7])
    with pytest.raises(SplitError, match="labelled 1 come from 1 document"):
        group_split(y, groups, 0.2)


def test_train_val_test_hold_out_documents_three_ways():
    from probing.splits import split_by_document

    groups = np.repeat(np.arange(100), 4)
    y = (groups % 3 == 0).astype(int)
    train, val, test = split_by_document(y, groups, 0.2, 0.2, seed=0)
    sides = [set(groups[i]) for i in (train, val, test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(train) + len(val) + len(test) == len(y)
    for idx in (train, val, test):
        assert set(y[idx]) == {0, 1}
    assert 0.1 < len(val) / len(y) < 0.3 and 0.1 < len(test) / len(y) < 0.3
    _, no_val, _ = split_by_document(y, groups, 0.2, 0.0)
    assert len(no_val) == 0
    with pytest.raises(SplitError, match="val_fraction"):
        split_by_document(y, groups, 0.5, 0.6)


@pytest.mark.parametrize("n_docs", [2, 4])
def test_fewer_documents_than_folds_is_a_split_error_not_a_library_error(n_docs):
    # every document holds both classes, so each class comes from n_docs >= 2 documents, but
    # test_fraction 0.2 asks for 5 folds: one a document at least
    y = np.tile([0, 1], 15 * n_docs)
    groups = np.repeat(np.arange(n_docs), 30)
    with pytest.raises(SplitError, match=f"{n_docs} documents"):
        group_split(y, groups, test_fraction=0.2)
