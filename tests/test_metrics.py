"""Evaluation: pair scores, verification, seen/unseen protocol, retrieval, scorers."""

import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import torch
from skorch.history import History

import sklearn_siamese
from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese._training.data import TensorDataset
from sklearn_siamese.callbacks import ValidationPrecisionAt1
from sklearn_siamese.metrics import _retrieval
from sklearn_siamese.metrics import (
    embed_with,
    embedding_precision_at_1,
    make_one_shot_scorer,
    make_retrieval_scorer,
    make_verification_scorer,
    mean_average_precision_at_r,
    one_shot_accuracy,
    pair_scores,
    precision_at_1,
    seen_unseen_verification,
    verification_accuracy,
    verification_roc_auc,
)
from sklearn_siamese.pairs import best_threshold, make_pairs

from _learning import LEARNED_MARGIN, untrained_twin
from _toy_verifier import ToyVerifier

SEEN = [0, 1, 2, 3, 4, 5]


class Doubler(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return 2 * np.asarray(X, dtype=np.float64)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    seen = np.isin(y, SEEN)
    X_train, X_test, y_train, y_test = train_test_split(
        X[seen], y[seen], test_size=0.3, stratify=y[seen], random_state=0
    )
    return dict(X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, X_unseen=X[~seen], y_unseen=y[~seen])


@pytest.fixture(scope="module")
def embedder(digits):
    return SiameseEmbedder(MLPEncoder(hidden_sizes=(64,)), max_epochs=3, random_state=0).fit(
        digits["X_train"], digits["y_train"]
    )


# ------------------------------------------------------------------ pair scores
def test_pair_scores_of_each_kind_of_model(digits, embedder):
    pairs, _ = make_pairs(digits["X_test"], digits["y_test"], n_pairs=50, random_state=0)
    raw = -np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1)
    np.testing.assert_allclose(pair_scores(None, pairs), raw, rtol=1e-6)
    np.testing.assert_allclose(pair_scores(Doubler(), pairs), 2 * raw, rtol=1e-6)
    np.testing.assert_allclose(pair_scores(embedder, pairs), -embedder.pair_distance(pairs), rtol=1e-6)
    np.testing.assert_allclose(pair_scores(ToyVerifier().fit(None), pairs), np.exp(raw), rtol=1e-6)


def test_pair_scores_run_a_pipelines_preprocessing(digits):
    X, y = digits["X_train"], digits["y_train"]
    scaler = StandardScaler().fit(X)
    pipe = make_pipeline(scaler, PCA(5, random_state=0)).fit(X, y)
    pairs, _ = make_pairs(X, y, n_pairs=20, random_state=0)
    pca = pipe[-1]
    a, b = pca.transform(scaler.transform(pairs[:, 0])), pca.transform(scaler.transform(pairs[:, 1]))
    np.testing.assert_allclose(pair_scores(pipe, pairs), -np.linalg.norm(a - b, axis=1), rtol=1e-5)


def test_pair_scores_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(n_pairs, 2, n_features\)"):
        pair_scores(None, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="empty"):
        pair_scores(None, np.zeros((0, 2, 3)))


# ------------------------------------------------------------------ verification
def test_verification_accuracy_thresholds_the_scores(digits):
    pairs, same = make_pairs(digits["X_test"], digits["y_test"], n_pairs=200, random_state=0)
    scores = pair_scores(None, pairs)
    for t in np.quantile(scores, [0.2, 0.5, 0.8]):
        expected = np.mean((scores >= t) == same)
        assert verification_accuracy(None, pairs, same, threshold=t) == pytest.approx(expected)


def test_verification_accuracy_uses_a_verifiers_threshold():
    pairs = np.array([[[0.0], [0.1]], [[0.0], [3.0]], [[0.0], [0.5]]])
    verifier = ToyVerifier().fit(None)  # scores 0.90, 0.05, 0.61 against threshold_ 0.5
    assert verification_accuracy(verifier, pairs, [1, 0, 0]) == pytest.approx(2 / 3)
    verifier.threshold_ = 0.7
    assert verification_accuracy(verifier, pairs, [1, 0, 0]) == 1.0


