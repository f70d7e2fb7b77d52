"""The permutation null, chance and random-support refits beside each probe."""

import numpy as np
import pytest
from scipy import stats

from probing.permutation_test import p_value
from probing.probes import probe_layer, sweep_k
from probing.probes.baselines import Baselines, chance_f1, permute_by_document
from probing.splits import split_by_document


@pytest.fixture(scope="module")
def layer():
    """Feature "a" is neuron 3 alone (plus noise); "b" needs neurons 10 and 11."""
    rng = np.random.default_rng(7)
    n, d = 1000, 120
    H = rng.standard_normal((n, d))
    X = np.log1p(np.exp(H)).astype(np.float32)
    groups = np.arange(n) // 4
    labels = {
        "a": (H[:, 3] + 0.3 * rng.standard_normal(n) > 0).astype(np.int64),
        "b": (H[:, 10] - H[:, 11] + 0.5 * rng.standard_normal(n) > 0.8).astype(np.int64),
    }
    splits = {
        f: split_by_document(y, groups, 0.2, 0.2, seed=i) for i, (f, y) in enumerate(labels.items())
    }
    return X, labels, splits


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_a_dedicated_neuron_stands_above_the_null_and_random_neurons(layer, backend):
    X, labels, splits = layer
    base = Baselines(ks=(1,), permutations=20, random_supports=12)
    rows = probe_layer(X, labels, splits, [1, 4], backend=backend, baselines=base)
    k1 = rows["a"][0]
    assert k1["support"] == [3] and k1["f1"] > 0.85
    assert len(k1["null_f1"]) == 20 and len(k1["random_f1"]) == 12
    # each refit's val F1 too, so a summary can rerun the choice of layer on the permutations
    assert len(k1["null_val_f1"]) == 20 and max(k1["null_val_f1"]) < 0.65
    assert k1["null_val_f1"] != k1["null_f1"]
    assert len(k1["random_support"]) == 12 and all(len(s) == 1 for s in k1["random_support"])
    # noise labels: the pipeline finds nothing (F1 of a coin flip on a balanced split ~ 0.5)
    assert max(k1["null_f1"]) < 0.65
    assert k1["p_value"] == pytest.approx(1 / 21)  # no null refit reaches the real probe
    assert k1["chance_f1"] == pytest.approx(chance_f1(labels["a"][splits["a"][2]]))
    # a random neuron is not neuron 3 (almost surely), and carries little of the feature
    draws = [s[0] for s in k1["random_support"]]
    assert np.median([f for s, f in zip(draws, k1["random_f1"], strict=True) if s != 3]) < 0.65
    assert "null_f1" not in rows["a"][1] and "p_value" not in rows["a"][1]  # k=4 not asked for


