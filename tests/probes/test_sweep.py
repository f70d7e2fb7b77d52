import numpy as np
import pytest

from probing.probes import paper_k_list, sweep_k
from probing.probes.metrics import METRIC_NAMES
from probing.probes.tasks import THREADED_RANK_TASKS


def test_paper_k_list():
    assert paper_k_list(2048) == [*range(1, 9), 10, 12, 16, 32, 64, 128, 256, 512, 1024, 2048]
    assert paper_k_list(3072)[-3:] == [1024, 2048, 3072]
    assert paper_k_list(16) == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16]
    assert paper_k_list(9) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert paper_k_list(1) == [1]
    with pytest.raises(ValueError):
        paper_k_list(0)


def test_rows_carry_support_coef_and_test_metrics(planted):
    X, y, neuron = planted
    rows = sweep_k(X[:800], y[:800], X[800:], y[800:], ks=[1, 4], backend="torch")
    assert [r["k"] for r in rows] == [1, 4]
    for r in rows:
        assert len(r["support"]) == len(r["coef"]) == r["k"]
        assert r["support"][0] == neuron
        assert set(METRIC_NAMES) <= set(r) and isinstance(r["intercept"], float)
        assert r["f1"] > 0.95 and r["train_f1"] > 0.95 and r["fit_seconds"] >= 0
        assert r["backend"] == "torch"


def test_metrics_are_on_the_test_split(planted):
    X, y, _ = planted
    flipped = 1 - y[800:]
    (row,) = sweep_k(X[:800], y[:800], X[800:], flipped, ks=[1])
    assert row["f1"] < 0.1 and row["train_f1"] > 0.95


def test_sparse_combination_recovered_at_k3(combination):
    X, y, planted = combination
    rows = sweep_k(X[:1500], y[:1500], X[1500:], y[1500:], ks=[1, 3], backend="torch")
    assert set(rows[1]["support"]) == set(planted.tolist())
    assert rows[1]["f1"] > rows[0]["f1"] + 0.1  # one neuron is not enough; three are
    assert rows[1]["f1"] > 0.9


def test_random_ranking_is_worse_than_mean_diff(combination):
    X, y, _ = combination
    args = (X[:1500], y[:1500], X[1500:], y[1500:])
    informed = sweep_k(*args, ks=[3], method="mean_diff")[0]["f1"]
    chance = sweep_k(*args, ks=[3], method="random")[0]["f1"]
    assert informed > chance + 0.2


def test_single_class_test_split_gives_nan_auc(planted):
    X, y, _ = planted
    ones = np.flatnonzero(y == 1)[:50]
    (row,) = sweep_k(X[:800], y[:800], X[ones], y[ones], ks=[1])
    assert np.isnan(row["roc_auc"]) and row["recall"] > 0.9


def test_validation_f1_and_a_document_bootstrap_interval_per_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 12))
    y = (X[:, 3] + 0.7 * rng.normal(size=900) > 0).astype(int)
    docs = np.arange(900) // 6
    tr, va, te = slice(0, 500), slice(500, 700), slice(700, 900)
    rows = sweep_k(
        X[tr],
        y[tr],
        X[te],
        y[te],
        [1, 12],
        backend="sklearn",
        X_val=X[va],
        y_val=y[va],
        test_groups=docs[te],
    )
    for r in rows:
        assert 0 < r["val_f1"] <= 1
        assert r["f1_ci_low"] <= r["f1"] <= r["f1_ci_high"]
        assert 0.02 < r["f1_ci_high"] - r["f1_ci_low"] < 0.3


def test_the_interval_resamples_documents_not_examples():
    """When a probe errs on whole documents, examples are not independent: resampling documents
    must give a wider interval than resampling examples."""
    from probing.probes.metrics import bootstrap_weights, f1_interval

    rng = np.random.default_rng(1)
    docs = np.arange(400) // 20
    y = rng.integers(0, 2, 400)
    wrong_doc = rng.random(docs.max() + 1) < 0.2
    pred = np.where(wrong_doc[docs], 1 - y, y)
    by_doc = f1_interval(y, pred, bootstrap_weights(docs, 1000, 0))
    by_example = f1_interval(y, pred, bootstrap_weights(np.arange(400), 1000, 0))
    assert by_doc[1] - by_doc[0] > 1.5 * (by_example[1] - by_example[0])


@pytest.mark.parametrize(("n_tasks", "threaded"), [(1, False), (THREADED_RANK_TASKS, True)])
def test_a_few_tasks_are_ranked_on_one_blas_thread(monkeypatch, n_tasks, threaded):
    """A ranking of a few tasks is a pass bound by reading the layer: on one BLAS thread, not
    left waiting on a second thread of a busy machine (tasks.THREADED_RANK_TASKS)."""
    from threadpoolctl import threadpool_info

    from probing.probes import tasks

    seen = []
    rank = tasks.rank_tasks

    def spy(chunk, *args, **kwargs):
        seen.append(
            max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        )
        return rank(chunk, *args, **kwargs)

    monkeypatch.setattr(tasks, "rank_tasks", spy)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 30)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    task = tasks.FeatureTask(
        tasks.Rows(X, np.arange(150)), y[:150], tasks.Rows(X, np.arange(150, 200)), y[150:]
    )
    list(tasks.sweep_tasks([task] * n_tasks, [1, 4], "mean_diff", "torch", 1.0, 0))
    blas_threads = max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
    assert seen == [blas_threads if threaded else 1]
