import numpy as np
import pytest

from probing.probes import rank_neurons


def test_mean_diff_puts_planted_neuron_first(planted):
    X, y, neuron = planted
    order = rank_neurons(X, y, "mean_diff")
    assert order[0] == neuron


def test_mean_diff_finds_sparse_combination(combination):
    X, y, planted = combination
    assert set(rank_neurons(X, y, "mean_diff")[:3]) == set(planted)


@pytest.mark.parametrize("method", ["mean_diff", "random"])
def test_ranking_is_a_permutation(planted, method):
    X, y, _ = planted
    order = rank_neurons(X, y, method)
    assert order.dtype == np.int64
    assert np.array_equal(np.sort(order), np.arange(X.shape[1]))


def test_random_ranking_is_seeded(planted):
    X, y, _ = planted
    assert np.array_equal(
        rank_neurons(X, y, "random", seed=3), rank_neurons(X, y, "random", seed=3)
    )
    assert not np.array_equal(
        rank_neurons(X, y, "random", seed=3), rank_neurons(X, y, "random", seed=4)
    )


def test_mean_diff_is_absolute_difference_of_class_means():
    X = np.array([[0.0, 5.0, 1.0], [0.0, 5.0, 3.0], [10.0, 4.0, 1.0], [10.0, 4.0, 3.0]], np.float32)
    y = np.array([0, 0, 1, 1])
    assert rank_neurons(X, y, "mean_diff").tolist() == [0, 1, 2]


def test_unknown_method_names_the_choices(planted):
    X, y, _ = planted
    with pytest.raises(ValueError, match="unknown ranking method 'nope'.*mean_diff"):
        rank_neurons(X, y, "nope")


def test_mean_differences_equal_float64_class_means_and_see_every_non_finite_value():
    from probing.probes.ranking import checked_weighted_sums, class_weights, weighted_sums

    def mean_differences(X, Y):
        return weighted_sums(X, class_weights(Y))

    rng = np.random.default_rng(0)
    X = (rng.lognormal(size=(2500, 40)) * rng.uniform(0.1, 10, 40)).astype(np.float32)
    y = (rng.random(2500) < 0.2).astype(int)
    exact = X[y == 1].mean(0, dtype=np.float64) - X[y == 0].mean(0, dtype=np.float64)
    np.testing.assert_allclose(mean_differences(X, y), exact, rtol=1e-5, atol=1e-6)
    Y = np.stack([y, 1 - y])
    np.testing.assert_allclose(mean_differences(X, Y), [exact, -exact], rtol=1e-5, atol=1e-6)
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[rng.integers(2500), rng.integers(40)] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            checked_weighted_sums(Xb, class_weights(y))
        # a row outside the training split (weight 0) is seen too: 0 * inf is NaN
        w = np.where(np.arange(2500) % 2 == 0, class_weights(y), 0.0)
        Xb[1] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            checked_weighted_sums(Xb, w)


@pytest.mark.parametrize("seed", range(6))
def test_the_top_of_a_ranking_is_the_full_orders_first_neurons(seed):
    """order_by_score's first `width` (a partition, not a sort of every neuron) keep its order and
    its tie-breaking by neuron index, with ties across the cut, NaN and infinities."""
    from probing.probes.ranking import order_by_score

    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 300))
    score = rng.integers(-3, 4, d).astype(float)  # many ties
    score[rng.random(d) < 0.1] = np.nan
    score[rng.random(d) < 0.05] = np.inf
    score[rng.random(d) < 0.05] = -np.inf
    full = order_by_score(score)
    for width in {1, 2, 3, d // 3 + 1, d - 1, d, d + 5}:
        if width >= 1:
            assert np.array_equal(order_by_score(score, width), full[:width]), width