def planted_detector(seed: int, n_docs: int = 150, per_doc: int = 4, d: int = 64):
    """Neuron 5 fires far above every other neuron (raw units) on the positives and is ~0
    elsewhere; labels are per document. Under noise labels the mean-difference ranking still
    picks neuron 5 (its scale dominates), the case that fooled the train-only shuffle."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_docs), per_doc)
    y = (rng.random(n_docs) < 0.25).astype(np.int64)[groups]
    X = np.log1p(np.exp(rng.standard_normal((len(y), d)))).astype(np.float32)
    X[:, 5] = np.where(y == 1, rng.lognormal(2.5, 0.4, len(y)), 0.1 * rng.random(len(y)))
    return X, y, groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_null_does_not_call_a_near_perfect_detector_chance(seed):
    """The done-when of the null: at most 10% of null refits within 0.05 F1 of the real probe.
    The train-only shuffle it replaces came within 0.05 about half of the time on this data."""
    X, y, groups = planted_detector(seed)
    splits = {"f": split_by_document(y, groups, 0.2, 0.2, 0)}
    base = Baselines(permutations=100, random_supports=0)
    row = probe_layer(X, {"f": y}, splits, [1], groups=groups, baselines=base)["f"][0]
    assert row["support"] == [5] and row["f1"] > 0.95
    null = np.array(row["null_f1"])
    assert np.mean(null >= row["f1"] - 0.05) <= 0.10
    assert row["p_value"] < 0.01
    # the old yardstick on the same data: training labels shuffled, true test labels
    train, _, test = splits["f"]
    old = [
        sweep_k(X[train], np.random.default_rng(i).permutation(y[train]), X[test], y[test], [1])
        for i in range(20)
    ]
    assert np.mean([rows[0]["f1"] >= row["f1"] - 0.05 for rows in old]) > 0.2


def clustered_noise(n_docs=80, per_doc=5, d=16, n_features=200, seed=1):
    """Activations clustered by document (a document effect + noise) and labels that are
    per-document coin flips: no feature has any signal."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_docs), per_doc)
    X = rng.standard_normal((n_docs, d))[groups] + rng.standard_normal((len(groups), d))
    labels, splits = {}, {}
    for i in range(n_features):
        y = (rng.random(n_docs) < 0.4).astype(np.int64)[groups]
        labels[f"f{i}"], splits[f"f{i}"] = y, split_by_document(y, groups, 0.25, 0.0, i)
    return X.astype(np.float32), labels, splits, groups


@pytest.mark.slow
def test_p_values_are_uniform_without_signal_and_per_example_shuffles_are_not():
    """200 features of pure noise: the document-level null gives uniform p-values (KS); a
    per-example permutation, which ignores that a document's examples are alike, gives too many
    small ones (anti-conservative). Seeded, so the same on every machine."""
    X, labels, splits, groups = clustered_noise()
    base = Baselines(permutations=99, random_supports=0)
    by_doc = probe_layer(X, labels, splits, [1], groups=groups, baselines=base)
    p = np.array([rows[0]["p_value"] for rows in by_doc.values()])
    assert stats.kstest(p, "uniform").pvalue > 0.05
    assert 0.01 <= np.mean(p <= 0.05) <= 0.10
    by_example = probe_layer(X, labels, splits, [1], groups=None, baselines=base)
    p = np.array([rows[0]["p_value"] for rows in by_example.values()])
    assert stats.kstest(p, "uniform").pvalue < 0.01


def rotations(labels) -> set[tuple]:
    return {tuple(np.roll(labels, r)) for r in range(len(labels))}


def test_permuting_by_document_keeps_each_part_counts_and_document_runs():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 3)
    y = np.repeat(rng.integers(0, 2, 12), 3)
    y[:3] = [1, 1, 0]  # a document with mixed labels moves as one run, rotated
    parts = (np.arange(0, 18), np.arange(18, 27), np.arange(27, 36))
    seen = set()
    for r in range(20):
        out = permute_by_document(y, groups, parts, np.random.default_rng(r))
        for part in parts:
            assert out[part].sum() == y[part].sum()
            docs = [y[part][i : i + 3] for i in range(0, len(part), 3)]
            allowed = set().union(*(rotations(d) for d in docs))
            assert {tuple(out[part][i : i + 3]) for i in range(0, len(part), 3)} <= allowed
        seen.add(tuple(out))
    assert len(seen) > 10  # really permuted
    # examples of a document need not be adjacent, and parts need not be contiguous
    order = rng.permutation(36)
    out = permute_by_document(y[order], groups[order], (np.arange(36),), np.random.default_rng(0))
    for g in range(12):
        assert sorted(out[groups[order] == g]) in [sorted(y[groups == h]) for h in range(12)]