def test_verification_accuracy_needs_a_threshold_for_an_embedder(digits, embedder):
    pairs, same = make_pairs(digits["X_test"], digits["y_test"], n_pairs=20, random_state=0)
    with pytest.raises(ValueError, match="threshold_.*SiameseEmbedder.*negated distance"):
        verification_accuracy(embedder, pairs, same)


def test_verification_checks_pair_labels():
    pairs = np.zeros((3, 2, 2))
    with pytest.raises(ValueError, match="only 1 .* and 0"):
        verification_accuracy(None, pairs, [0, 1, 2], threshold=0.0)
    with pytest.raises(ValueError, match="2 labels but there are 3 pairs"):
        verification_roc_auc(None, pairs, [0, 1])
    with pytest.raises(ValueError, match="both same"):
        verification_roc_auc(None, pairs, [1, 1, 1])


def test_embedder_verifies_seen_classes_better_than_raw_pixels(digits, embedder):
    pairs, same = make_pairs(digits["X_test"], digits["y_test"], n_pairs=600, random_state=0)
    learned = verification_roc_auc(embedder, pairs, same)
    raw = verification_roc_auc(None, pairs, same)
    assert learned == pytest.approx(roc_auc_score(same, -embedder.pair_distance(pairs)))
    assert learned > raw + 0.02


# ---------------------------------------------------------- seen / unseen / mixed
def test_seen_unseen_matches_the_pieces(digits, embedder):
    d = digits
    calibration = make_pairs(d["X_train"], d["y_train"], n_pairs=300, random_state=1)
    res = seen_unseen_verification(
        embedder, d["X_test"], d["y_test"], d["X_unseen"], d["y_unseen"],
        calibration=calibration, n_pairs=300, random_state=0,
    )
    assert res["threshold"] == best_threshold(pair_scores(embedder, calibration[0]), calibration[1])
    # Recreate the three pair sets in the documented order from the same seed.
    rng = np.random.RandomState(0)
    mixed = np.concatenate([d["X_test"], d["X_unseen"]]), np.concatenate([d["y_test"], d["y_unseen"]])
    for name, (X, y) in zip(["seen", "unseen", "mixed"], [(d["X_test"], d["y_test"]), (d["X_unseen"], d["y_unseen"]), mixed]):
        pairs, same = make_pairs(X, y, n_pairs=300, random_state=rng)
        assert res[f"{name}_accuracy"] == pytest.approx(
            verification_accuracy(embedder, pairs, same, threshold=res["threshold"])
        )
        assert res[f"{name}_roc_auc"] == pytest.approx(verification_roc_auc(embedder, pairs, same))
    # What the protocol is for: the learned similarity is better on the classes it was trained on.
    assert res["seen_accuracy"] > res["unseen_accuracy"] + 0.05


def test_seen_unseen_threshold_sources(digits):
    d = digits
    args = (d["X_test"], d["y_test"], d["X_unseen"], d["y_unseen"])
    res = seen_unseen_verification(None, *args, threshold=-3.0, n_pairs=100, random_state=0)
    assert res["threshold"] == -3.0
    res = seen_unseen_verification(ToyVerifier().fit(None), *args, n_pairs=100, random_state=0)
    assert res["threshold"] == 0.5
    with pytest.raises(ValueError, match="at most one of threshold and calibration"):
        seen_unseen_verification(None, *args, threshold=-3.0, calibration=make_pairs(d["X_test"], d["y_test"]))
    with pytest.raises(ValueError, match="pass a threshold"):
        seen_unseen_verification(None, *args)
    with pytest.raises(ValueError, match=r"calibration must be a tuple \(pairs, y_pairs\)"):
        seen_unseen_verification(None, *args, calibration=np.zeros((3, 2, 64)))


def test_seen_unseen_rejects_shared_classes(digits):
    d = digits
    with pytest.raises(ValueError, match=r"share the classes \[0"):
        seen_unseen_verification(None, d["X_test"], d["y_test"], d["X_test"][:10], np.zeros(10), threshold=0.0)


# --------------------------------------------------------------------- retrieval
def brute_force_retrieval(X, y):
    """Precision@1 and MAP@R by a direct loop over queries."""
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    p1, aps = [], []
    for i in range(len(X)):
        others = np.delete(np.arange(len(X)), i)
        ranked = others[np.argsort(D[i, others], kind="stable")]
        R = int(np.sum(y[others] == y[i]))
        if R == 0:
            continue
        rel = y[ranked] == y[i]
        p1.append(rel[0])
        aps.append(sum(rel[:k + 1].mean() for k in range(R) if rel[k]) / R)
    return np.mean(p1), np.mean(aps)


