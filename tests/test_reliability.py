"""Bad input, training that goes wrong, interruption and resuming.

Every test is parametrised over ``ESTIMATORS`` so a new estimator class is
covered by adding it there.
"""

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from skorch.callbacks import Callback
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.pairs import check_pair_labels
from sklearn_siamese.persistence import EstimatorCheckpoint

ESTIMATORS = [SiameseEmbedder, SiameseVerifier]

# No held-out validation classes unless a test asks: warm starts continue
# exactly only without early stopping (its state is not carried over).
FAST = dict(
    encoder=MLPEncoder(hidden_sizes=(8,)), max_epochs=1, batch_size=8, validation_fraction=None, random_state=0, samples_per_epoch=64
)


def make(cls, **params):
    return cls(**{**FAST, **params})


def outputs(est, X):
    """Everything a fitted estimator computes from X, as one array."""
    out = [est.transform(X)] if hasattr(est, "transform") else []
    if hasattr(est, "predict_proba"):
        out.append(est.predict_proba(X))
    out.append(est.pair_distance(np.stack([X, X[::-1]], axis=1))[:, None])
    return np.hstack([np.asarray(o, dtype=np.float64).reshape(len(X), -1) for o in out])


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(10), 5)  # 10 classes: enough to hold 2 out for validation
    X = rng.normal(size=(len(y), 5)) + y[:, None]
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def fitted(request, data):
    X, y = data
    return make(request.param).fit(X, y)


# --------------------------------------------------------------- bad input
def _with(X, i, j, value):
    X = X.astype(np.float64)
    X[i, j] = value
    return X


class _NotTwoD(nn.Module):
    def forward(self, x):
        return x.unsqueeze(1)


