"""Property-based tests: random shapes, dtypes and label layouts.

Every call either succeeds with finite outputs of the right shape, or raises
one of our clear errors (``ValueError``/``TypeError``/``FloatingPointError``
raised from sklearn_siamese or scikit-learn's validation, with a message);
never an exception from inside torch or numpy. An error is a pass only for
input that an independent judge (the ``*_is_valid`` functions below, written
from the documented contract, not from the code) calls invalid: valid input
must succeed, and each property's run must have met valid input (counted
with ``require_successes``).
"""

import functools
import os

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.utils.multiclass import type_of_target

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.pairs import check_pair_labels

ESTIMATORS = [SiameseEmbedder, SiameseVerifier]
PER_ESTIMATOR = pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)

FAST = dict(
    encoder=MLPEncoder(hidden_sizes=(4,)), max_epochs=1, batch_size=4, samples_per_class=2, random_state=0, samples_per_epoch=32
)
N_FEATURES = 3

SETTINGS = dict(
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Floats are the common case, so they are drawn more often.
DTYPES = ["float32", "float64", "float32", "float64", "int64", "bool", "object", "complex128"]


def _elements(dtype):
    if dtype in ("float32", "float64"):
        return st.floats(-100, 100, width=32)
    if dtype == "int64":
        return st.integers(-100, 100)
    if dtype == "bool":
        return st.booleans()
    if dtype == "complex128":
        return st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False)
    return st.one_of(st.floats(-10, 10), st.integers(-10, 10), st.text(max_size=2), st.none())


