"""ApproximateKNeighborsTransformer: exact fallback, faiss HNSW search, scikit-learn pipelines; calibrate_radius."""

import pickle
import sys
import warnings

import numpy as np
import pytest
from _far import conformal_accepted, conformal_far, far_tolerance, split_mean_tolerance
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import KNeighborsClassifier, KNeighborsTransformer, RadiusNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese.neighbors import ApproximateKNeighborsTransformer, calibrate_radius


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


@pytest.mark.parametrize("index", ["hnsw", "exact"])
def test_skops_round_trip_searches_alike(clustered, index):
    if index == "hnsw":
        pytest.importorskip("faiss")
    sio = pytest.importorskip("skops.io")
    from sklearn_siamese.persistence import TRUSTED_TYPES

    X, Q = clustered
    model = ApproximateKNeighborsTransformer(7, index=index, metric="cosine").fit(X)
    data = sio.dumps(model)
    assert sio.get_untrusted_types(data=data) == ["sklearn_siamese.neighbors.ApproximateKNeighborsTransformer"]
    copy = sio.loads(data, trusted=TRUSTED_TYPES)
    np.testing.assert_array_equal(copy.kneighbors(Q)[1], model.kneighbors(Q)[1])
    np.testing.assert_array_equal(copy.transform(Q).toarray(), model.transform(Q).toarray())


def test_loading_does_not_add_the_references_again(clustered, monkeypatch):
    faiss = pytest.importorskip("faiss")
    X, Q = clustered
    model = ApproximateKNeighborsTransformer(7, index="hnsw").fit(X)
    blob = pickle.dumps(model)

    def add(self, x):
        raise AssertionError("loading added references to the index")

    monkeypatch.setattr(faiss.IndexHNSWFlat, "add", add)
    with pytest.raises(AssertionError, match="added references"):  # the patch is in force
        ApproximateKNeighborsTransformer(7, index="hnsw").fit(X[:100])
    copy = pickle.loads(blob)
    assert copy.index_.ntotal == len(X)
    np.testing.assert_array_equal(copy.kneighbors(Q)[1], model.kneighbors(Q)[1])


@pytest.fixture(scope="module")
def hnsw_state(clustered):
    pytest.importorskip("faiss")
    return ApproximateKNeighborsTransformer(7, index="hnsw").fit(clustered[0]).__getstate__()


def _load_state(state):
    model = ApproximateKNeighborsTransformer.__new__(ApproximateKNeighborsTransformer)
    model.__setstate__(state)
    return model