class _Raises(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


class _Overflows(nn.Module):
    def forward(self, x):
        return x * 1e38 * 1e38


BAD_FIT = [
    # id, params, X(X, y), y(X, y), exception, match
    ("nan", {}, lambda X, y: _with(X, 0, 0, np.nan), None, ValueError,
     r"Input X contains NaN\. Siamese\w+ needs finite numbers.*SimpleImputer(?!.*HistGradientBoosting)"),
    ("inf", {}, lambda X, y: _with(X, 1, 2, np.inf), None, ValueError, "Input X contains infinity"),
    ("too-large", {}, lambda X, y: _with(X, 1, 2, 1e300), None, ValueError, "too large for dtype"),
    ("empty", {}, lambda X, y: X[:0], lambda X, y: y[:0], ValueError, r"0 sample\(s\)"),
    ("1-D", {}, lambda X, y: X[:, 0], None, ValueError, "Expected 2D array, got 1D array"),
    ("5-D", {}, lambda X, y: X[:, :, None, None, None], None, ValueError, "dim 5"),
    ("lengths", {}, None, lambda X, y: y[:-1], ValueError, "inconsistent numbers of samples"),
    ("one-class", {}, None, lambda X, y: np.zeros(len(y)), ValueError, "at least 2 classes.*y has 1 class"),
    ("singletons", {}, None, lambda X, y: np.arange(len(y)), ValueError, "every class in y has a single sample"),
    ("y-continuous", {}, None, lambda X, y: np.linspace(0, 1, len(y)), ValueError, "Unknown label type"),
    ("y-2-D", {}, None, lambda X, y: np.c_[y, y], ValueError, "y should be a 1d array"),
    ("y-nan", {}, None, lambda X, y: np.where(y == 0, np.nan, y), ValueError, "Input y contains NaN"),
    ("strings", {}, lambda X, y: np.full(X.shape, "a"), None, ValueError, "X must hold numbers only"),
    ("objects", {}, lambda X, y: np.array([[{}] * 5] * len(y), dtype=object), None, TypeError,
     "X must hold numbers only"),
    ("ragged", {}, lambda X, y: [[1.0, 2.0]] + [[1.0]] * (len(y) - 1), None, ValueError, "X must hold numbers only"),
    ("complex", {}, lambda X, y: X + 1j, None, ValueError, "X has complex values.*X.real"),
    ("sparse-conv", {"encoder": "conv"}, lambda X, y: sp.csr_matrix(X), None, ValueError,
     r"X is a sparse matrix, but encoder='conv' reads rows as images.*encoder='mlp'"),
    ("sparse-image_shape", {"image_shape": (5, 1)}, lambda X, y: sp.csr_matrix(X), None, ValueError,
     r"X is a sparse matrix, which holds no images, but image_shape=\(5, 1\)"),
    ("sparse-nan", {}, lambda X, y: sp.csr_matrix(_with(X, 1, 2, np.nan)), None, ValueError, "Input X contains NaN"),
    ("sparse-too-large", {}, lambda X, y: sp.csr_matrix(_with(X, 1, 2, 1e300)), None, ValueError, "too large for dtype"),
    ("input_shape", {"encoder": ConvEncoder(input_shape=(3, 3))}, None, None, ValueError,
     "input_shape=.*9 values but X has 5 features"),
    ("encoder-3-D", {"encoder": _NotTwoD(), "embedding_dim": None}, None, None, ValueError,
     r"_NotTwoD must return a 2-D tensor.*\(2, 5\).*\(2, 1, 5\)"),
    ("embedding_dim", {"encoder": nn.Linear(5, 4), "embedding_dim": 3}, None, None, ValueError,
     "Linear outputs 4 features but embedding_dim=3"),
    ("encoder-raises", {"encoder": _Raises()}, None, None, ValueError,
     r"encoder _Raises failed on a batch of shape \(2, 5\).*boom"),
    ("encoder-wrong-input", {"encoder": nn.Linear(7, 4)}, None, None, ValueError,
     r"encoder Linear failed on a batch of shape \(2, 5\)"),
    ("encoder-returns", {"encoder": lambda n_features: "nope"}, None, None, TypeError, "not a torch.nn.Module"),
    ("encoder-nonfinite", {"encoder": _Overflows()}, None, None, ValueError,
     "encoder _Overflows returned NaN or infinite values.*StandardScaler"),
    ("negative-margin", {"margin": -1.0}, None, None, InvalidParameterError, r"'margin' parameter.*range \(0.0, inf\)"),
    ("zero-epochs", {"max_epochs": 0}, None, None, InvalidParameterError, r"'max_epochs' parameter.*\[1, inf\)"),
    ("unknown-loss", {"loss": "hinge"}, None, None, InvalidParameterError, "'loss' parameter.*among.*contrastive"),
    ("unknown-mining", {"mining": "easy"}, None, None, InvalidParameterError, "'mining' parameter.*among.*semihard"),
    ("unknown-encoder", {"encoder": "resnet"}, None, None, InvalidParameterError, "'encoder' parameter.*mlp"),
    ("batch-too-small", {"batch_size": 2}, None, None, InvalidParameterError, r"'batch_size' parameter.*\[4, inf\)"),
    ("batch-vs-K", {"batch_size": 6, "samples_per_class": 4}, None, None, ValueError,
     "batch_size=6 must hold at least 2 classes of samples_per_class=4"),
    ("negative-lr", {"lr": -0.1}, None, None, InvalidParameterError, "'lr' parameter"),
    ("device", {"device": "tpu9"}, None, None, ValueError, "device='tpu9' is not a torch device"),
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params, make_X, make_y, exc, match", [case[1:] for case in BAD_FIT], ids=[case[0] for case in BAD_FIT]
)
def test_fit_rejects_bad_input_before_training(cls, data, params, make_X, make_y, exc, match):
    X, y = data
    X_bad = make_X(X, y) if make_X else X
    y_bad = make_y(X, y) if make_y else y
    est = make(cls, **params)
    with pytest.raises(exc, match=match):
        est.fit(X_bad, y_bad)
    with pytest.raises(NotFittedError):  # a failed fit leaves no fitted-looking estimator
        est.pair_distance(np.stack([X, X], axis=1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_cuda_requested_without_cuda(cls, data):
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        make(cls, device="cuda").fit(*data)


BAD_TRANSFORM = [
    ("features", lambda X: X[:, :4], ValueError, "X has 4 features, but .* is expecting 5"),
    ("nan", lambda X: _with(X, 0, 0, np.nan), ValueError,
     r"Input X contains NaN\. Siamese\w+ needs finite numbers.*SimpleImputer(?!.*HistGradientBoosting)"),
    ("empty", lambda X: X[:0], ValueError, r"0 sample\(s\)"),
    ("1-D", lambda X: X[0], ValueError, "Expected 2D array"),
    ("complex", lambda X: X * 1j, ValueError, "X has complex values"),
    ("sparse-features", lambda X: sp.csr_matrix(X[:, :4]), ValueError, "X has 4 features, but .* is expecting 5"),
    ("strings", lambda X: np.full(X.shape, "x"), ValueError, "X must hold numbers only"),
    ("far-out", lambda X: np.full(X.shape, 3e38), ValueError, "NaN or infinite embeddings for .* rows"),
]


@pytest.mark.parametrize("make_X, exc, match", [c[1:] for c in BAD_TRANSFORM], ids=[c[0] for c in BAD_TRANSFORM])
def test_inference_rejects_bad_input(fitted, data, make_X, exc, match):
    X_bad = make_X(data[0])
    methods = [m for m in ("transform", "predict", "predict_proba") if hasattr(fitted, m)]
    for method in methods:
        if match.startswith("NaN or infinite") and fitted._inference_dtype == np.float64:
            # Inference in float64 (the verifier) does not overflow on these
            # values: the outcome must then be finite instead of an error.
            assert np.isfinite(np.asarray(getattr(fitted, method)(X_bad), dtype=float)).all()
            continue
        with pytest.raises(exc, match=match):
            getattr(fitted, method)(X_bad)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_inference_before_fit(cls, data):
    with pytest.raises(NotFittedError):
        make(cls).pair_distance(np.stack([data[0], data[0]], axis=1))


BAD_PAIRS = [
    ("2-D", lambda X: X, "pairs must have shape \\(n_pairs, 2, n_features\\), got shape \\(50, 5\\)"),
    ("three-sides", lambda X: np.stack([X, X, X], axis=1), "got shape \\(50, 3, 5\\)"),
    ("empty", lambda X: np.empty((0, 2, 5)), "pairs is empty"),
    ("features", lambda X: np.stack([X, X], axis=1)[:, :, :3], "pairs has 3 features, but .* is expecting 5"),
    ("nan", lambda X: np.stack([_with(X, 0, 0, np.nan), X], axis=1), "Input pairs contains NaN"),
    ("strings", lambda X: np.full((3, 2, 5), "a"), "pairs must hold numbers only"),
    ("complex", lambda X: np.stack([X, X], axis=1) * 1j, "pairs has complex values"),
    ("ragged", lambda X: [[[1.0] * 5, [1.0] * 4]], "pairs must be an array-like of shape"),
]


@pytest.mark.parametrize("make_pairs, match", [c[1:] for c in BAD_PAIRS], ids=[c[0] for c in BAD_PAIRS])
def test_pair_api_rejects_bad_pairs(fitted, data, make_pairs, match):
    pairs = make_pairs(data[0])
    for method in ("pair_distance", "pair_score", "predict_pairs"):
        if hasattr(fitted, method):
            with pytest.raises(ValueError, match=match):
                getattr(fitted, method)(pairs)


@pytest.mark.parametrize(
    "y_pairs, n_pairs, match",
    [
        ([0, 1, 2], None, r"only 1 \(same class\) and 0.*got \[2\]"),
        ([0.5, 1], None, r"got \[0.5\]"),
        (["same", "different"], None, "got \\['different', 'same'\\]"),
        ([[0, 1]], None, "y_pairs must be 1-D"),
        ([0, 1, 1], 2, "y_pairs has 3 labels but there are 2 pairs"),
    ],
)
def test_pair_labels_other_than_0_1(y_pairs, n_pairs, match):
    with pytest.raises(ValueError, match=match):
        check_pair_labels(y_pairs, n_pairs)


# --------------------------------------------------------- failing training
class _NaNWhenTraining(nn.Module):
    """Finite at the probe (eval mode), NaN once training starts."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 4)

    def forward(self, x):
        z = self.linear(x)
        return z * float("nan") if self.training else z


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params",
    [
        dict(lr=1e10, optimizer="sgd", normalize=False, max_epochs=3),
        dict(encoder=_NaNWhenTraining(), normalize=False, max_epochs=3),
    ],
    ids=["huge-lr", "nan-encoder"],
)
def test_nonfinite_loss_stops_with_clear_error(cls, data, params):
    X, y = data
    est = make(cls, **params)
    with pytest.raises(FloatingPointError, match=r"(loss|weight .*) became .* in epoch 1\b.*try a lower lr"):
        est.fit(X * 100, y)
    assert not hasattr(est, "net_")
    with pytest.raises(NotFittedError):
        est.pair_distance(np.stack([X, X], axis=1))


# ------------------------------------------------------------- interruption
class InterruptAt(Callback):
    """Raise KeyboardInterrupt once, at batch ``batch`` of epoch ``epoch`` (None: at epoch end)."""

    def __init__(self, epoch, batch=None, exception=KeyboardInterrupt):
        self.epoch = epoch
        self.batch = batch
        self.exception = exception

    def _fire(self):
        self.fired = True
        raise self.exception("interrupted by the test")

    def on_batch_end(self, net, training=False, **kwargs):
        if getattr(self, "fired", False) or self.batch is None or not training:
            return
        if len(net.history) == self.epoch and len(net.history[-1]["batches"]) == self.batch:
            self._fire()

    def on_epoch_end(self, net, **kwargs):
        if not getattr(self, "fired", False) and self.batch is None and len(net.history) == self.epoch:
            self._fire()


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_interrupt_mid_epoch_keeps_last_finished_epoch(cls, data):
    X, y = data
    interrupted = make(cls, max_epochs=3, callbacks=[InterruptAt(epoch=2, batch=2)]).fit(X, y)
    one_epoch = make(cls, max_epochs=1).fit(X, y)

    assert interrupted.interrupted_ is True
    assert interrupted.n_epochs_ == 1
    assert interrupted.history_[-1]["interrupted"] is True
    assert interrupted.history_[-1]["epoch"] == 2
    assert not any(row.get("interrupted") for row in interrupted.history_[:-1])
    # The weights are exactly those at the end of epoch 1, and usable.
    np.testing.assert_array_equal(outputs(interrupted, X), outputs(one_epoch, X))
    assert np.isfinite(outputs(interrupted, X)).all()


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_interrupt_in_first_epoch_gives_initial_weights(cls, data):
    X, y = data
    est = make(cls, max_epochs=2, callbacks=[InterruptAt(epoch=1, batch=1)]).fit(X, y)
    assert est.interrupted_ and est.n_epochs_ == 0
    assert np.isfinite(outputs(est, X)).all()


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_interrupt_between_epochs_is_a_normal_stop(cls, data):
    # Early stopping ends training the same way (KeyboardInterrupt at epoch end).
    X, y = data
    est = make(cls, max_epochs=3, callbacks=[InterruptAt(epoch=1)]).fit(X, y)
    assert est.interrupted_ is False and est.n_epochs_ == 1
    np.testing.assert_array_equal(outputs(est, X), outputs(make(cls, max_epochs=1).fit(X, y), X))


# ----------------------------------------------------------------- resuming
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "params",
    [
        dict(validation_fraction=None),
        dict(validation_fraction=0.2, early_stopping=False, refit=False),
        dict(mining="random_pairs", validation_fraction=None),
        dict(validation_fraction=None, lr_schedule="cosine"),
    ],
    ids=["no-validation", "validation", "random-pairs", "cosine-schedule"],
)
def test_resume_after_interrupt_equals_uninterrupted_run(cls, data, params):
    X, y = data
    full = make(cls, max_epochs=3, **params).fit(X, y)
    est = make(cls, max_epochs=3, callbacks=[InterruptAt(epoch=2, batch=3)], **params).fit(X, y)
    assert est.interrupted_
    est.set_params(warm_start=True).fit(X, y)

    assert est.interrupted_ is False and est.n_epochs_ == 3
    np.testing.assert_array_equal(est.history_[:, "train_loss"], full.history_[:, "train_loss"])
    np.testing.assert_array_equal(outputs(est, X), outputs(full, X))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_resume_from_checkpoint_file_after_crash(cls, data, tmp_path):
    X, y = data
    path = tmp_path / "checkpoint.joblib"
    full = make(cls, max_epochs=3).fit(X, y)
    crashing = make(cls, max_epochs=3, callbacks=[EstimatorCheckpoint(path), InterruptAt(2, exception=RuntimeError)])
    with pytest.raises(RuntimeError, match="interrupted by the test"):
        crashing.fit(X, y)
    assert not hasattr(crashing, "net_")

    resumed = joblib.load(path)  # a file we wrote ourselves: safe to unpickle
    assert resumed.n_epochs_ == 2
    resumed.set_params(warm_start=True).fit(X, y)
    assert resumed.n_epochs_ == 3
    np.testing.assert_array_equal(outputs(resumed, X), outputs(full, X))
    # The checkpoint follows the resumed fit too, and does not hold the training data.
    assert joblib.load(path).n_epochs_ == 3
    assert joblib.load(path).net_.train_split is None


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_warm_start_more_epochs_and_errors(cls, data):
    X, y = data
    est = make(cls, max_epochs=1, warm_start=True).fit(X, y)
    before = outputs(est, X)
    est.fit(X, y)  # already at max_epochs: nothing to do
    assert est.n_epochs_ == 1
    np.testing.assert_array_equal(outputs(est, X), before)

    est.set_params(max_epochs=2).fit(X, y)
    assert est.n_epochs_ == 2 and len(est.history_) == 2
    assert not np.array_equal(outputs(est, X), before)

    with pytest.raises(ValueError, match="max_epochs=1 must be >= the 2 epochs already run"):
        est.set_params(max_epochs=1).fit(X, y)
    est.set_params(max_epochs=2)
    with pytest.raises(ValueError, match="warm_start=True.*y has classes"):
        est.fit(X, y + 10)
    with pytest.raises(ValueError, match="same 50 samples"):
        est.fit(X[:-1], y[:-1])
    with pytest.raises(ValueError, match="X has 4 features"):
        est.fit(X[:, :4], y)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_fitted_estimator_does_not_carry_training_data(cls, data):
    est = make(cls, validation_fraction=0.2).fit(*data)
    assert est.net_.train_split is None
    assert est.validation_classes_.size == 2  # a validation split was used
    import pickle

    X = data[0]
    assert X.tobytes() not in pickle.dumps(est)
