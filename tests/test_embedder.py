"""SiameseEmbedder: behaviour, scikit-learn integration, encoders."""

import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, LRScheduler
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from _learning import LEARNED_MARGIN, untrained_twin
from torch import nn

from sklearn_siamese import ConvEncoder, KochEncoder, MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.metrics import one_shot_accuracy

FAST = dict(encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=4, batch_size=32, random_state=0, samples_per_epoch=1024)
SEEN = [2, 3, 4, 5, 6, 7]


@pytest.fixture(scope="module")
def seen_unseen(digits):
    X, y = digits
    seen = np.isin(y, SEEN)
    return X[seen], y[seen], X[~seen], y[~seen]


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return SiameseEmbedder(**FAST).fit(X[:600], y[:600])


def test_transform_shape_dtype_and_fit_transform(digits, fitted):
    X, y = digits
    E = fitted.transform(X[:50])
    assert E.shape == (50, 32) and E.dtype == np.float32
    assert np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)  # normalize=True
    E2 = clone(fitted).fit_transform(X[:600], y[:600])
    # The same weights; rows embedded among 600 or 50: equal up to float32 rounding
    # (unit-norm embeddings, so the atol is on the values' scale).
    np.testing.assert_allclose(E2[:50], E, rtol=1e-5, atol=1e-6)


def test_same_random_state_identical_different_state_differs(digits):
    X, y = digits
    a = SiameseEmbedder(**FAST).fit(X[:300], y[:300]).transform(X[:20])
    b = SiameseEmbedder(**FAST).fit(X[:300], y[:300]).transform(X[:20])
    c = SiameseEmbedder(**{**FAST, "random_state": 1}).fit(X[:300], y[:300]).transform(X[:20])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_does_not_touch_global_rng(digits):
    X, y = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    SiameseEmbedder(**FAST).fit(X[:200], y[:200])
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_training_reduces_loss_and_records_history(digits):
    X, y = digits
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 6, "validation_fraction": 0.2, "early_stopping": False, "refit": False}).fit(X, y)
    train = emb.history_[:, "train_loss"]
    valid = emb.history_[:, "valid_loss"]
    assert len(train) == len(valid) == emb.n_epochs_ == 6
    assert train[-1] < train[0]
    assert len(emb.validation_classes_) == 2
    assert emb.n_features_in_ == 64 and list(emb.classes_) == list(range(10))


def test_validation_holds_out_whole_classes(digits):
    X, y = digits
    # The first run's model (refit=False): the held-out classes never trained.
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 1, "validation_fraction": 0.2, "refit": False}).fit(X, y)
    held = set(emb.validation_classes_)
    assert len(held) == 2
    valid_rows = emb.net_.get_params()["iterator_valid__sampler"].batches
    assert set(np.unique(y[np.concatenate(valid_rows)])) == held
    trained_rows = np.concatenate(list(emb.net_.get_params()["iterator_train__sampler"]))
    assert held.isdisjoint(np.unique(y[trained_rows]))


def test_no_validation_without_enough_classes(seen_unseen):
    # 6 classes: holding out 2 would leave fewer than 8 for training.
    X_seen, y_seen, _, _ = seen_unseen
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 2, "validation_fraction": "auto"}).fit(X_seen, y_seen)
    assert len(emb.validation_classes_) == 0
    assert "valid_loss" not in emb.history_[-1]


def test_early_stopping_restores_best_epoch(digits):
    X, y = digits
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 40, "n_iter_no_change": 2, "lr": 0.05, "refit": False, "validation_fraction": "auto"}).fit(X, y)
    # Early stopping watches leave-one-out 1-NN accuracy on the held-out classes.
    p_at_1 = np.array(emb.history_[:, "valid_precision_at_1"])
    assert emb.n_epochs_ < 40
    assert np.argmax(p_at_1) == len(p_at_1) - 3  # patience 2 after the best epoch
    held = np.isin(y, emb.validation_classes_)
    best_epoch_score = SiameseEmbedder.score(emb, X[held], y[held])
    assert best_epoch_score == pytest.approx(p_at_1.max())  # the best epoch's weights were restored


