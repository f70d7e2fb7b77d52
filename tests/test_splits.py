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