def test_retrieval_matches_brute_force():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3)) + np.repeat(np.eye(3) * 2, 20, axis=0)
    y = np.repeat([0, 1, 2], 20)
    y[-1] = 7  # a lone query, left out of both metrics
    p1, map_r = brute_force_retrieval(X, y)
    assert 0.3 < map_r < 0.95
    assert precision_at_1(None, X, y) == pytest.approx(p1)
    assert mean_average_precision_at_r(None, X, y) == pytest.approx(map_r)


def test_retrieval_is_the_same_in_small_query_blocks(monkeypatch, digits, embedder):
    X, y = digits["X_unseen"][:300], digits["y_unseen"][:300]
    full = precision_at_1(embedder, X, y), mean_average_precision_at_r(embedder, X, y)
    monkeypatch.setattr(_retrieval, "_QUERY_CHUNK", 64)
    assert (precision_at_1(embedder, X, y), mean_average_precision_at_r(embedder, X, y)) == pytest.approx(full)


def test_precision_at_1_agrees_with_nearest_neighbours(digits, embedder):
    X, y = digits["X_test"], digits["y_test"]
    assert precision_at_1(embedder, X, y) == pytest.approx(embedder.score(X, y))
    knn = KNeighborsClassifier(n_neighbors=1).fit(digits["X_train"], digits["y_train"])
    assert precision_at_1(None, X, y, X_ref=digits["X_train"], y_ref=digits["y_train"]) == pytest.approx(knn.score(X, y))


def test_precision_at_1_definition_on_a_hand_made_example():
    E = [[0.0], [0.3], [1.0], [1.1], [1.3], [5.0]]
    # Misses: 1.0 (class 0) retrieves 1.1, and 1.1 (class 1) retrieves 1.0.
    # The lone class-2 sample is left out rather than counted as a miss.
    assert embedding_precision_at_1(E, [0, 0, 0, 1, 1, 2]) == pytest.approx(3 / 5)
    # Ties go to the lower reference index: with every similarity equal,
    # sample 0 retrieves sample 1 and every other sample retrieves sample 0.
    flat = lambda A, B: np.zeros((len(A), len(B)))  # noqa: E731
    assert embedding_precision_at_1(np.zeros((4, 1)), [0, 0, 1, 1], similarity=flat) == 0.5
    assert embedding_precision_at_1(np.zeros((4, 1)), [1, 0, 0, 1], similarity=flat) == 0.25
    # Against a reference set: queries whose class has no reference are left out.
    ref = embedding_precision_at_1([[0.0], [1.0], [9.0]], [0, 1, 5], ref_embeddings=[[0.1], [0.9]], y_ref=[1, 1])
    assert ref == 1.0
    with pytest.raises(ValueError, match="No query has a reference sample.*left out"):
        embedding_precision_at_1([[0.0], [1.0]], [0, 1])


def test_the_three_precisions_at_1_agree_with_a_singleton_class(embedder):
    X, y = load_digits(return_X_y=True)
    X, y = (X[:300] / 16).astype(np.float32), y[:300]
    keep = (y != 9) | (np.arange(len(y)) == np.flatnonzero(y == 9)[0])
    X, y = X[keep], y[keep]
    assert np.sum(y == 9) == 1
    E = embedder.embed(X)
    # By hand: the nearest other sample of each query; the singleton cannot hit.
    nearest = NearestNeighbors(n_neighbors=1).fit(E).kneighbors(return_distance=False)[:, 0]
    hits = y[nearest] == y
    expected = hits[y != 9].mean()
    assert expected > hits.mean()  # leaving the singleton out is not counting it as a miss

    assert embedder.score(X, y) == pytest.approx(expected)
    assert precision_at_1(embedder, X, y) == pytest.approx(expected)
    callback = ValidationPrecisionAt1(np.arange(len(X)), embedder.distance)
    net = type("Net", (), {"module_": embedder.net_.module_, "history": History()})()
    net.history.new_epoch()
    callback.on_epoch_end(net, dataset_valid=TensorDataset(torch.from_numpy(X), torch.from_numpy(y)))
    assert net.history[-1, "valid_precision_at_1"] == pytest.approx(expected)