def test_refit_trains_every_class_for_the_epochs_validation_chose(digits):
    X, y = digits
    params = {**FAST, "max_epochs": 8, "n_iter_no_change": 2, "lr": 0.05, "validation_fraction": 0.2}
    first = SiameseEmbedder(**params, refit=False).fit(X, y)
    emb = SiameseEmbedder(**params).fit(X, y)  # refit=True, the default
    assert emb.refit is True
    best = int(np.argmax(first.history_[:, "valid_precision_at_1"])) + 1
    # The first run is the plain fit, kept with its validation diagnostics.
    assert emb.validation_history_[:, "valid_precision_at_1"] == first.history_[:, "valid_precision_at_1"]
    assert emb.validation_score_ == first.validation_score_
    np.testing.assert_array_equal(emb.validation_classes_, first.validation_classes_)
    # The second run trains that many epochs on every class, validation classes included.
    assert emb.n_epochs_ == best and len(emb.history_) == best
    assert "valid_precision_at_1" not in emb.history_[-1]
    trained_rows = np.concatenate(list(emb.net_.get_params()["iterator_train__sampler"]))
    assert set(emb.validation_classes_) <= set(np.unique(y[trained_rows]))
    assert not np.allclose(emb.transform(X[:20]), first.transform(X[:20]))


def test_refit_shares_max_time_with_the_first_run(digits, capsys):
    X, y = digits
    params = {**FAST, "max_epochs": 3, "validation_fraction": 0.2, "refit": True}
    # A budget the first run uses up: the second does not start, the first run's model stays.
    spent = SiameseEmbedder(**params, max_time=1e-3).fit(X, y)
    assert not hasattr(spent, "validation_history_") and "valid_precision_at_1" in spent.history_[-1]
    # An ample one: the second run gets what is left of it.
    capsys.readouterr()
    ample = SiameseEmbedder(**params, max_time=1000.0, verbose=1).fit(X, y)
    budget = dict(ample.net_.callbacks_)["time_budget"].seconds
    assert hasattr(ample, "validation_history_") and 0 < budget < 1000.0
    # verbose: the second run announces itself between the two runs' epoch tables.
    first_table, second_table = capsys.readouterr().out.split("refit: training every class (10, the 2 held out included)")
    assert "valid_precision_at_1" in first_table and "train_loss" in second_table and "s left of max_time" in second_table


def test_refit_under_max_time_expects_epochs_as_long_as_samples_per_epoch_makes_them(digits, monkeypatch):
    # 500 rows, 2 classes held out: ~400 first-run rows. With "auto" both
    # runs' epochs are 4,096 samples, so the second run's epochs take as long
    # as the first's; the estimate used to scale them by 500 / 400 and skip
    # a refit that fits.
    X, y = digits
    params = {**FAST, "max_epochs": 2, "validation_fraction": 0.2, "refit": True, "samples_per_epoch": "auto"}
    train_once = SiameseEmbedder._train_once
    budget, calls = 100.0, []

    def first_run_took(self, *args, **kwargs):
        train_once(self, *args, **kwargs)
        calls.append(kwargs.get("max_time"))
        epochs = getattr(dict(self.net_.callbacks_).get("early_stopping"), "best_epoch_", None) or self.n_epochs_
        ratio = 0.5 * epochs / len(self.history_)
        # Left of the budget: at least half the chosen epochs at the first
        # run's pace, less than that times 1.25.
        return budget * (1 / (1 + ratio) + 1 / (1 + 1.25 * ratio)) / 2

    monkeypatch.setattr(SiameseEmbedder, "_train_once", first_run_took)
    emb = SiameseEmbedder(**params, max_time=budget).fit(X[:500], y[:500])
    assert len(calls) == 2 and hasattr(emb, "validation_history_")


