"""Tests of SiameseVerifier: heads, thresholds, one-shot, sklearn integration."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import accuracy_score, fbeta_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from _far import conformal_accepted, far_tolerance
from _learning import LEARNED_MARGIN, untrained_twin

from sklearn_siamese import MLPEncoder, SiameseVerifier
from sklearn_siamese.pairs import best_threshold, make_pairs

FAST = dict(
    encoder=MLPEncoder(hidden_sizes=(32,)), embedding_dim=16, max_epochs=3, batch_size=32, random_state=0, samples_per_epoch=1024
)


@pytest.fixture(scope="module")
def small(digits):
    """300 samples of 5 digit classes."""
    X, y = digits
    keep = np.flatnonzero(y < 5)[:300]
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def held_out(digits):
    """300 other samples of the 5 classes of ``small``: never trained on, never references."""
    X, y = digits
    keep = np.flatnonzero(y < 5)[300:600]
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def fitted(small):
    X, y = small
    return SiameseVerifier(**FAST).fit(X, y)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# ------------------------------------------------------------------ heads
@pytest.fixture(scope="module")
def koch(small):
    X, y = small
    return SiameseVerifier(**{**FAST, "head": "koch"}).fit(X, y)


def _assert_head_trained_and_scores(ver, X):
    head = ver.net_.criterion_.head
    optimised = {id(p) for group in ver.net_.optimizer_.param_groups for p in group["params"]}
    assert {id(p) for p in head.parameters()} <= optimised
    a, b = ver.embed(X[:5]), ver.embed(X[5:10])
    with torch.no_grad():
        expected = torch.sigmoid(head(torch.from_numpy(a).float(), torch.from_numpy(b).float())).numpy()
    pairs = np.stack([X[:5], X[5:10]], axis=1)
    np.testing.assert_allclose(ver.pair_score(pairs), expected, rtol=1e-5)


def test_default_head_calibrates_the_training_distance(fitted, small):
    from sklearn_siamese.losses import DistanceSimilarityHead

    X, _ = small
    head = fitted.net_.criterion_.head
    assert isinstance(head, DistanceSimilarityHead) and head.distance == "euclidean"
    # Fitted by BCE away from its initial map 4 - 8 d, with a positive slope.
    assert head.scale.item() > 0 and not np.isclose(head.scale.item(), 8.0)
    _assert_head_trained_and_scores(fitted, X)
    # The probability of "same" is a decreasing function of the embedding distance.
    A, B = fitted.embed(X[:40]), fitted.embed(X[40:80])
    d = np.linalg.norm(A[:, None] - B[None], axis=-1).ravel()
    p = fitted.embedding_similarity(A, B).ravel()
    order = np.argsort(d, kind="stable")
    assert np.all(np.diff(p[order]) <= 1e-12)


def test_koch_head_weights_each_dimension(koch, small):
    X, _ = small
    head = koch.net_.criterion_.head
    assert head.nonpositive and head.linear.weight.numel() == koch.embedding_dim_
    assert (head.weight <= 0).all()
    _assert_head_trained_and_scores(koch, X)


@pytest.mark.parametrize("loss, head, expected", [
    ("contrastive+bce", "auto", "DistanceSimilarityHead"),
    ("bce", "auto", "L1SimilarityHead"),  # Koch et al.'s model
    ("bce", "distance", "DistanceSimilarityHead"),
    ("contrastive+bce", "koch", "L1SimilarityHead"),
])
def test_head_auto_picks_by_loss(loss, head, expected):
    ver = SiameseVerifier(loss=loss, head=head)
    assert type(ver._make_criterion(8).head).__name__ == expected


@pytest.mark.slow
def test_default_verifier_learns_the_embedders_encoder(digits):
    """Same random_state, same training: the verifier transfers as the embedder does."""
    from sklearn_siamese import SiameseEmbedder

    X, y = digits
    seen = np.isin(y, [2, 3, 4, 5, 6, 7])
    params = dict(image_shape=(8, 8), max_epochs=2, random_state=0)
    emb = SiameseEmbedder(**params).fit(X[seen], y[seen])
    ver = SiameseVerifier(**params).fit(X[seen], y[seen])
    assert len(ver.validation_classes_) == 0 and ver.threshold_ == 0.5
    for a, b in zip(emb.net_.module_.state_dict().values(), ver.net_.module_.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Hence the same 1-shot predictions on the unseen digits: the nearest reference.
    X_new, y_new = X[~seen], y[~seen]
    refs = np.array([np.flatnonzero(y_new == c)[0] for c in (0, 1, 8, 9)])
    nearest = emb.transform(X_new) @ emb.transform(X_new[refs]).T  # unit-length: max cosine = min distance
    np.testing.assert_array_equal(
        ver.fit_references(X_new[refs], y_new[refs]).predict(X_new), y_new[refs][nearest.argmax(1)]
    )


# ------------------------------------------------------------ thresholds
def _metric(strategy, y_true, y_pred, min_rate):
    tpr = np.mean(y_pred[y_true == 1]) if (y_true == 1).any() else 0.0
    tnr = np.mean(1 - y_pred[y_true == 0]) if (y_true == 0).any() else 0.0
    if strategy == "accuracy":
        return accuracy_score(y_true, y_pred)
    if strategy == "f_beta":
        return fbeta_score(y_true, y_pred, beta=2.0, zero_division=0)
    if strategy == "max_tpr":
        return tpr if tnr >= min_rate else -np.inf
    return tnr if tpr >= min_rate else -np.inf


@pytest.mark.parametrize("strategy", ["accuracy", "f_beta", "max_tpr", "max_tnr"])
def test_calibrated_threshold_is_best_of_full_sweep(fitted, digits, strategy):
    X, y = digits
    unseen = y >= 5
    pairs, y_pairs = make_pairs(X[unseen], y[unseen], n_pairs=300, random_state=1)
    scores = fitted.pair_score(pairs)
    fitted_copy = pickle.loads(pickle.dumps(fitted))
    fitted_copy.calibrate_threshold(pairs, y_pairs, strategy=strategy, min_rate=0.8, beta=2.0)
    best_possible = max(
        _metric(strategy, y_pairs, (scores >= t).astype(int), 0.8) for t in np.r_[np.unique(scores), np.inf]
    )
    chosen = _metric(strategy, y_pairs, fitted_copy.predict_pairs(pairs), 0.8)
    assert chosen == best_possible
    np.testing.assert_array_equal(fitted_copy.predict_pairs(pairs), scores >= fitted_copy.threshold_)


def test_threshold_calibrated_at_fit_on_held_out_pairs(small):
    X, y = small
    ver = SiameseVerifier(**{**FAST, "validation_fraction": 0.4}).fit(X, y)
    held = np.isin(y, ver.validation_classes_)
    assert 0 < held.sum() < len(y)
    # fit draws its calibration pairs from the held-out classes with the first seed of random_state.
    seed = np.random.RandomState(FAST["random_state"]).randint(np.iinfo(np.int32).max)
    pairs, same = make_pairs(X[held], y[held], n_pairs=1000, random_state=seed)
    assert ver.threshold_ == best_threshold(ver.pair_score(pairs), same, "accuracy")
    assert ver.threshold_ != 0.5  # not the uncalibrated default


# --------------------------------------------------------------- one-shot
@pytest.mark.slow
@pytest.mark.learns
def test_one_shot_on_unseen_digit_classes_beats_raw_pixels(digits):
    """Train on digits 2-7; classify 0, 1, 8, 9 from one reference each, better than raw pixels do."""
    X, y = digits
    seen = np.isin(y, [2, 3, 4, 5, 6, 7])
    ver = SiameseVerifier(image_shape=(8, 8), max_epochs=15, samples_per_epoch=1024, random_state=0)
    ver.fit(X[seen], y[seen])
    X_new, y_new = X[~seen], y[~seen]
    rng = np.random.default_rng(0)
    new_classes = np.unique(y_new)
    accuracies, raw = [], []
    for _ in range(30):
        ref = np.array([rng.choice(np.flatnonzero(y_new == c)) for c in new_classes])
        query = np.setdiff1d(np.arange(len(y_new)), ref)
        ver.fit_references(X_new[ref], y_new[ref])
        accuracies.append(ver.score(X_new[query], y_new[query]))
        nearest = KNeighborsClassifier(1).fit(X_new[ref], y_new[ref])
        raw.append(nearest.score(X_new[query], y_new[query]))
    np.testing.assert_array_equal(ver.classes_, new_classes)
    # The same 30 episodes of ~700 queries: 0.77 against 0.68 for raw pixels (the untrained
    # network scores 0.64, below raw pixels).
    assert np.mean(accuracies) > np.mean(raw) + LEARNED_MARGIN


def test_fit_references_keeps_network_and_validates(fitted, small):
    X, y = small
    ver = pickle.loads(pickle.dumps(fitted))
    before = [p.detach().clone() for p in ver.net_.module_.parameters()]
    ver.fit_references(X[:20], np.where(y[:20] % 2 == 0, "even", "odd"))
    assert list(ver.classes_) == ["even", "odd"]
    assert ver.decision_function(X[:4]).shape == (4,)
    assert all(torch.equal(a, b) for a, b in zip(before, ver.net_.module_.parameters()))
    with pytest.raises(ValueError, match="at least 2 classes"):
        ver.fit_references(X[:3], [1, 1, 1])
    with pytest.raises(ValueError, match="features"):
        ver.fit_references(X[:4, :10], [0, 1, 0, 1])


# ------------------------------------------------ classifier consistency
def test_predict_decision_proba_agree(fitted, small):
    X, y = small
    dec = fitted.decision_function(X)
    proba = fitted.predict_proba(X)
    assert dec.shape == proba.shape == (len(X), len(fitted.classes_))
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[dec.argmax(1)])
    np.testing.assert_array_equal(proba.argmax(1), dec.argmax(1))
    assert fitted.score(X, y) == pytest.approx(np.mean(fitted.predict(X) == y))
    counts = np.unique(fitted.reference_labels_, return_counts=True)[1]
    assert counts.max() <= fitted.max_references_per_class


def test_contrastive_logit_map(small):
    X, y = small
    ver = SiameseVerifier(**{**FAST, "loss": "contrastive", "margin": 2.0}).fit(X, y)
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    d = ver.pair_distance(pairs)
    np.testing.assert_allclose(ver.pair_score(pairs), _sigmoid(4 * (1 - d)), rtol=1e-5)


# ----------------------------------------------------- sklearn ecosystem
@pytest.mark.learns
@pytest.mark.slow
def test_pipeline_cross_val_and_grid_search(small):
    X, y = small
    pipe = make_pipeline(MinMaxScaler(), SiameseVerifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=2)
    # Each held-out half is classified against the other half's references: better than untrained.
    untrained = cross_val_score(untrained_twin(pipe), X, y, cv=2)
    assert scores.shape == (2,) and scores.mean() > untrained.mean() + LEARNED_MARGIN
    # Log loss, not accuracy: the margin scales the logits, so it changes
    # probabilities even where the predicted classes stay the same.
    grid = GridSearchCV(
        SiameseVerifier(**{**FAST, "loss": "contrastive"}), {"margin": [0.5, 1.0]}, cv=2, scoring="neg_log_loss"
    )
    grid.fit(X, y)
    mean_scores = grid.cv_results_["mean_test_score"]
    assert mean_scores[0] != mean_scores[1]  # the searched margin reaches the model
    assert grid.best_params_["margin"] == grid.cv_results_["params"][np.argmax(mean_scores)]["margin"]
    grid = GridSearchCV(SiameseVerifier(**FAST), {"loss": ["bce", "contrastive"]}, cv=2).fit(X, y)
    assert set(grid.cv_results_["param_loss"]) == {"bce", "contrastive"}


def test_calibrated_classifier_cv(small):
    X, y = small
    cal = CalibratedClassifierCV(SiameseVerifier(**FAST), cv=2).fit(X, y)
    proba = cal.predict_proba(X)
    assert proba.shape == (len(X), 5)
    np.testing.assert_allclose(proba.sum(1), 1)


def test_pickle_and_determinism(fitted, small):
    X, y = small
    again = SiameseVerifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.threshold_ == fitted.threshold_
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


# ----------------------------------------------------------- pair errors
@pytest.mark.parametrize("bad", [[1, 2, 0, 1], [0.5, 1, 0, 1], [-1, 1, 0, 1], ["a", "b", "a", "b"]])
def test_pair_labels_other_than_0_1_raise(fitted, small, bad):
    X, _ = small
    pairs = np.stack([X[:4], X[4:8]], axis=1)
    with pytest.raises(ValueError, match="only 1 .same class. and 0"):
        fitted.calibrate_threshold(pairs, bad)


def test_pair_label_count_and_shape_errors(fitted, small):
    X, _ = small
    pairs = np.stack([X[:4], X[4:8]], axis=1)
    with pytest.raises(ValueError, match="4 pairs"):
        fitted.calibrate_threshold(pairs, [0, 1, 1])
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2, n_features\)"):
        fitted.pair_score(X[:4])
    with pytest.raises(ValueError, match=r"shape \(n_pairs, 2, n_features\)"):
        fitted.predict_pairs(np.stack([X[:4]] * 3, axis=1))
    with pytest.raises(ValueError, match="features"):
        fitted.pair_score(pairs[:, :, :10])
    with pytest.raises(ValueError, match="strategy"):
        fitted.calibrate_threshold(pairs, [0, 1, 1, 0], strategy="recall")


# ------------------------------------------------------- reproducibility
def test_fits_bit_identical_on_two_threads(small):
    """Same random_state, same model, when torch splits work across 2 threads."""
    from sklearn_siamese import SiameseEmbedder

    X, y = small
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast = {**FAST, "samples_per_epoch": 300}
        fits = [SiameseVerifier(**fast).fit(X, y) for _ in range(2)]
        embedders = [SiameseEmbedder(**fast).fit(X, y) for _ in range(2)]
    finally:
        torch.set_num_threads(threads)
    assert fits[0].history_[:, "train_loss"] == fits[1].history_[:, "train_loss"]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    np.testing.assert_array_equal(embedders[0].transform(X), embedders[1].transform(X))


# ------------------------------------------------- large reference sets
def test_class_logits_blocks_match_brute_force():
    from sklearn_siamese._reference_scoring import class_logits

    rng = np.random.default_rng(0)
    refs, queries = rng.normal(size=(40, 3)), rng.normal(size=(9, 3))
    sizes = [1, 12, 3, 20, 4]  # a class larger than a block of references
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    cross = lambda A, B: -np.abs(A[:, None] - B[None]).sum(-1)  # noqa: E731
    full = cross(queries, refs)
    expected = np.stack([full[:, s : s + n].max(1) for s, n in zip(starts, sizes)], axis=1)
    for block in (1, 5, 16, 10**6):
        np.testing.assert_array_equal(class_logits(cross, queries, refs, starts, block_elements=block), expected)


@pytest.mark.parametrize("loss", ["contrastive+bce", "contrastive"])
@pytest.mark.parametrize("prototypes", [False, True])
def test_chunked_scoring_equals_unchunked(fitted, small, monkeypatch, loss, prototypes):
    from sklearn_siamese import _reference_scoring

    X, y = small
    ver = fitted if loss == "contrastive+bce" else SiameseVerifier(**{**FAST, "loss": loss}).fit(X, y)
    ver = pickle.loads(pickle.dumps(ver)).set_params(prototypes=prototypes)
    ver.fit_references(X[:150], y[:150])  # 5 classes of about 30 references
    whole = [ver.decision_function(X), ver.predict_proba(X), ver.predict(X)]
    monkeypatch.setattr(_reference_scoring, "BLOCK_ELEMENTS", 7)
    chunked = [ver.decision_function(X), ver.predict_proba(X), ver.predict(X)]
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12) if a.dtype.kind == "f" else np.testing.assert_array_equal(a, b)


def test_prototypes_score_class_mean_embedding(fitted, small):
    X, y = small
    ver = pickle.loads(pickle.dumps(fitted)).set_params(prototypes=True)
    means = np.stack([ver.reference_embeddings_[ver.reference_labels_ == c].mean(0) for c in ver.classes_])
    queries = ver.embed(X[:10])
    expected = np.stack([ver.embedding_similarity(queries[i : i + 1], means)[0] for i in range(10)])
    np.testing.assert_allclose(ver.predict_proba(X[:10]).argmax(1), expected.argmax(1))
    np.testing.assert_allclose(_sigmoid(ver.decision_function(X[:10])), expected, rtol=1e-10)
    # With one reference per class the prototype is the reference.
    ver.fit_references(X[:5], y[:5])
    np.testing.assert_allclose(
        ver.decision_function(X[5:20]), ver.set_params(prototypes=False).decision_function(X[5:20]), rtol=1e-12
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"prototypes": "yes"}, "prototypes"),
        ({"loss": "koch"}, "loss"),
        ({"head": "l1"}, "head"),
        ({"max_references_per_class": 0}, "max_references"),
    ],
)
def test_bad_parameters_name_themselves(small, params, match):
    X, y = small
    with pytest.raises(ValueError, match=match):
        SiameseVerifier(**{**FAST, **params}).fit(X, y)


@pytest.mark.parametrize("loss", ["contrastive+bce", "bce", "contrastive"])
@pytest.mark.learns
def test_each_loss_fits_and_scores(small, held_out, loss):
    X, y = small
    ver = SiameseVerifier(**{**FAST, "loss": loss}).fit(X, y)
    has_head = hasattr(ver.net_.criterion_, "head")
    assert has_head == (loss != "contrastive")
    # Held-out samples of the 5 classes against the training references: 0.97-0.98 trained, 0.87-0.88 untrained.
    untrained = untrained_twin(ver).fit(X, y)
    assert ver.score(*held_out) > untrained.score(*held_out) + LEARNED_MARGIN


# -------------------------------------------------------------- open set
@pytest.fixture(scope="module")
def open_set(digits):
    """A verifier trained on digits 0-4; held-out probes of them; strangers of digits 5-9, split at random
    into a calibration half and a scored half (one population, so sampling alone separates their rates)."""
    X, y = digits
    known = np.flatnonzero(y < 5)
    train, probes = known[:450], known[450:]
    ver = SiameseVerifier(**FAST).fit(X[train], y[train])
    strangers = np.random.default_rng(0).permutation(np.flatnonzero(y >= 5))
    calibration, scored = np.sort(strangers[::2]), np.sort(strangers[1::2])
    return ver, (X[probes], y[probes]), (X[calibration], y[calibration]), (X[scored], y[scored])


def _copy(ver, **params):
    return pickle.loads(pickle.dumps(ver)).set_params(**params)


def test_outlier_label_none_always_answers_an_enrolled_class(open_set):
    ver, _, _, (X_strange, _) = open_set
    assert set(ver.predict(X_strange)) <= set(ver.classes_)


@pytest.mark.parametrize("far", [0.05, 0.2])
def test_calibrate_rejection_meets_the_target_on_new_strangers(open_set, far):
    ver, (X_known, y_known), (X_cal, y_cal), (X_strange, _) = open_set
    ver = _copy(ver, outlier_label=-1).calibrate_rejection(X_cal, y_cal, far=far)
    best = ver.match_proba(X_cal).max(axis=1)
    # The conformal rule on the calibration strangers: the most accepted with (k + 1) / (n + 1) <= far.
    assert np.sum(best >= ver.threshold_) == conformal_accepted(far, len(X_cal))
    empirical = _copy(ver).calibrate_rejection(X_cal, y_cal, far=far, rule="empirical")
    accepted = np.mean(best >= empirical.threshold_)
    assert accepted <= far < accepted + 1.5 / len(X_cal)
    # On strangers never seen, the measured rate is the target up to sampling error (tests/_far.py).
    measured = np.mean(ver.predict(X_strange) != -1)
    assert measured <= far + far_tolerance(far, len(X_cal), len(X_strange))
    # Known probes are mostly accepted, and as the right class.
    predicted = ver.predict(X_known)
    assert np.mean(predicted == y_known) > 0.5
    # Rejection is exactly "best match below threshold_", visible in match_proba.
    rejected = ver.match_proba(X_known).max(axis=1) < ver.threshold_
    np.testing.assert_array_equal(predicted == -1, rejected)
    np.testing.assert_array_equal(predicted[~rejected], _copy(ver, outlier_label=None).predict(X_known)[~rejected])


def test_match_proba_is_the_sigmoid_of_the_class_logits(open_set):
    ver, (X_known, _), _, _ = open_set
    proba = ver.match_proba(X_known[:20])
    np.testing.assert_allclose(proba, _sigmoid(ver.decision_function(X_known[:20])))
    # Unlike predict_proba, rows are not normalised, and rank classes alike.
    np.testing.assert_array_equal(proba.argmax(axis=1), ver.predict_proba(X_known[:20]).argmax(axis=1))


def test_open_set_score_counts_a_rejected_stranger_as_right(open_set):
    ver, (X_known, y_known), (X_cal, y_cal), (X_strange, _) = open_set
    ver = _copy(ver, outlier_label=-1).calibrate_rejection(X_cal, y_cal, far=0.1)
    X = np.concatenate([X_known, X_strange])
    y = np.concatenate([y_known, np.full(len(X_strange), -1)])
    assert ver.score(X, y) == pytest.approx(np.mean(ver.predict(X) == y))
    assert ver.score(X, y) > 0.5


def test_string_classes_take_a_string_outlier_label_and_score_with_it(open_set):
    ver, (X_known, y_known), (X_cal, y_cal), (X_strange, _) = open_set
    names = np.array(["zero", "one", "two", "three", "four"])
    # A number among string classes is refused, as RadiusNeighborsClassifier refuses it.
    with pytest.raises(TypeError, match=r"outlier_label=-1 is a number but the enrolled classes are strings"):
        _copy(ver, outlier_label=-1).fit_references(X_known[:50], names[y_known[:50]])
    ver = _copy(ver, outlier_label="unknown").fit_references(X_known[:50], names[y_known[:50]])
    ver.calibrate_rejection(X_cal, np.full(len(X_cal), "stranger"), far=0.1)
    predicted = ver.predict(X_strange)
    rejected = predicted == "unknown"
    assert rejected.mean() > 0.5  # calibrated to accept about 10% of strangers
    # score() takes y that labels strangers with the outlier label, with no "0 by construction" warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        score = ver.score(X_strange, np.full(len(X_strange), "unknown"))
    assert score == pytest.approx(rejected.mean())


def test_calibrate_threshold_far_on_pairs(open_set):
    ver, _, (X_cal, y_cal), _ = open_set
    pairs, same = make_pairs(X_cal, y_cal, n_pairs=400, random_state=0)
    ver = _copy(ver).calibrate_threshold(pairs, same, strategy="far", far=0.1)
    scores = ver.pair_score(pairs)
    false_accepts = np.mean(scores[same == 0] >= ver.threshold_)
    assert false_accepts <= 0.1
    # The lowest such threshold: the next different pair below it would exceed the target.
    below = np.sort(scores[(same == 0) & (scores < ver.threshold_)])[-1]
    assert np.mean(scores[same == 0] >= below) > 0.1
    np.testing.assert_array_equal(ver.predict_pairs(pairs), (scores >= ver.threshold_).astype(int))


def test_best_threshold_far_edges():
    # Far below 1 / n_different: nothing "different" accepted, just above its highest score.
    t = best_threshold([0.1, 0.2, 0.3], [0, 0, 0], "far", far=0.1)
    assert 0.3 < t < 0.3 + 1e-12
    # Only the different pairs set it: same-class scores do not move it.
    assert 0.2 < best_threshold([0.1, 0.2, 0.9], [0, 0, 1], "far", far=0.4) < 0.2 + 1e-12
    assert best_threshold([0.1, 0.2, 0.9], [0, 0, 1], "far", far=0.5) == pytest.approx(0.15)
    assert best_threshold([0.1, 0.2, 0.15, 0.9], [0, 0, 1, 1], "far", far=0.5) == pytest.approx(0.15)
    # Tied different scores are accepted or rejected together.
    assert best_threshold([0.1, 0.3, 0.3, 0.5], [0, 0, 0, 0], "far", far=0.5) == pytest.approx(0.4)


def test_fit_references_append_enrols_without_retraining(open_set, digits, tmp_path):
    from sklearn_siamese import load_weights, save_weights

    ver, (X_known, y_known), _, _ = open_set
    X, y = digits
    weights = [p.detach().clone() for p in ver.net_.module_.parameters()]
    before = ver.reference_embeddings_.copy()
    sevens = X[y == 7][:5]
    ver = _copy(ver).fit_references(sevens, np.full(5, 7), append=True)
    np.testing.assert_array_equal(ver.classes_, [0, 1, 2, 3, 4, 7])
    assert len(ver.reference_embeddings_) == len(before) + 5
    # The old references are kept as they were (grouped by class, 7 last).
    np.testing.assert_array_equal(ver.reference_embeddings_[: len(before)], before)
    assert all(torch.equal(a, b) for a, b in zip(weights, ver.net_.module_.parameters()))
    assert np.mean(ver.predict(X[y == 7][5:]) == 7) > 0.3  # 5 references against 50 of each other class; chance 1/6
    # More photos of an enrolled class join it.
    more = _copy(ver).fit_references(X_known[:3], y_known[:3], append=True)
    assert len(more.reference_embeddings_) == len(ver.reference_embeddings_) + 3
    np.testing.assert_array_equal(more.classes_, ver.classes_)
    # Kept through save_weights / load_weights and pickling.
    path = tmp_path / "ver.pt"
    save_weights(ver, path)
    loaded = load_weights(SiameseVerifier(**FAST), path)
    for restored in (loaded, pickle.loads(pickle.dumps(ver))):
        np.testing.assert_array_equal(restored.classes_, ver.classes_)
        np.testing.assert_array_equal(restored.reference_labels_, ver.reference_labels_)
        np.testing.assert_allclose(restored.reference_embeddings_, ver.reference_embeddings_)
        np.testing.assert_array_equal(restored.predict(X[:50]), ver.predict(X[:50]))


def test_outlier_label_of_an_enrolled_class_raises(open_set, small):
    ver, (X_known, y_known), _, _ = open_set
    X, y = small
    with pytest.raises(ValueError, match=r"outlier_label=3 is one of the enrolled classes"):
        SiameseVerifier(**FAST, outlier_label=3).fit(X, y)
    with pytest.raises(ValueError, match=r"outlier_label=3 is one of the enrolled classes"):
        _copy(ver, outlier_label=3).predict(X_known[:2])
    with pytest.raises(ValueError, match=r"outlier_label=9 is one of the enrolled classes"):
        _copy(ver, outlier_label=9).fit_references(X_known[:4], [0, 9, 0, 9])
    with pytest.raises(TypeError, match=r"outlier_label='unknown' is a string but the enrolled classes are numbers"):
        _copy(ver, outlier_label="unknown").predict(X_known[:2])


@pytest.mark.parametrize("far", [0, 1, 1.5, -0.1, "1%"])
def test_far_outside_0_1_raises(open_set, far):
    ver, _, (X_cal, y_cal), _ = open_set
    pairs, same = make_pairs(X_cal, y_cal, n_pairs=20, random_state=0)
    with pytest.raises(ValueError, match=r"The 'far' parameter of calibrate_rejection must be a float in the range \(0.0, 1.0\)"):
        _copy(ver).calibrate_rejection(X_cal, y_cal, far=far)
    with pytest.raises(ValueError, match=r"The 'far' parameter of best_threshold must be a float in the range \(0.0, 1.0\)"):
        _copy(ver).calibrate_threshold(pairs, same, strategy="far", far=far)


def test_calibration_rule_must_be_known(open_set):
    ver, _, (X_cal, y_cal), _ = open_set
    with pytest.raises(ValueError, match=r"The 'rule' parameter of calibrate_rejection must be a str among"):
        _copy(ver).calibrate_rejection(X_cal, y_cal, far=0.1, rule="quantile")


def test_calibration_without_unknowns_raises(open_set):
    ver, (X_known, y_known), _, _ = open_set
    with pytest.raises(ValueError, match="calibrate_rejection needs unknown probes"):
        _copy(ver).calibrate_rejection(X_known, y_known, far=0.1)
    pairs = np.stack([X_known[:5], X_known[:5]], axis=1)
    with pytest.raises(ValueError, match="strategy='far' needs 'different' pairs"):
        _copy(ver).calibrate_threshold(pairs, np.ones(5), strategy="far", far=0.1)


def test_references_of_the_wrong_feature_shape_raise(open_set):
    ver, (X_known, y_known), _, _ = open_set
    with pytest.raises(ValueError, match="X has 63 features, but SiameseVerifier is expecting 64 features"):
        _copy(ver).fit_references(X_known[:10, :63], y_known[:10], append=True)
    with pytest.raises(ValueError, match="X has 63 features, but SiameseVerifier is expecting 64 features"):
        _copy(ver).calibrate_rejection(X_known[:10, :63], np.full(10, -1), far=0.1)
    with pytest.raises(ValueError, match="give the new references labels of the same type"):
        _copy(ver).fit_references(X_known[:2], ["a", "b"], append=True)

def test_score_on_unseen_classes_warns_instead_of_a_silent_zero(digits):
    X, y = digits
    seen = y < 6
    ver = SiameseVerifier(**{**FAST, "max_epochs": 1}).fit(X[seen][:300], y[seen][:300])
    with pytest.warns(UserWarning, match=r"None of the 4 classes of y \(\[6, 7, 8, 9\]\) is among the 6 classes.*make_one_shot_scorer"):
        assert ver.score(X[~seen], y[~seen]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ver.score(X[seen][:50], y[seen][:50])  # seen classes: no warning


def test_refit_leaves_the_threshold_uncalibrated_and_trains_every_class(small):
    X, y = small
    params = {**FAST, "max_epochs": 3, "samples_per_epoch": 256, "validation_fraction": 0.4}
    plain = SiameseVerifier(**params).fit(X, y)
    ver = SiameseVerifier(**params, refit=True).fit(X, y)
    assert len(ver.validation_classes_) == 2 and len(ver.validation_history_) == plain.n_epochs_
    assert ver.threshold_ == 0.5 and plain.threshold_ != 0.5
    trained_rows = np.concatenate(list(ver.net_.get_params()["iterator_train__sampler"]))
    assert set(np.unique(y[trained_rows])) == set(np.unique(y))