def test_embed_with_uses_the_public_surface(digits, embedder):
    X = digits["X_test"][:20]
    E, similarity = embed_with(make_pipeline(StandardScaler().fit(X), ToyVerifier()), X)
    np.testing.assert_allclose(E, StandardScaler().fit_transform(X), rtol=1e-5)
    np.testing.assert_allclose(similarity(E[:2], E), np.exp(-np.linalg.norm(E[:2, None] - E[None], axis=2)), atol=1e-6)
    E, similarity = embed_with(embedder, X)
    np.testing.assert_array_equal(E, embedder.embed(X))
    np.testing.assert_allclose(similarity(E, E), embedder.similarity(X), rtol=1e-6)


def test_map_at_r_rewards_clustering():
    y = np.repeat([0, 1], 5)
    separated = np.r_[np.zeros(5), np.ones(5) * 10][:, None] + np.arange(10)[:, None] * 0.01
    assert mean_average_precision_at_r(None, separated, y) == 1.0
    interleaved = np.arange(10, dtype=float)[:, None]
    assert mean_average_precision_at_r(None, interleaved, np.tile([0, 1], 5)) < 0.2


def test_retrieval_errors():
    with pytest.raises(ValueError, match="No query has a reference"):
        precision_at_1(None, np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="y_ref was given without X_ref"):
        precision_at_1(None, np.eye(3), [0, 0, 1], y_ref=[0, 1])
    with pytest.raises(ValueError, match="X_ref needs its labels"):
        mean_average_precision_at_r(None, np.eye(3), [0, 0, 1], X_ref=np.eye(3))


def test_a_verifier_goes_through_its_embedding_similarity(digits):
    """A monotone similarity ranks like the distance: same results as raw features."""
    X, y = digits["X_unseen"], digits["y_unseen"]
    verifier = ToyVerifier().fit(None)
    assert precision_at_1(verifier, X, y) == precision_at_1(None, X, y)
    assert mean_average_precision_at_r(verifier, X, y) == pytest.approx(mean_average_precision_at_r(None, X, y))
    kw = dict(n_way=4, n_episodes=50, random_state=0)
    assert one_shot_accuracy(verifier, X, y, **kw) == one_shot_accuracy(None, X, y, **kw)


# ------------------------------------------------------------------------ scorers
def test_scorers_equal_the_functions(digits, embedder):
    X, y = digits["X_test"], digits["y_test"]
    one_shot = make_one_shot_scorer(n_way=3, n_episodes=40, random_state=2)
    assert one_shot(embedder, X, y) == one_shot_accuracy(embedder, X, y, n_way=3, n_episodes=40, random_state=2)
    pairs, same = make_pairs(X, y, n_pairs=400, random_state=0)
    assert make_verification_scorer(n_pairs=400)(embedder, X, y) == verification_roc_auc(embedder, pairs, same)
    accuracy = make_verification_scorer("accuracy", n_pairs=400, threshold=-0.5)
    assert accuracy(embedder, X, y) == verification_accuracy(embedder, pairs, same, threshold=-0.5)
    assert make_retrieval_scorer()(embedder, X, y) == mean_average_precision_at_r(embedder, X, y)
    assert make_retrieval_scorer("precision_at_1")(embedder, X, y) == precision_at_1(embedder, X, y)
    assert "n_way=3" in repr(one_shot)


@pytest.mark.learns
def test_scorers_in_grid_search_and_cross_validation(digits):
    X, y = digits["X_train"], digits["y_train"]
    scoring = {
        "one_shot": make_one_shot_scorer(n_way=5, n_episodes=30),
        "roc_auc": make_verification_scorer(n_pairs=300),
        "map_at_r": make_retrieval_scorer(),
    }
    search = GridSearchCV(
        make_pipeline(StandardScaler(), PCA(random_state=0)),
        {"pca__n_components": [1, 20]},
        scoring=scoring,
        refit="map_at_r",
        cv=2,
    ).fit(X, y)
    assert search.best_params_ == {"pca__n_components": 20}
    for name in scoring:
        one, twenty = search.cv_results_[f"mean_test_{name}"]
        assert twenty > one
    model = SiameseEmbedder(MLPEncoder(hidden_sizes=(16,)), max_epochs=2, random_state=0)
    cv = KFold(2, shuffle=True, random_state=0)
    scores = cross_val_score(model, X, y, cv=cv, scoring=scoring["roc_auc"])
    # Verification ROC AUC on each held-out half, against the same folds with weights that never move.
    untrained = cross_val_score(untrained_twin(model), X, y, cv=cv, scoring=scoring["roc_auc"])
    assert scores.shape == (2,) and scores.mean() > untrained.mean() + LEARNED_MARGIN