@st.composite
def arrays(draw, shape):
    """An array of the given shape with a random dtype, sometimes poisoned with NaN/inf."""
    dtype = draw(st.sampled_from(DTYPES))
    X = draw(hnp.arrays(np.dtype(dtype), shape, elements=_elements(dtype)))
    if dtype.startswith("float") and X.size and draw(st.integers(0, 4)) == 0:
        X.flat[draw(st.integers(0, X.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return X


@st.composite
def shapes(draw, max_rows=12, n_features=None):
    ndim = draw(st.sampled_from([2, 2, 2, 2, 1, 3]))
    rows = draw(st.sampled_from([0, 1]) | st.integers(4, max_rows))
    if ndim == 1:
        return (rows,)
    cols = n_features if n_features is not None and draw(st.integers(0, 3)) else draw(st.integers(0, 4))
    return (rows, cols) if ndim == 2 else (rows, cols, draw(st.integers(1, 2)))


@st.composite
def labels(draw, n):
    """Labels for n samples: ints or strings, 1 to 4 classes, singletons allowed; sometimes a wrong length."""
    n_classes = draw(st.integers(1, 4))
    codes = draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    names = draw(
        st.sampled_from(
            [np.arange(10, 14), np.array(["a", "b", "c", "d"]), np.arange(4.0), np.array([-1.5, 0, 2, 7.0])]
        )
    )
    y = names[np.asarray(codes, dtype=int)] if n else names[:0]
    if draw(st.integers(0, 9)) == 9:
        y = y[:-1] if n else names[:1]
    return y


def assert_clear_error(exc):
    """Our error or scikit-learn validation's, with a message; not one from torch/numpy internals."""
    assert isinstance(exc, (ValueError, TypeError, FloatingPointError)), repr(exc)
    assert str(exc).strip(), "the error has no message"
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    origin = tb.tb_frame.f_code.co_filename
    assert f"{os.sep}sklearn_siamese{os.sep}" in origin or f"{os.sep}sklearn{os.sep}" in origin, (origin, exc)


# Successes per property, counted across its examples (hypothesis runs them all in one test call).
SUCCESSES = {}
RUNNING = []  # the property require_successes is running


def outcome(call, valid):
    """Result of ``call()``, or None after checking that it failed clearly on input ``valid`` says is invalid."""
    try:
        result = call()
    except (ValueError, TypeError, FloatingPointError) as exc:
        assert not valid, f"valid input was refused: {exc!r}"
        assert_clear_error(exc)
        event(f"{type(exc).__name__}: {str(exc)[:40]}")
        return None
    event("success")
    SUCCESSES[RUNNING[-1]] = SUCCESSES.get(RUNNING[-1], 0) + 1
    return result


def require_successes(test):
    """Run the hypothesis ``test`` and require that at least one of its examples succeeded."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        SUCCESSES.pop(test.__name__, None)
        RUNNING.append(test.__name__)
        try:
            test(*args, **kwargs)
        finally:
            RUNNING.pop()
        assert SUCCESSES.get(test.__name__, 0) > 0, f"{test.__name__}: no example succeeded"

    return wrapper


def drawn(max_examples):
    """A property over ``data`` (hypothesis draws), run ``max_examples`` times, at least one succeeding."""

    def decorate(test):
        return require_successes(settings(max_examples=max_examples, **SETTINGS)(given(data=st.data())(test)))

    return decorate


def _numbers(X):
    """Finite real numbers only (bool and ints included): what the estimators document they take."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        return False
    return X.dtype.kind != "f" or bool(np.isfinite(X).all())


def samples_is_valid(X, n_features=None):
    """Rows (n, d) or a stack of images (n, H, W) with at least one sample and one value, all finite numbers."""
    X = np.asarray(X)
    if X.ndim not in (2, 3) or min(X.shape) < 1 or not _numbers(X):
        return False
    return n_features is None or int(np.prod(X.shape[1:])) == n_features


def labels_is_valid(y, n):
    """One class label per sample, classes (not continuous values), and a same- and a different-class pair."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n or type_of_target(y) not in ("binary", "multiclass"):
        return False
    counts = np.unique(y, return_counts=True)[1]
    return len(counts) >= 2 and counts.max() >= 2


@functools.lru_cache(maxsize=None)
def fitted(cls):
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(4), 5)
    X = rng.normal(size=(len(y), N_FEATURES)) + y[:, None]
    return cls(**FAST).fit(X, y)


@PER_ESTIMATOR
@drawn(max_examples=25)
def test_fit_succeeds_or_fails_clearly(cls, data):
    X = data.draw(shapes().flatmap(arrays), label="X")
    y = data.draw(labels(X.shape[0] if X.ndim else 0), label="y")
    est = cls(**FAST)
    valid = samples_is_valid(X) and labels_is_valid(y, len(X))
    if outcome(lambda: est.fit(X, y), valid) is None:
        return
    out = est.transform(X) if hasattr(est, "transform") else est.predict_proba(X)
    assert out.shape[0] == X.shape[0]
    assert np.isfinite(out).all()
    assert est.n_epochs_ == 1 and not est.interrupted_


@PER_ESTIMATOR
@drawn(max_examples=40)
def test_inference_succeeds_or_fails_clearly(cls, data):
    est = fitted(cls)
    X = data.draw(shapes(n_features=N_FEATURES).flatmap(arrays), label="X")
    valid = samples_is_valid(X, N_FEATURES)
    for method in ("transform", "predict", "predict_proba", "decision_function"):
        if not hasattr(est, method):
            continue
        out = outcome(lambda: getattr(est, method)(X), valid)
        if out is not None:
            out = np.asarray(out)
            assert out.shape[0] == X.shape[0]
            if out.dtype.kind in "fc":
                assert np.isfinite(out).all()


@PER_ESTIMATOR
@drawn(max_examples=40)
def test_pair_api_succeeds_or_fails_clearly(cls, data):
    est = fitted(cls)
    n_pairs = data.draw(st.integers(0, 6), label="n_pairs")
    shape = data.draw(
        st.sampled_from([(n_pairs, 2, N_FEATURES)] * 5
                        + [(n_pairs, 3, N_FEATURES), (n_pairs, 2, 1), (n_pairs, N_FEATURES), (n_pairs, 2, N_FEATURES, 1)]),
        label="shape",
    )
    pairs = data.draw(arrays(shape), label="pairs")
    # (n, 2, d) rows, or (n, 2, H, W) images of d values; at least one pair.
    valid = n_pairs > 0 and pairs.ndim in (3, 4) and pairs.shape[1] == 2 and samples_is_valid(
        pairs.reshape(2 * n_pairs, -1), N_FEATURES
    )
    for method in ("pair_distance", "pair_score", "predict_pairs"):
        if not hasattr(est, method):
            continue
        out = outcome(lambda: getattr(est, method)(pairs), valid)
        if out is not None:
            assert np.asarray(out).shape == (n_pairs,)
            assert np.isfinite(np.asarray(out, dtype=float)).all()


@require_successes
@settings(max_examples=60, **SETTINGS)
@given(y_pairs=st.integers(0, 5).flatmap(lambda n: arrays((n,)) | arrays((n, 2))))
def test_pair_labels_succeed_or_fail_clearly(y_pairs):
    valid = y_pairs.ndim == 1 and _numbers(y_pairs) and set(np.unique(y_pairs).tolist()) <= {0, 1}
    out = outcome(lambda: check_pair_labels(y_pairs), valid)
    if out is not None:
        assert out.ndim == 1 and set(np.unique(out)) <= {0, 1}


@PER_ESTIMATOR
@drawn(max_examples=15)
def test_fit_on_valid_arrays_with_any_label_layout(cls, data):
    """Well-formed X, random label layouts (one class, singletons, strings, floats, few samples)."""
    n = data.draw(st.integers(2, 12), label="n")
    d = data.draw(st.integers(1, 4), label="d")
    dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "bool"]), label="dtype")
    X = data.draw(hnp.arrays(np.dtype(dtype), (n, d), elements=_elements(dtype)), label="X")
    y = data.draw(labels(n), label="y")
    est = cls(**FAST)
    valid = samples_is_valid(X) and labels_is_valid(y, n)
    if outcome(lambda: est.fit(X, y), valid) is None:
        return
    out = est.transform(X) if hasattr(est, "transform") else est.predict_proba(X)
    assert out.shape[0] == n and np.isfinite(out).all()
    pair_out = est.pair_distance(np.stack([X, X[::-1]], axis=1))
    assert pair_out.shape == (n,) and np.isfinite(pair_out).all()