def test_a_document_level_label_moves_whole_among_documents_of_like_length():
    """One label per document, documents of 1-9 examples: each document takes another's label
    whole (never half of one and half of another), only from a document of its length class
    (1, 2-3, 4-7, 8-9), and each part keeps its number of positive documents."""
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 10, 60)
    groups = np.repeat(np.arange(60), lengths)
    y = np.repeat(rng.integers(0, 2, 60), lengths)
    doc_of_part = {0: np.arange(0, 40), 1: np.arange(40, 60)}
    parts = tuple(np.flatnonzero(np.isin(groups, docs)) for docs in doc_of_part.values())
    classes = np.floor(np.log2(lengths)).astype(int)
    moved = 0
    for r in range(30):
        out = permute_by_document(y, groups, parts, np.random.default_rng(r))
        labels = np.array([out[groups == g][0] for g in range(60)])
        assert all((out[groups == g] == labels[g]).all() for g in range(60))  # whole documents
        for docs in doc_of_part.values():
            for c in np.unique(classes[docs]):
                same = docs[classes[docs] == c]
                assert labels[same].sum() == y[np.searchsorted(groups, same)].sum()
        moved += int((labels != y[np.searchsorted(groups, np.arange(60))]).sum())
    assert moved > 200  # really permuted (about half of 60 documents a draw)


def test_documents_with_the_same_label_pattern_are_still_permuted():
    """Every document labelled 1, 0, 1, 0 (a token-level feature): swapping whole documents
    would change nothing; the rotation breaks the alignment of labels with positions."""
    groups = np.repeat(np.arange(40), 4)
    y = np.tile([1, 0, 1, 0], 40)
    out = [
        permute_by_document(y, groups, (np.arange(160),), np.random.default_rng(r))
        for r in range(10)
    ]
    agreement = [np.mean(o == y) for o in out]
    assert max(agreement) < 0.8 and np.mean(agreement) == pytest.approx(0.5, abs=0.15)


def test_p_value_counts_the_real_labels_as_one_draw():
    assert p_value(0.9, [0.1, 0.5, 0.9, 0.95]) == pytest.approx(3 / 5)
    assert p_value(0.9, [0.1] * 99) == pytest.approx(1 / 100)
    assert np.isnan(p_value(0.9, []))


def test_random_support_scores_are_those_of_a_probe_on_those_neurons(layer):
    """Each random draw is a real fit: the same F1 as sweep_k on exactly those columns."""
    X, labels, splits = layer
    rows = probe_layer(
        X, labels, splits, [2], backend="sklearn",
        baselines=Baselines(ks=(2,), permutations=0, random_supports=3),
    )  # fmt: skip
    train, _, test = splits["b"]
    y = labels["b"]
    for support, score in zip(
        rows["b"][0]["random_support"], rows["b"][0]["random_f1"], strict=True
    ):
        alone = sweep_k(
            X[train][:, support], y[train], X[test][:, support], y[test], [2], backend="sklearn"
        )
        assert score == pytest.approx(alone[0]["f1"], abs=1e-6)


def test_draws_do_not_depend_on_the_other_features_of_the_layer(layer):
    X, labels, splits = layer
    base = Baselines(ks=(1,), permutations=4, random_supports=5)
    both = probe_layer(X, labels, splits, [1], backend="torch", baselines=base)
    alone = probe_layer(X, labels, {"b": splits["b"]}, [1], backend="torch", baselines=base)
    assert both["b"][0]["random_support"] == alone["b"][0]["random_support"]
    for key in ("null_f1", "random_f1"):
        assert both["b"][0][key] == pytest.approx(alone["b"][0][key], abs=1e-5)
    other_seed = probe_layer(X, labels, {"b": splits["b"]}, [1], seed=1, baselines=base)
    assert other_seed["b"][0]["random_support"] != alone["b"][0]["random_support"]


def test_no_baselines_adds_no_fields_and_negative_counts_are_refused(layer):
    X, labels, splits = layer
    rows = probe_layer(
        X, labels, splits, [1], baselines=Baselines(permutations=0, random_supports=0)
    )
    assert not {"null_f1", "p_value", "random_f1"} & set(rows["a"][0])
    with pytest.raises(ValueError, match="permutations"):
        Baselines(permutations=-1)