def test_scorers_pickle_and_validate():
    scorer = pickle.loads(pickle.dumps(make_one_shot_scorer(n_way=4)))
    assert scorer.kwargs["n_way"] == 4
    with pytest.raises(ValueError, match="metric must be"):
        make_verification_scorer("f1")
    with pytest.raises(ValueError, match="metric must be"):
        make_retrieval_scorer("recall")


# ------------------------------------------------------------- the real verifier
@pytest.mark.learns
def test_real_verifier_uses_its_pair_probability(digits):
    X, y = digits["X_train"], digits["y_train"]
    verifier = sklearn_siamese.SiameseVerifier(encoder="mlp", max_epochs=2, random_state=0).fit(X, y)
    pairs, same = make_pairs(digits["X_test"], digits["y_test"], n_pairs=200, random_state=0)
    scores = pair_scores(verifier, pairs)
    np.testing.assert_allclose(scores, verifier.pair_score(pairs))
    # Probabilities of "same" that rank held-out same-class pairs above the others, better than the
    # untrained twin's do.
    untrained = untrained_twin(verifier).fit(X, y)
    assert roc_auc_score(same, scores) > roc_auc_score(same, pair_scores(untrained, pairs)) + LEARNED_MARGIN
    assert verification_accuracy(verifier, pairs, same) == pytest.approx(
        np.mean((scores >= verifier.threshold_) == same)
    )
    X_test, y_test = digits["X_test"], digits["y_test"]
    by_hand = embedding_precision_at_1(verifier.embed(X_test), y_test, similarity=verifier.embedding_similarity)
    assert precision_at_1(verifier, X_test, y_test) == by_hand


# ----------------------------------------------------------------- open set
from sklearn_siamese.metrics import (  # noqa: E402
    dir_at_far,
    make_dir_at_far_scorer,
    make_tar_at_far_scorer,
    open_set_curve,
    tar_at_far,
)


@pytest.fixture(scope="module")
def open_set_digits():
    """Gallery: 2 samples of digits 0-4; probes: the other samples of 0-4 (known) and 5-9 (unknown)."""
    X, y = load_digits(return_X_y=True)
    gallery = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(5)])
    probes = np.setdiff1d(np.arange(len(y)), gallery)
    return X[gallery], y[gallery], X[probes], y[probes]


def _brute_dir(X_gallery, y_gallery, X_probe, y_probe, far):
    """DIR at FAR written out: nearest gallery sample, the k-th highest stranger score as the bar."""
    D = np.linalg.norm(X_probe[:, None] - X_gallery[None], axis=2)
    best, match = -D.min(axis=1), y_gallery[D.argmin(axis=1)]
    unknown = ~np.isin(y_probe, y_gallery)
    strangers = np.sort(best[unknown])[::-1]
    allowed = int(np.floor(far * len(strangers) + 1e-9))
    bar = strangers[allowed]  # the highest stranger score that must be rejected
    known = ~unknown
    return np.mean((match[known] == y_probe[known]) & (best[known] > bar))


@pytest.mark.parametrize("far", [0.01, 0.1, 0.3])
def test_dir_at_far_matches_its_definition(open_set_digits, far):
    rate, threshold = dir_at_far(None, *open_set_digits, far=far, return_threshold=True)
    # Integer pixels tie many distances; rounding (a dot-product formula there) may order a few ties otherwise.
    assert rate == pytest.approx(_brute_dir(*open_set_digits, far), abs=0.005)
    X_gallery, y_gallery, X_probe, y_probe = open_set_digits
    unknown = ~np.isin(y_probe, y_gallery)
    best = -np.linalg.norm(X_probe[unknown][:, None] - X_gallery[None], axis=2).min(axis=1)
    assert np.mean(best >= threshold) <= far + 1e-3