def test_refit_changes_nothing_when_no_class_is_held_out(digits):
    X, y = digits
    params = {**FAST, "max_epochs": 2, "validation_fraction": None}
    plain = SiameseEmbedder(**params).fit(X[:400], y[:400])
    refit = SiameseEmbedder(**params, refit=True).fit(X[:400], y[:400])
    np.testing.assert_array_equal(plain.transform(X[:20]), refit.transform(X[:20]))
    assert not hasattr(refit, "validation_history_")
    with pytest.raises(ValueError, match="'refit' parameter of SiameseEmbedder must be"):
        SiameseEmbedder(refit="yes").fit(X[:40], y[:40])


@pytest.mark.learns
@pytest.mark.parametrize("loss", ["contrastive", "triplet"])
@pytest.mark.parametrize("mining", ["all", "semihard", "hard", "random_pairs"])
def test_every_loss_and_mining_trains(digits, loss, mining):
    X, y = digits
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 2, "validation_fraction": None}, loss=loss, mining=mining)
    E = emb.fit(X[:400], y[:400]).transform(X[:400])
    assert np.isfinite(E).all()
    # Leave-one-out precision@1 on 300 held-out samples: 0.94-0.96 trained, 0.89 untrained.
    untrained = untrained_twin(emb).fit(X[:400], y[:400])
    assert emb.score(X[400:700], y[400:700]) > untrained.score(X[400:700], y[400:700]) + LEARNED_MARGIN


def test_cosine_distance(digits):
    X, y = digits
    emb = SiameseEmbedder(**FAST, distance="cosine", normalize=False).fit(X[:400], y[:400])
    pairs = np.stack([X[:5], X[5:10]], axis=1)
    Ea, Eb = emb.transform(X[:5]), emb.transform(X[5:10])
    cos = (Ea * Eb).sum(1) / np.linalg.norm(Ea, axis=1) / np.linalg.norm(Eb, axis=1)
    np.testing.assert_allclose(emb.pair_distance(pairs), 1 - cos, atol=1e-5)


def test_string_labels_and_singleton_class(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y[:300]]
    X_fit = np.vstack([X[:300], X[300:301]])
    y_fit = np.append(names, "lonely")  # a class with one sample serves as a negative
    emb = SiameseEmbedder(**FAST).fit(X_fit, y_fit)
    assert "lonely" in emb.classes_ and emb.classes_.dtype.kind == "U"


def test_label_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="at least 2 classes"):
        SiameseEmbedder(**FAST).fit(X[:10], np.zeros(10))
    with pytest.raises(ValueError, match="2 or more samples"):
        SiameseEmbedder(**FAST).fit(X[:5], np.arange(5))
    with pytest.raises(ValueError, match="Unknown label type"):
        SiameseEmbedder(**FAST).fit(X[:10], np.linspace(0, 1, 10))


def test_score_is_leave_one_out_1nn_accuracy(digits, fitted):
    X, y = digits
    Xs, ys = X[600:800], y[600:800]
    E = fitted.transform(Xs)
    d = ((E[:, None] - E[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert fitted.score(Xs, ys) == pytest.approx(np.mean(ys[d.argmin(1)] == ys))


def test_pair_distance_and_score(digits, fitted):
    X, _ = digits
    pairs = np.stack([X[:7], X[7:14]], axis=1)
    expected = np.linalg.norm(fitted.transform(X[:7]) - fitted.transform(X[7:14]), axis=1)
    np.testing.assert_allclose(fitted.pair_distance(pairs), expected, atol=1e-5)
    np.testing.assert_allclose(fitted.pair_score(pairs), -expected, atol=1e-5)
    with pytest.raises(ValueError, match="pairs must have shape"):
        fitted.pair_distance(X[:7])
    with pytest.raises(ValueError, match="features"):
        fitted.pair_distance(pairs[:, :, :10])


def test_pickle_round_trip(digits, fitted):
    X, _ = digits
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X[:30]), fitted.transform(X[:30]))


def test_clone_and_nested_encoder_params():
    emb = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(8,)), margin=0.5)
    params = emb.get_params()
    assert params["encoder__hidden_sizes"] == (8,) and params["margin"] == 0.5
    emb.set_params(encoder__hidden_sizes=(16, 4), margin=2.0)
    assert emb.encoder.hidden_sizes == (16, 4)
    cloned = clone(emb)
    assert cloned.encoder is not emb.encoder and cloned.encoder.hidden_sizes == (16, 4)


