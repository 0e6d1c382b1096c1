"""ApproximateKNeighborsTransformer: exact fallback, faiss HNSW search, scikit-learn pipelines."""

import pickle
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_siamese.neighbors import ApproximateKNeighborsTransformer


@pytest.fixture(scope="module")
def clustered():
    """Rows around 20 centres, as embeddings of 20 classes are: references and queries."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    X = centres[rng.integers(20, size=3000)] + 0.3 * rng.normal(size=(3000, 16))
    return X[:2500].astype(np.float32), X[2500:].astype(np.float32)


@pytest.mark.parametrize("mode", ["distance", "connectivity"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_exact_index_gives_kneighbors_transformer_graph(clustered, mode, metric):
    X, Q = clustered
    ours = ApproximateKNeighborsTransformer(4, mode=mode, metric=metric, index="exact").fit(X).transform(Q)
    theirs = KNeighborsTransformer(n_neighbors=4, mode=mode, metric=metric, algorithm="brute").fit(X).transform(Q)
    assert ours.shape == theirs.shape == (len(Q), len(X))
    assert ours.nnz == len(Q) * (5 if mode == "distance" else 4)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_hnsw_recall_and_distances(clustered, metric):
    pytest.importorskip("faiss")
    X, Q = clustered
    hnsw = ApproximateKNeighborsTransformer(10, metric=metric, index="hnsw").fit(X)
    assert hnsw.index_type_ == "hnsw"
    dist, ind = hnsw.kneighbors(Q)
    exact_dist, exact_ind = ApproximateKNeighborsTransformer(10, metric=metric, index="exact").fit(X).kneighbors(Q)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ind, exact_ind)])
    assert recall > 0.95
    assert np.all(np.diff(dist, axis=1) >= -1e-6)  # nearest first
    # The distances reported are the true distances of the neighbours returned.
    if metric == "euclidean":
        true = np.linalg.norm(Q[:, None, :] - X[ind], axis=2)
    else:
        unit = lambda A: A / np.linalg.norm(A, axis=-1, keepdims=True)  # noqa: E731
        true = 1 - np.einsum("qd,qkd->qk", unit(Q), unit(X[ind]))
    np.testing.assert_allclose(dist, true, atol=1e-4)
    assert dist[:, 0] == pytest.approx(exact_dist[:, 0], abs=1e-4)


def test_auto_uses_faiss_when_installed_and_exact_without(clustered, monkeypatch):
    X, Q = clustered
    expected = "hnsw" if "faiss" in sys.modules or _importable("faiss") else "exact"
    assert ApproximateKNeighborsTransformer(index="auto").fit(X).index_type_ == expected
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now fails
    auto = ApproximateKNeighborsTransformer(index="auto").fit(X)
    assert auto.index_type_ == "exact"
    assert auto.transform(Q).shape == (len(Q), len(X))
    with pytest.raises(ImportError, match=r"sklearn-siamese\[faiss\]"):
        ApproximateKNeighborsTransformer(index="hnsw").fit(X)


def _importable(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_pipeline_with_precomputed_classifier_matches_exact_search():
    X, y = load_digits(return_X_y=True)
    scores = {}
    for index in ["auto", "exact"]:
        model = make_pipeline(
            ApproximateKNeighborsTransformer(n_neighbors=5, index=index), KNeighborsClassifier(5, metric="precomputed")
        )
        scores[index] = model.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:])
    exact = KNeighborsClassifier(5).fit(X[:1000], y[:1000]).score(X[1000:], y[1000:])
    assert scores["exact"] == pytest.approx(exact)
    assert scores["auto"] >= exact - 0.01


@pytest.mark.parametrize("index", ["auto", "exact"])
def test_pickle_round_trip_searches_alike(clustered, index):
    X, Q = clustered
    model = ApproximateKNeighborsTransformer(7, index=index).fit(X)
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(copy.kneighbors(Q)[1], model.kneighbors(Q)[1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"mode": "weights"}, "mode"),
        ({"metric": "manhattan"}, "metric"),
        ({"index": "ivf"}, "index"),
        ({"ef_search": 0}, "ef_search"),
    ],
)
def test_bad_parameters_name_themselves(clustered, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        ApproximateKNeighborsTransformer(**params).fit(clustered[0])


def test_more_neighbours_than_references_is_an_error():
    X = np.random.default_rng(0).normal(size=(6, 3))
    model = ApproximateKNeighborsTransformer(n_neighbors=6, index="exact").fit(X)
    with pytest.raises(ValueError, match="n_neighbors=7 must be <= the 6 references"):
        model.transform(X)  # mode="distance" asks for one more
    with pytest.raises(ValueError, match="positive integer"):
        model.kneighbors(X, n_neighbors=0)