def test_open_set_curve_passes_through_dir_at_far(open_set_digits):
    far, rate, thresholds = open_set_curve(None, *open_set_digits)
    assert far[0] == 0 and rate[0] == 0 and np.isinf(thresholds[0])
    assert far[-1] == 1 and np.all(np.diff(far) >= 0) and np.all(np.diff(rate) >= 0)
    for target in (0.05, 0.2):
        assert dir_at_far(None, *open_set_digits, far=target) == pytest.approx(rate[far <= target].max())


def test_open_set_measures_of_a_pipeline_and_a_verifier(open_set_digits):
    # A pipeline uses its transform (a full PCA is a rotation: distances kept); a
    # verifier-like model its own similarity (monotone in the distance here).
    rotation = make_pipeline(PCA(64)).fit(open_set_digits[2])
    assert dir_at_far(rotation, *open_set_digits, far=0.1) == pytest.approx(dir_at_far(None, *open_set_digits, far=0.1))
    assert dir_at_far(ToyVerifier().fit(None), *open_set_digits, far=0.1) == pytest.approx(
        dir_at_far(None, *open_set_digits, far=0.1)
    )


def test_tar_at_far_matches_its_definition():
    X, y = load_digits(return_X_y=True)
    pairs, same = make_pairs(X, y, n_pairs=600, random_state=0)
    d = np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1)
    for far in (0.01, 0.1):
        bar = np.sort(d[same == 0])[int(np.floor(far * (same == 0).sum()))]  # first different pair not accepted
        assert tar_at_far(None, pairs, same, far=far) == pytest.approx(np.mean(d[same == 1] < bar))
    assert tar_at_far(ToyVerifier().fit(None), pairs, same, far=0.1) == tar_at_far(None, pairs, same, far=0.1)


def test_best_threshold_far_rules():
    # 30 "different" scores 1..30: "empirical" accepts 3 (3 / 30 <= 10%), "conformal" 2 ((2 + 1) / 31 <= 10%).
    scores, same = np.arange(1.0, 31.0), np.zeros(30)
    assert best_threshold(scores, same, "far", far=0.1) == 27.5
    assert best_threshold(scores, same, "far", far=0.1, rule="conformal") == 28.5
    # Fewer than 1 / far - 1 strangers: the conformal rule accepts none.
    assert best_threshold(scores[:8], same[:8], "far", far=0.1, rule="conformal") > 8
    with pytest.raises(ValueError, match=r"The 'rule' parameter of best_threshold must be a str among"):
        best_threshold(scores, same, "far", far=0.1, rule="quantile")


@pytest.mark.parametrize("far", [0, 1, 2.0, -0.5])
def test_far_outside_0_1_is_refused_by_every_function(open_set_digits, far):
    pairs = np.zeros((2, 2, 3))
    message = r"The 'far' parameter of {} must be a float in the range \(0.0, 1.0\)"
    with pytest.raises(ValueError, match=message.format("dir_at_far")):
        dir_at_far(None, *open_set_digits, far=far)
    with pytest.raises(ValueError, match=message.format("tar_at_far")):
        tar_at_far(None, pairs, [0, 1], far=far)
    with pytest.raises(ValueError, match=message.format("make_dir_at_far_scorer")):
        make_dir_at_far_scorer(far)
    with pytest.raises(ValueError, match=message.format("make_tar_at_far_scorer")):
        make_tar_at_far_scorer(far)


def test_open_set_measures_need_both_kinds_of_probe(open_set_digits):
    X_gallery, y_gallery, X_probe, y_probe = open_set_digits
    known = np.isin(y_probe, y_gallery)
    with pytest.raises(ValueError, match="need unknown probes"):
        dir_at_far(None, X_gallery, y_gallery, X_probe[known], y_probe[known])
    with pytest.raises(ValueError, match="needs probes of enrolled classes"):
        open_set_curve(None, X_gallery, y_gallery, X_probe[~known], y_probe[~known])
    with pytest.raises(ValueError, match="X_probe has 10 features but X_gallery has 64"):
        dir_at_far(None, X_gallery, y_gallery, X_probe[:, :10], y_probe)
    pairs, same = make_pairs(X_gallery, y_gallery, n_pairs=10, random_state=0)
    with pytest.raises(ValueError, match="needs same-class pairs"):
        tar_at_far(None, pairs[same == 0], same[same == 0])
    with pytest.raises(ValueError, match="strategy='far' needs 'different' pairs"):
        tar_at_far(None, pairs[same == 1], same[same == 1])