def test_truncated_index_is_refused(hnsw_state):
    damaged = {**hnsw_state, "index_": hnsw_state["index_"][: len(hnsw_state["index_"]) // 2]}
    with pytest.raises(ValueError, match="faiss index of this saved ApproximateKNeighborsTransformer could not be read"):
        _load_state(damaged)
    with pytest.raises(ValueError, match="holds a str where its serialised faiss index should be"):
        _load_state({**hnsw_state, "index_": "not an index"})


def test_index_not_matching_the_attributes_is_refused(hnsw_state):
    other = ApproximateKNeighborsTransformer(3, index="hnsw").fit(np.random.rand(10, 4))
    with pytest.raises(ValueError, match=r"4 dimensions, 10 vectors.* does not match its attributes .*16 dimensions, 2500"):
        _load_state({**hnsw_state, "index_": other.__getstate__()["index_"]})


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


# ------------------------------------------------------- calibrate_radius
@pytest.fixture(scope="module")
def open_set_digits():
    """Enrolled digits 0-4 (every other sample; the rest are known probes), strangers 5-9 in two random halves."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    known = np.flatnonzero(y < 5)
    half = np.random.RandomState(0).rand(len(y)) < 0.5
    return (X[known[::2]], y[known[::2]]), (X[known[1::2]], y[known[1::2]]), (y >= 5) & half, (y >= 5) & ~half, (X, y)


def _predict(model, X):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Outlier label -1 is not in training classes", UserWarning)
        return model.predict(X)


@pytest.mark.parametrize("far", [0.02, 0.1])
def test_calibrated_radius_accepts_the_target_fraction_of_strangers(open_set_digits, far):
    (X_enrol, y_enrol), (X_known, y_known), cal, strangers, (X, y) = open_set_digits
    model = make_pipeline(PCA(16, random_state=0), RadiusNeighborsClassifier(outlier_label=-1))
    model.fit(X_enrol, y_enrol)
    # Known probes may be passed along; they do not move the radius.
    radius = calibrate_radius(model, np.concatenate([X[cal], X_known]), np.concatenate([y[cal], y_known]), far=far)
    assert radius == calibrate_radius(model, X[cal], y[cal], far=far)
    model.set_params(radiusneighborsclassifier__radius=radius)
    # The conformal rule: the most calibration strangers accepted with (k + 1) / (n + 1) <= far.
    accepted = np.sum(_predict(model, X[cal]) != -1)
    assert accepted == conformal_accepted(far, cal.sum())
    # Other samples of the same strangers: the target up to sampling error (tests/_far.py). (Strangers
    # of other classes may be accepted far more often, see the user guide: the rate transfers as far
    # as the calibration strangers resemble the new ones.)
    measured = np.mean(_predict(model, X[strangers]) != -1)
    assert measured <= far + far_tolerance(far, cal.sum(), strangers.sum())
    assert np.mean(_predict(model, X_known) == y_known) > 0.5


def test_calibrate_radius_behind_a_frozen_embedder(open_set_digits):
    (X_enrol, y_enrol), (X_known, y_known), cal, strangers, (X, y) = open_set_digits
    embedder = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=2, batch_size=32, random_state=0)
    embedder.fit(X_enrol, y_enrol)
    model = make_pipeline(FrozenEstimator(embedder), RadiusNeighborsClassifier(outlier_label=-1)).fit(X_enrol, y_enrol)
    radius = calibrate_radius(model, X[cal], y[cal], far=0.1)
    # The radius is a distance in the embedding: the strangers' nearest enrolled embedding.
    nearest = np.min(np.linalg.norm(embedder.transform(X[cal])[:, None] - embedder.transform(X_enrol)[None], axis=2), axis=1)
    assert np.sum(nearest <= radius) == conformal_accepted(0.1, cal.sum())
    model.set_params(radiusneighborsclassifier__radius=radius)
    assert np.mean(_predict(model, X[cal]) != -1) == pytest.approx(np.mean(nearest <= radius))


def test_calibrate_radius_bad_input(open_set_digits):
    (X_enrol, y_enrol), (X_known, y_known), cal, _, (X, y) = open_set_digits
    model = RadiusNeighborsClassifier(outlier_label=-1).fit(X_enrol, y_enrol)
    with pytest.raises(ValueError, match="calibrate_radius needs unknown probes"):
        calibrate_radius(model, X_known, y_known)
    with pytest.raises(ValueError, match=r"The 'far' parameter of calibrate_radius must be a float in the range \(0.0, 1.0\)"):
        calibrate_radius(model, X[cal], y[cal], far=1.0)
    with pytest.raises(ValueError, match=r"The 'rule' parameter of calibrate_radius must be a str among"):
        calibrate_radius(model, X[cal], y[cal], rule="quantile")
    with pytest.raises(ValueError, match="needs a RadiusNeighborsClassifier or a Pipeline ending in one, got KNeighborsClassifier"):
        calibrate_radius(KNeighborsClassifier(1).fit(X_enrol, y_enrol), X[cal], y[cal])
    with pytest.raises(ValueError, match="X has 10 features, but RadiusNeighborsClassifier is expecting 64|64 features"):
        calibrate_radius(model, X[cal][:, :10], y[cal])


def test_empirical_rule_is_exact_on_the_calibration_strangers(open_set_digits):
    (X_enrol, y_enrol), _, cal, _, (X, y) = open_set_digits
    model = make_pipeline(PCA(16, random_state=0), RadiusNeighborsClassifier(outlier_label=-1)).fit(X_enrol, y_enrol)
    # 30 strangers: "empirical" accepts 3 (3 / 30 <= 10%), "conformal" 2 ((2 + 1) / 31 <= 10% < 4 / 31).
    X_cal, y_cal = X[cal][:30], y[cal][:30]
    radius = calibrate_radius(model, X_cal, y_cal, far=0.1, rule="empirical")
    assert radius > calibrate_radius(model, X_cal, y_cal, far=0.1)
    accepted = np.sum(_predict(model.set_params(radiusneighborsclassifier__radius=radius), X_cal) != -1)
    assert accepted == 3


@pytest.fixture(scope="module")
def gaussian_open_set():
    """10 enrolled Gaussian classes (one reference each) and 3000 strangers, each from a centre of its own.

    One sample per stranger: strangers are exchangeable, as the conformal
    guarantee assumes. Returns the fitted classifier, the strangers and
    their distance to the nearest reference.
    """
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 8))
    references = centres + 0.3 * rng.normal(size=(10, 8))
    strangers = rng.normal(size=(3000, 8)) + 0.3 * rng.normal(size=(3000, 8))
    model = RadiusNeighborsClassifier(outlier_label=-1).fit(references, np.arange(10))
    nearest = np.min(np.linalg.norm(strangers[:, None] - references[None], axis=2), axis=1)
    return model, strangers, nearest


@pytest.mark.parametrize("far, n_calibration", [(0.1, 30), (0.1, 9), (0.05, 60)])
def test_conformal_radius_meets_the_target_on_new_strangers_on_average(gaussian_open_set, far, n_calibration):
    """Over many calibration draws, the mean FAR on new strangers is the conformal rate, at most the target.

    The per-split rate's distribution is bracketed exactly (tests/_far.py),
    so the mean over 300 splits must land in the bracket up to 3 standard
    errors, and the bracket's top is at most the target.
    """
    model, strangers, nearest = gaussian_open_set
    rng = np.random.default_rng(1)
    n_splits, n_measured = 300, 200
    measured = {"conformal": [], "empirical": []}
    for _ in range(n_splits):
        order = rng.permutation(len(strangers))
        cal, new = order[:n_calibration], order[n_calibration:n_calibration + n_measured]
        for rule, rates in measured.items():
            radius = calibrate_radius(model, strangers[cal], np.full(n_calibration, -2), far=far, rule=rule)
            rates.append(np.mean(nearest[new] <= radius))
    low, high, spread = conformal_far(far, n_calibration)
    assert high <= far
    tolerance = split_mean_tolerance(spread, high, n_measured, n_splits)
    assert low - tolerance <= np.mean(measured["conformal"]) <= high + tolerance
    # The former rule accepts as many calibration strangers or more, so new ones at least as often.
    assert np.mean(measured["empirical"]) >= np.mean(measured["conformal"])