def test_set_output_pandas_and_feature_names(digits, fitted):
    X, _ = digits
    names = fitted.get_feature_names_out()
    assert list(names[:2]) == ["siameseembedder0", "siameseembedder1"] and len(names) == 32
    df = clone(fitted).set_output(transform="pandas").fit(X[:600], fitted.classes_[np.arange(600) % 10]).transform(X[:5])
    assert list(df.columns) == list(names)


@pytest.mark.learns
def test_pipeline_cross_val_score(digits):
    X, y = digits
    pipe = Pipeline(
        [("scale", StandardScaler()), ("embed", SiameseEmbedder(**FAST)), ("knn", KNeighborsClassifier(1))]
    )
    scores = cross_val_score(pipe, X[:600], y[:600], cv=3)
    # The 1-NN accuracy on each held-out third beats the same pipeline with an untrained embedder.
    untrained = cross_val_score(untrained_twin(pipe), X[:600], y[:600], cv=3)
    assert scores.mean() > untrained.mean() + LEARNED_MARGIN


@pytest.mark.learns
@pytest.mark.slow
def test_grid_search_over_margin_on_pipeline_and_alone(digits):
    X, y = digits
    pipe = make_pipeline(SiameseEmbedder(**{**FAST, "max_epochs": 2}), KNeighborsClassifier(1))
    search = GridSearchCV(pipe, {"siameseembedder__margin": [0.5, 1.5]}, cv=2).fit(X[:400], y[:400])
    mean_scores = search.cv_results_["mean_test_score"]
    # The margin reaches the embedder inside the pipeline, as the search sets it (clone + set_params);
    # the 1-NN accuracies of two margins may tie, the embeddings do not.
    a, b = (clone(pipe).set_params(siameseembedder__margin=m).fit(X[:200], y[:200]) for m in (0.5, 1.5))
    assert a[0].margin == 0.5 and not np.allclose(a[0].transform(X[:20]), b[0].transform(X[:20]))
    best = search.cv_results_["params"][np.argmax(mean_scores)]
    assert search.best_params_["siameseembedder__margin"] == best["siameseembedder__margin"]
    # Alone, the estimator's own score (leave-one-out precision@1) drives the search.
    alone = GridSearchCV(SiameseEmbedder(**FAST), {"margin": [0.1, 1.5]}, cv=2)
    alone.fit(X[:400], y[:400])
    alone_scores = alone.cv_results_["mean_test_score"]
    assert alone.best_estimator_.margin == alone.best_params_["margin"]
    assert alone.best_params_["margin"] == alone.cv_results_["params"][np.argmax(alone_scores)]["margin"]
    untrained = cross_val_score(untrained_twin(alone.best_estimator_), X[:400], y[:400], cv=2)
    assert alone.best_score_ > untrained.mean() + LEARNED_MARGIN


def test_grid_search_over_encoder_hyperparameters(digits):
    X, y = digits
    est = SiameseEmbedder(**{**FAST, "max_epochs": 1})
    search = GridSearchCV(est, {"encoder__hidden_sizes": [(8,), (16,)]}, cv=2).fit(X[:300], y[:300])
    assert search.best_estimator_.net_.module_.encoder[0].out_features == search.best_params_["encoder__hidden_sizes"][0]