def test_open_set_scorers_choose_in_grid_search():
    X, y = load_digits(return_X_y=True)
    for scorer in (make_dir_at_far_scorer(0.1, n_references=2), make_tar_at_far_scorer(0.1, n_pairs=400)):
        search = GridSearchCV(PCA(random_state=0), {"n_components": [1, 16]}, cv=2, scoring=scorer).fit(X, y)
        assert search.best_params_ == {"n_components": 16}
        assert np.all((search.cv_results_["mean_test_score"] >= 0) & (search.cv_results_["mean_test_score"] <= 1))
    scorer = make_dir_at_far_scorer(0.1)
    assert pickle.loads(pickle.dumps(scorer))(None, X, y) == scorer(None, X, y)
    assert "far=0.1" in repr(scorer)


@pytest.mark.learns
def test_dir_scorer_on_a_fitted_embedder():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    embedder = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=2, batch_size=32, random_state=0)
    seen = np.flatnonzero(y < 6)
    train, held_out = seen[::2], seen[1::2]
    embedder.fit(X[train], y[train])
    scorer = make_dir_at_far_scorer(0.1, n_references=3)
    # On classes never seen in training it scores (a number in [0, 1]) ...
    assert 0 <= scorer(embedder, X[y >= 6], y[y >= 6]) <= 1
    # ... and on held-out samples of the training classes (half of them strangers to the gallery) the
    # trained embedding identifies better than its untrained twin (measured: 0.98 against 0.70).
    untrained = untrained_twin(embedder).fit(X[train], y[train])
    assert scorer(embedder, X[held_out], y[held_out]) > scorer(untrained, X[held_out], y[held_out]) + LEARNED_MARGIN

@pytest.mark.learns
def test_scorers_on_the_one_shot_pipeline_with_class_disjoint_folds():
    from sklearn.model_selection import GroupKFold

    X_all, y_all = load_digits(return_X_y=True)
    X, y = X_all[:900], y_all[:900]
    embedder = SiameseEmbedder(MLPEncoder(hidden_sizes=(16,)), max_epochs=2, samples_per_epoch=1024, random_state=0)
    pipeline = make_pipeline(StandardScaler(), embedder, KNeighborsClassifier(1))
    scoring = {"one_shot": make_one_shot_scorer(n_way=3, n_episodes=20), "map_at_r": make_retrieval_scorer()}
    search = GridSearchCV(
        pipeline, {"siameseembedder__margin": [0.5, 1.0]}, scoring=scoring, refit="one_shot", cv=GroupKFold(3)
    ).fit(X, y, groups=y)
    for name in scoring:
        assert np.isfinite(search.cv_results_[f"mean_test_{name}"]).all()
    # The refitted pipeline learned: on held-out samples of its classes, both scorers beat its untrained twin.
    fitted = search.best_estimator_
    X_test, y_test = X_all[900:1500], y_all[900:1500]
    untrained = untrained_twin(fitted).fit(X, y)
    for name, scorer in scoring.items():
        assert scorer(fitted, X_test, y_test) > scorer(untrained, X_test, y_test) + LEARNED_MARGIN, name
    # The scorer evaluates the embedding the steps before the classifier produce.
    assert scoring["one_shot"](fitted, X, y) == scoring["one_shot"](fitted[:-1], X, y)
    assert precision_at_1(fitted, X, y) == precision_at_1(fitted[:-1], X, y)
    # A classifier alone embeds nothing: a clear error, not an AttributeError.
    with pytest.raises(ValueError, match="KNeighborsClassifier does not embed samples"):
        one_shot_accuracy(KNeighborsClassifier(1).fit(X, y), X, y, n_way=3)
    # A pipeline of only the classifier compares the raw features.
    knn_only = make_pipeline(KNeighborsClassifier(1)).fit(X, y)
    assert one_shot_accuracy(knn_only, X, y, n_way=3, random_state=0) == one_shot_accuracy(None, X, y, n_way=3, random_state=0)
