"""Scorers for ``GridSearchCV(scoring=...)`` built on the metric functions."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..pairs import make_pairs
from ._one_shot import one_shot_accuracy
from ._open_set import dir_at_far, open_set_split, tar_at_far
from ._retrieval import mean_average_precision_at_r, precision_at_1
from ._verification import verification_accuracy, verification_roc_auc


class _SiameseScorer:
    """``scorer(estimator, X, y) -> float`` for ``GridSearchCV(scoring=...)``."""

    def __init__(self, name, func, **kwargs):
        self.name = name
        self.func = func
        self.kwargs = kwargs

    def __call__(self, estimator, X, y):
        return self.func(estimator, X, y, **self.kwargs)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.name}({args})"


# Classes per episode of make_one_shot_scorer(n_way="auto") when a fold has as many.
AUTO_N_WAY = 5


def _one_shot_from_samples(estimator, X, y, *, n_way, k_shot, n_queries, n_episodes, random_state):
    if n_way == "auto":
        _, counts = np.unique(np.asarray(y), return_counts=True)
        usable = int(np.sum(counts >= k_shot + n_queries))
        if usable < 2:
            raise ValueError(
                f"make_one_shot_scorer(n_way='auto') needs a validation fold with 2 or more classes of "
                f"k_shot + n_queries = {k_shot + n_queries} samples; this fold has {usable}. Use fewer "
                "folds, so that each holds more classes."
            )
        n_way = min(AUTO_N_WAY, usable)
    return one_shot_accuracy(
        estimator, X, y, n_way=n_way, k_shot=k_shot, n_queries=n_queries, n_episodes=n_episodes,
        random_state=random_state,
    )


@validate_params(
    {
        "n_way": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "k_shot": [Interval(Integral, 1, None, closed="left")],
        "n_queries": [Interval(Integral, 1, None, closed="left")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_one_shot_scorer(*, n_way="auto", k_shot=1, n_queries=1, n_episodes=100, random_state=0):
    """Scorer of N-way K-shot accuracy for ``GridSearchCV(scoring=...)``.

    Episodes are drawn from each validation fold with
    :func:`one_shot_accuracy`. The fixed default ``random_state`` makes
    every candidate face the same episodes of a fold, so differences come
    from the models. Use group-aware splitters (``GroupKFold`` with the
    class labels as groups) to validate on classes unseen in training.
    On the one-shot pipeline, ``make_pipeline(StandardScaler(),
    SiameseEmbedder(), KNeighborsClassifier(1))``, it scores the embedding
    the steps before the classifier produce, with each episode's support
    samples as the neighbours: the pipeline's own ``score`` (accuracy of
    the classifier fitted on the training classes) is 0 on folds of
    unseen classes.

    Parameters
    ----------
    n_way : int >= 2 or "auto", default="auto"
        Classes per episode. ``"auto"``: 5, or every class of the fold
        with ``k_shot + n_queries`` samples when it has fewer, so that
        any fold a class-disjoint splitter makes is scored (``GroupKFold(3)``
        over 6 classes leaves 2 per fold: 2-way episodes); a fold with
        fewer than 2 such classes raises a ``ValueError``. An int asks
        every fold for that many classes.
    k_shot, n_queries, n_episodes : int
        Passed to :func:`one_shot_accuracy`.
    random_state : int, RandomState instance or None, default=0
        Seeds the episodes.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning the mean episode accuracy.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = GridSearchCV(PCA(), {"n_components": [2, 16]}, cv=2,
    ...                       scoring=make_one_shot_scorer(n_episodes=20))
    >>> search.fit(X, y).best_params_
    {'n_components': 16}
    """
    return _SiameseScorer(
        "one_shot_scorer",
        _one_shot_from_samples,
        n_way=n_way,
        k_shot=k_shot,
        n_queries=n_queries,
        n_episodes=n_episodes,
        random_state=random_state,
    )


def _verification_from_samples(estimator, X, y, *, metric, n_pairs, threshold, random_state):
    pairs, same = make_pairs(X, y, n_pairs=n_pairs, random_state=random_state)
    if metric == "roc_auc":
        return verification_roc_auc(estimator, pairs, same)
    return verification_accuracy(estimator, pairs, same, threshold=threshold)


@validate_params(
    {
        # A str, checked in the body, whose message lists the metrics.
        "metric": [str],
        "n_pairs": [Interval(Integral, 1, None, closed="left")],
        "threshold": [Real, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_verification_scorer(metric="roc_auc", *, n_pairs=1000, threshold=None, random_state=0):
    """Scorer of pair verification for ``GridSearchCV(scoring=...)``.

    Balanced same / different pairs are drawn from each validation fold
    with :func:`~sklearn_siamese.pairs.make_pairs` and scored with
    :func:`verification_roc_auc` or :func:`verification_accuracy`.

    Parameters
    ----------
    metric : {"roc_auc", "accuracy"}, default="roc_auc"
        ROC AUC is threshold-free and suits every model; accuracy uses
        ``threshold`` or the verifier's calibrated ``threshold_``.
    n_pairs : int, default=1000
        Pairs drawn per fold.
    threshold : float, default=None
        Threshold on the pair score for ``metric="accuracy"``.
    random_state : int, RandomState instance or None, default=0
        Seeds the pair draws (fixed, so candidates see the same pairs).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning the ROC AUC or the accuracy
        on the pairs drawn from the fold.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.decomposition import PCA
    >>> X, y = load_digits(return_X_y=True)
    >>> scores = cross_val_score(PCA(8), X, y, cv=2, scoring=make_verification_scorer())
    >>> bool((scores > 0.5).all())
    True
    """
    if metric not in ("roc_auc", "accuracy"):
        raise ValueError(f"metric must be 'roc_auc' or 'accuracy', got {metric!r}.")
    return _SiameseScorer(
        "verification_scorer",
        _verification_from_samples,
        metric=metric,
        n_pairs=n_pairs,
        threshold=threshold,
        random_state=random_state,
    )


_RETRIEVAL = {"map_at_r": mean_average_precision_at_r, "precision_at_1": precision_at_1}


@validate_params({"metric": [str]}, prefer_skip_nested_validation=True)  # its values: checked in the body
def make_retrieval_scorer(metric="map_at_r"):
    """Scorer of leave-one-out retrieval for ``GridSearchCV(scoring=...)``.

    Parameters
    ----------
    metric : {"map_at_r", "precision_at_1"}, default="map_at_r"
        :func:`mean_average_precision_at_r` or :func:`precision_at_1` over
        the samples of each validation fold.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning the metric over the fold's
        samples, each a query against the others.

    Examples
    --------
    >>> make_retrieval_scorer("precision_at_1")
    precision_at_1()
    """
    if metric not in _RETRIEVAL:
        raise ValueError(f"metric must be one of {sorted(_RETRIEVAL)}, got {metric!r}.")
    return _SiameseScorer(metric, _RETRIEVAL[metric])


def _tar_from_samples(estimator, X, y, *, far, n_pairs, random_state):
    pairs, same = make_pairs(X, y, n_pairs=n_pairs, random_state=random_state)
    return tar_at_far(estimator, pairs, same, far=far)


@validate_params(
    {
        "far": [Interval(Real, 0, 1, closed="neither")],
        "n_pairs": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_tar_at_far_scorer(far=0.01, *, n_pairs=2000, random_state=0):
    """Scorer of the true accept rate at a false-accept rate, for ``GridSearchCV(scoring=...)``.

    Balanced same / different pairs are drawn from each validation fold
    with :func:`~sklearn_siamese.pairs.make_pairs` and scored with
    :func:`tar_at_far`.

    Parameters
    ----------
    far : float in (0, 1), default=0.01
        Target false-accept rate.
    n_pairs : int, default=2000
        Pairs drawn per fold; half are different-class pairs, so the
        false-accept rate moves in steps of ``2 / n_pairs``.
    random_state : int, RandomState instance or None, default=0
        Seeds the pair draws (fixed, so candidates see the same pairs).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning TAR at ``far``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import cross_val_score
    >>> X, y = load_digits(return_X_y=True)
    >>> scores = cross_val_score(PCA(8), X, y, cv=2, scoring=make_tar_at_far_scorer(0.1))
    >>> bool((scores > 0.1).all())
    True
    """
    return _SiameseScorer("tar_at_far_scorer", _tar_from_samples, far=far, n_pairs=n_pairs, random_state=random_state)


def _dir_from_samples(estimator, X, y, *, far, n_references, unknown_fraction, random_state):
    gallery, probes = open_set_split(
        y, n_references=n_references, unknown_fraction=unknown_fraction, random_state=random_state
    )
    return dir_at_far(estimator, X[gallery], y[gallery], X[probes], y[probes], far=far)


@validate_params(
    {
        "far": [Interval(Real, 0, 1, closed="neither")],
        "n_references": [Interval(Integral, 1, None, closed="left")],
        "unknown_fraction": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_dir_at_far_scorer(far=0.01, *, n_references=1, unknown_fraction=0.5, random_state=0):
    """Scorer of open-set identification (DIR at a FAR), for ``GridSearchCV(scoring=...)``.

    Each validation fold is split by class: a fraction ``unknown_fraction``
    of its classes are strangers, the others are enrolled with
    ``n_references`` samples each in the gallery, and every other sample is
    a probe; the score is :func:`dir_at_far`. Validate on classes unseen in
    training with a group-aware splitter (``GroupKFold`` with the class
    labels as groups).

    Parameters
    ----------
    far : float in (0, 1), default=0.01
        Target fraction of unknown probes accepted.
    n_references : int, default=1
        Gallery samples per enrolled class.
    unknown_fraction : float in (0, 1), default=0.5
        Fraction of each fold's classes that are not enrolled.
    random_state : int, RandomState instance or None, default=0
        Seeds the split (fixed, so candidates see the same galleries).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` returning DIR at ``far``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> X, y = load_digits(return_X_y=True)
    >>> search = GridSearchCV(PCA(), {"n_components": [2, 16]}, cv=2,
    ...                       scoring=make_dir_at_far_scorer(0.1))
    >>> search.fit(X, y).best_params_
    {'n_components': 16}
    """
    return _SiameseScorer(
        "dir_at_far_scorer",
        _dir_from_samples,
        far=far,
        n_references=n_references,
        unknown_fraction=unknown_fraction,
        random_state=random_state,
    )