@pytest.mark.learns
def test_one_shot_unseen_classes_with_frozen_embedder(seen_unseen):
    X_seen, y_seen, X_unseen, y_unseen = seen_unseen
    train, held_out = slice(0, None, 2), slice(1, None, 2)
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 10}).fit(X_seen[train], y_seen[train])
    frozen = FrozenEstimator(emb)
    rng = np.random.RandomState(0)
    support = np.array([rng.choice(np.flatnonzero(y_unseen == c)) for c in np.unique(y_unseen)])
    clf = make_pipeline(frozen, KNeighborsClassifier(1)).fit(X_unseen[support], y_unseen[support])
    query = np.setdiff1d(np.arange(len(y_unseen)), support)
    # Fitting the pipeline on the new classes' support leaves the embedder as it was.
    squared = ((emb.transform(X_unseen[query])[:, None] - emb.transform(X_unseen[support])[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(clf.predict(X_unseen[query]), y_unseen[support][np.argmin(squared, axis=1)])
    np.testing.assert_array_equal(frozen.transform(X_unseen[:5]), emb.transform(X_unseen[:5]))
    assert 0 <= one_shot_accuracy(emb, X_unseen, y_unseen, n_way=4, n_episodes=50, random_state=0) <= 1
    # An MLP trained on 6 digit classes for seconds transfers to the 4 others about as well as its
    # untrained twin (both near raw pixels), so what it learned is checked on held-out samples of
    # its own classes: the same 1-shot protocol, frozen embedder + 1-NN, against the twin.
    untrained = untrained_twin(emb).fit(X_seen[train], y_seen[train])
    kw = dict(n_way=6, n_episodes=100, random_state=0)
    assert one_shot_accuracy(emb, X_seen[held_out], y_seen[held_out], **kw) > one_shot_accuracy(
        untrained, X_seen[held_out], y_seen[held_out], **kw
    ) + LEARNED_MARGIN


def test_user_module_is_copied_not_mutated(digits):
    X, y = digits
    module = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8))
    before = [p.detach().clone() for p in module.parameters()]
    emb = SiameseEmbedder(module, max_epochs=2, random_state=0).fit(X[:300], y[:300])
    assert emb.embedding_dim_ == 8
    for p, q in zip(before, module.parameters()):
        assert torch.equal(p, q)
    assert emb.net_.module_.encoder is not module


def test_encoder_builder_callables(digits):
    X, y = digits

    def build(n_features, embedding_dim):
        return nn.Linear(n_features, embedding_dim)

    emb = SiameseEmbedder(build, embedding_dim=5, max_epochs=1, random_state=0).fit(X[:200], y[:200])
    assert emb.transform(X[:3]).shape == (3, 5)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(64, 6)

        def forward(self, x):
            return self.lin(x)

    assert SiameseEmbedder(Tiny, max_epochs=1, random_state=0).fit(X[:200], y[:200]).embedding_dim_ == 6


def test_encoder_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="outputs 8 features but embedding_dim=4"):
        SiameseEmbedder(nn.Linear(64, 8), embedding_dim=4).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="2-D tensor"):
        SiameseEmbedder(nn.Flatten(0), max_epochs=1).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match=r"encoder Linear failed on a batch of shape \(2, 64\)"):
        SiameseEmbedder(nn.Linear(10, 4)).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="input_shape"):
        SiameseEmbedder(ConvEncoder(input_shape=(28, 28))).fit(X[:50], y[:50])


def test_conv_encoder_on_8x8_digits(digits):
    X, y = digits
    emb = SiameseEmbedder(ConvEncoder(input_shape=(8, 8), channels=(8,)), max_epochs=2, random_state=0)
    assert emb.fit(X[:300], y[:300]).transform(X[:4]).shape == (4, 32)


def test_koch_encoder_shapes():
    module = KochEncoder().build(105 * 105, 16)
    with torch.no_grad():
        assert module(torch.rand(2, 105 * 105)).shape == (2, 16)
    with pytest.raises(ValueError, match="too small"):
        KochEncoder(input_shape=(20, 20)).build(400, 16)


def test_callbacks_are_used_and_not_mutated(digits):
    X, y = digits

    class CountEpochs(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = CountEpochs()
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 3, "refit": False}, callbacks=[counter, ("sched", sched)]).fit(X[:200], y[:200])
    assert not hasattr(counter, "epochs")  # the user's instance was copied
    used = dict(emb.net_.callbacks_)
    assert used["user_0_CountEpochs"].epochs == 3
    assert emb.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(FAST.get("lr", 1e-3) * 0.5**3)


def test_verbose_prints_progress(digits, capsys):
    X, y = digits
    SiameseEmbedder(**{**FAST, "max_epochs": 2}, verbose=1).fit(X[:200], y[:200])
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