def token_level_noise(n_docs=60, per_doc=10, d=12, n_features=200, seed=3):
    """Activations that drift along each document (AR(1) plus a document effect) and labels in
    runs along each document (a two-state chain), drawn independently: no signal, but both sides
    are autocorrelated, as token-level features are."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_docs), per_doc)
    X = np.empty((n_docs * per_doc, d))
    for g in range(n_docs):
        noise = rng.standard_normal((per_doc, d))
        drift = noise.copy()
        for t in range(1, per_doc):
            drift[t] = 0.8 * drift[t - 1] + 0.6 * noise[t]
        X[g * per_doc : (g + 1) * per_doc] = drift + rng.standard_normal(d)
    labels, splits = {}, {}
    for i in range(n_features):
        state = rng.random(n_docs) < 0.3
        flips = rng.random((n_docs, per_doc)) < 0.25
        y = (np.cumsum(flips, axis=1) % 2 != state[:, None]).astype(np.int64).ravel()
        labels[f"f{i}"], splits[f"f{i}"] = y, split_by_document(y, groups, 0.25, 0.0, i)
    return X.astype(np.float32), labels, splits, groups


def unequal_documents_p_values(label_odds) -> np.ndarray:
    """p-values of 600 pure-noise features (2 seeds x 300) on 120 documents of 1-9 examples
    with one label each, positive with probability label_odds(lengths)."""
    p = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        lengths = rng.integers(1, 10, 120)
        groups = np.repeat(np.arange(120), lengths)
        X = 2 * rng.standard_normal((120, 16))[groups] + rng.standard_normal((len(groups), 16))
        labels, splits = {}, {}
        for i in range(300):
            y = (rng.random(120) < label_odds(lengths)).astype(np.int64)[groups]
            labels[f"f{i}"], splits[f"f{i}"] = y, split_by_document(y, groups, 0.25, 0.0, i)
        base = Baselines(permutations=99, random_supports=0)
        rows = probe_layer(X.astype(np.float32), labels, splits, [1], groups=groups, baselines=base)
        p += [feature_rows[0]["p_value"] for feature_rows in rows.values()]
    return np.array(p)


@pytest.mark.slow
def test_p_values_are_uniform_for_document_labels_on_documents_of_unequal_length():
    """Documents of 1-9 examples, one coin-flip label each, no signal. Laying the permuted
    documents' labels over the examples in order (the token-level scheme) splits a document's
    label over two documents, which real labels never do: it gave p <= 0.05 for 9-11% of 300
    features; permuting the documents' labels gives the nominal 5%."""
    p = unequal_documents_p_values(lambda lengths: 0.3)
    assert stats.kstest(p, "uniform").pvalue > 0.05
    assert np.mean(p <= 0.05) <= 0.08


@pytest.mark.slow
def test_a_label_that_goes_with_document_length_keeps_its_level():
    """Long documents positive more often (60% vs 10%), activations unrelated to either: labels
    permuted across lengths would lose positive examples and lower the null's F1 (p <= 0.05 for
    14% of the features); permuted within length classes, 6%."""
    p = unequal_documents_p_values(lambda lengths: np.where(lengths > 4, 0.6, 0.1))
    assert np.mean(p <= 0.05) <= 0.09


@pytest.mark.slow
def test_p_values_are_uniform_without_signal_on_token_level_labels():
    X, labels, splits, groups = token_level_noise()
    base = Baselines(permutations=99, random_supports=0)
    rows = probe_layer(X, labels, splits, [1], groups=groups, baselines=base)
    p = np.array([feature_rows[0]["p_value"] for feature_rows in rows.values()])
    assert stats.kstest(p, "uniform").pvalue > 0.05
    assert np.mean(p <= 0.05) <= 0.10


def test_refits_sharing_activations_rank_as_rank_neurons_does():
    """The null's refits of a feature share X_train and are ranked in one product, and so are
    tasks on rows of one layer (other splits, other features): the same order as one
    rank_neurons call on each task's copied training rows (continuous data: no ties)."""
    from probing.probes.ranking import rank_neurons
    from probing.probes.tasks import FeatureTask, Rows, rank_tasks

    rng = np.random.default_rng(5)
    X = rng.lognormal(size=(300, 50)).astype(np.float32)
    labels = [rng.permutation(np.repeat([0, 1], [200, 100])) for _ in range(12)]
    shared, held_out = Rows(X), Rows(X[:10])
    chunk = [FeatureTask(shared, y, held_out, y[:10]) for y in labels]
    chunk.append(FeatureTask(Rows(X.copy()), labels[0], held_out, labels[0][:10]))  # alone
    layer = rng.lognormal(size=(500, 50)).astype(np.float32)
    for _ in range(3):
        train = rng.choice(500, 300, replace=False)
        test = np.setdiff1d(np.arange(500), train)[:20]
        y = rng.permutation(np.repeat([0, 1], [250, 50]))
        chunk.append(FeatureTask(Rows(layer, train), y, Rows(layer, test), np.zeros(20, int)))
    orders, seconds = rank_tasks(chunk, "mean_diff", 0)
    for task, order in zip(chunk, orders, strict=True):
        assert np.array_equal(order, rank_neurons(task.X_train.array(), task.y_train))
    assert len(seconds) == 16 and min(seconds) >= 0


def test_a_ranking_cut_to_its_first_neurons_is_the_full_rankings_top():
    """rank_tasks(width=w) gives each task's first w neurons of the full ranking, ties (integer
    activations) broken the same way."""
    from probing.probes.tasks import FeatureTask, Rows, rank_tasks

    rng = np.random.default_rng(8)
    X = rng.integers(0, 3, size=(200, 64)).astype(np.float32)
    chunk = [
        FeatureTask(Rows(X), rng.permutation(np.repeat([0, 1], [150, 50])), Rows(X[:5]), None)
        for _ in range(6)
    ]
    full, _ = rank_tasks(chunk, "mean_diff", 0)
    for width in (1, 3, 64):
        cut, _ = rank_tasks(chunk, "mean_diff", 0, width=width)
        for a, b in zip(cut, full, strict=True):
            assert np.array_equal(a, b[:width])


def test_refits_scored_by_f1_alone_have_the_f1_of_fully_scored_ones():
    """The null's and random supports' refits only need test F1 (and the null's val F1): scored
    alone they are the numbers the full row holds."""
    from probing.probes.tasks import FeatureTask, Rows, sweep_tasks

    rng = np.random.default_rng(9)
    X = rng.lognormal(size=(400, 30)).astype(np.float32)
    tasks = []
    train, val, test = np.arange(250), np.arange(250, 300), np.arange(300, 400)
    for i in range(6):
        y = rng.permutation(np.repeat([0, 1], [300, 100]))
        with_val = (Rows(X, val), y[val]) if i % 2 else (None, None)
        tasks.append(FeatureTask(Rows(X, train), y[train], Rows(X, test), y[test], *with_val))
    full = list(sweep_tasks(tasks, [1, 2], "mean_diff", "torch", 1.0, 0))
    alone = list(sweep_tasks(tasks, [1, 2], "mean_diff", "torch", 1.0, 0, f1_only=True))
    for i, (rows, f1_rows) in enumerate(zip(full, alone, strict=True)):
        assert [r["f1"] for r in rows] == [r["f1"] for r in f1_rows]
        if i % 2:
            assert [r["val_f1"] for r in rows] == [r["val_f1"] for r in f1_rows]
        assert all(set(r) == ({"k", "f1", "val_f1"} if i % 2 else {"k", "f1"}) for r in f1_rows)
    assert any(0 < r["f1"] < 1 for rows in full for r in rows)