def test_parameter_validation_messages(digits):
    X, y = digits
    with pytest.raises(ValueError, match="'margin' parameter"):
        SiameseEmbedder(margin=-1).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="'mining' parameter.*'semihard'"):
        SiameseEmbedder(mining="bogus").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="'loss' parameter"):
        SiameseEmbedder(loss="bce").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="must hold at least 2 classes"):
        SiameseEmbedder(batch_size=6, samples_per_class=4).fit(X[:50], y[:50])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_unavailable_is_a_clear_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="CUDA is not available"):
        SiameseEmbedder(device="cuda").fit(X[:50], y[:50])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_fit_and_transform(digits):
    X, y = digits
    emb = SiameseEmbedder(**FAST, device="cuda").fit(X[:300], y[:300])
    assert emb.transform(X[:5]).shape == (5, 32)


def test_instance_term_uses_two_views_and_changes_training(digits):
    X, y = digits
    sizes = []

    class RecordBatches(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training:
                sizes.append((len(batch[0]), bool(torch.equal(batch[1][: len(batch[1]) // 2], batch[1][len(batch[1]) // 2 :]))))

    params = {**FAST, "max_epochs": 2, "validation_fraction": None, "batch_size": 16}
    with_term = SiameseEmbedder(**params, instance_weight=0.5, callbacks=[RecordBatches()]).fit(X[:200], y[:200])
    assert {s for s, _ in sizes} == {32} and all(same for _, same in sizes)  # [view1; view2], same labels
    sizes.clear()
    without = SiameseEmbedder(**params, instance_weight=0.0, callbacks=[RecordBatches()]).fit(X[:200], y[:200])
    assert {s for s, _ in sizes} == {16}
    assert not np.allclose(with_term.transform(X[:5]), without.transform(X[:5]))
    # The recorded training loss includes the NT-Xent term, which is large (about log(2B)).
    assert with_term.history_[0, "train_loss"] > without.history_[0, "train_loss"] + 0.5


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
def test_optimizer_arguments_as_in_skorch(cls, digits):
    X, y = digits
    est = cls(**{**FAST, "max_epochs": 1}, optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    assert est.get_params()["optimizer__momentum"] == 0.9
    copy = clone(est)
    assert copy.optimizer__momentum == 0.9 and "optimizer__momentum=0.9" in repr(copy)
    copy.set_params(optimizer__momentum=0.5, optimizer__nesterov=True)
    assert copy.get_params(deep=False)["optimizer__nesterov"] is True and est.optimizer__momentum == 0.9
    est.fit(X[:300], y[:300])
    group = est.net_.optimizer_.param_groups[0]
    assert isinstance(est.net_.optimizer_, torch.optim.SGD) and group["momentum"] == 0.9
    assert pickle.loads(pickle.dumps(est)).optimizer__momentum == 0.9


def test_optimizer_arguments_are_searchable(digits):
    X, y = digits
    search = GridSearchCV(
        SiameseEmbedder(**{**FAST, "max_epochs": 1}, optimizer="sgd", optimizer__momentum=0.0),
        {"optimizer__momentum": [0.0, 0.9]},
        cv=2,
    ).fit(X[:300], y[:300])
    assert search.best_estimator_.net_.optimizer_.param_groups[0]["momentum"] == search.best_params_["optimizer__momentum"]
    assert len(search.cv_results_["params"]) == 2


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"optimizer": "adam", "optimizer__momentum": 0.9}, ValueError, r"optimizer__momentum: the optimizer Adam has no argument 'momentum'"),
        ({"optimizer__lr": 0.1}, ValueError, r"optimizer__lr is not accepted: set the estimator's lr parameter"),
        ({"optimizer__weight_decay": 0.1}, ValueError, r"set the estimator's weight_decay parameter"),
    ],
)
def test_bad_optimizer_arguments(digits, params, exc, match):
    X, y = digits
    with pytest.raises(exc, match=match):
        SiameseEmbedder(**FAST, **params).fit(X[:100], y[:100])


def test_unknown_keyword_argument_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentum'.*optimizer__<name>"):
        SiameseEmbedder(momentum=0.9)


# ------------------------------------------- the embedding against the input
def _loo_nearest_neighbour_accuracy(X, y):
    d = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return np.mean(y[d.argmin(axis=1)] == y)


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_fit_scores_the_embedding_against_the_input_features(digits, Estimator):
    X, y = digits
    est = Estimator(**FAST, validation_fraction="auto").fit(X[:600], y[:600])
    held = np.isin(y[:600], est.validation_classes_)  # fewer than 2,000 rows: all of them
    assert est.baseline_score_ == pytest.approx(_loo_nearest_neighbour_accuracy(X[:600][held], y[:600][held]))
    assert 0 <= est.validation_score_ <= 1
    if Estimator is SiameseEmbedder:  # its score is the same leave-one-out precision@1
        # Of the first run (the refit then trains the held-out classes too): its restored best epoch.
        assert est.validation_score_ == pytest.approx(max(est.validation_history_[:, "valid_precision_at_1"]))
        first = Estimator(**FAST, validation_fraction="auto", refit=False).fit(X[:600], y[:600])
        assert first.validation_score_ == est.validation_score_
        assert first.validation_score_ == pytest.approx(first.score(X[:600][held], y[:600][held]))


def test_an_embedding_worse_than_its_input_shows_in_the_scores(digits):
    X, y = digits
    # One epoch of 64 samples barely moves a random network; raw digits score about 0.99.
    est = SiameseEmbedder(**{**FAST, "max_epochs": 1, "samples_per_epoch": 64, "validation_fraction": 0.2}).fit(X[:600], y[:600])
    assert est.validation_score_ < est.baseline_score_


def test_no_validation_classes_no_scores(digits):
    X, y = digits
    est = SiameseEmbedder(**FAST).fit(X[:300], y[:300])  # validation_fraction=None, the default
    assert est.validation_fraction is None and len(est.validation_classes_) == 0
    assert est.validation_score_ is None and est.baseline_score_ is None


@pytest.mark.learns
def test_koch_encoder_fits_and_moves_its_weights():
    """Koch et al.'s network (65x65 is the smallest input its four convolutions take) trains end to end."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 6)
    X = (rng.random((len(y), 65, 65)) * 0.2 + (y[:, None, None] / 4)).astype(np.float32)
    emb = SiameseEmbedder(KochEncoder(), embedding_dim=16, max_epochs=1, batch_size=8, samples_per_epoch=32, random_state=0)
    E = emb.fit(X, y).transform(X)
    assert E.shape == (len(X), 16) and np.isfinite(E).all()
    assert any(isinstance(m, nn.Conv2d) and m.kernel_size == (10, 10) for m in emb.net_.module_.modules())  # Koch's first layer
    # Four optimiser steps moved the weights: the embedding differs from the untrained twin's.
    untrained = untrained_twin(emb).fit(X, y)
    assert np.abs(E - untrained.transform(X)).max() > 1e-3


def test_the_sampler_is_a_parameter_of_its_own(digits):
    """"auto" follows the miner (random pairs for mining="random_pairs"); it can also be chosen alone."""
    from sklearn_siamese.sampling import PKSampler, RandomPairSampler, RandomTripletSampler

    X, y = digits
    params = {**FAST, "max_epochs": 1, "samples_per_epoch": 128}

    def sampler_of(est):
        return type(est.fit(X[:200], y[:200]).net_.iterator_train__sampler.sampler)

    assert sampler_of(SiameseEmbedder(**params)) is PKSampler
    assert sampler_of(SiameseEmbedder(**params, mining="random_pairs")) is RandomPairSampler
    assert sampler_of(SiameseEmbedder(**params, sampler="random_pairs")) is RandomPairSampler  # mining="all" on them
    assert sampler_of(SiameseEmbedder(**params, loss="triplet", sampler="random_pairs")) is RandomTripletSampler
    assert sampler_of(SiameseEmbedder(**params, mining="random_pairs", sampler="pk")) is PKSampler
    with pytest.raises(ValueError, match="The 'sampler' parameter of SiameseEmbedder must be"):
        SiameseEmbedder(**params, sampler="balanced").fit(X[:200], y[:200])
