"""Pair verification: pair scores, thresholded accuracy, ROC AUC, seen / unseen protocol."""

from numbers import Integral, Real

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_consistent_length

from .._training.checks import check_samples, flatten_pairs
from ..pairs import THRESHOLD_STRATEGIES, best_threshold, check_pair_labels, make_pairs
from ._adapter import _split_pipeline


@validate_params({"estimator": "no_validation", "pairs": ["array-like"]}, prefer_skip_nested_validation=True)
def pair_scores(estimator, pairs):
    """Similarity score of each pair (higher = more alike).

    The verifier's probability of "same" (its ``pair_score``), the
    embedder's negated embedding distance (its ``pair_score``), or the
    negated euclidean distance of a transformer's output or of the raw
    features (``estimator=None``).

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose similarity is used.
    pairs : array-like of shape (n_pairs, 2, n_features)
        The pairs; ``pairs[:, 0]`` and ``pairs[:, 1]`` are the two sides.
        Pairs of images, ``(n_pairs, 2, H, W)``, ``(n_pairs, 2, C, H, W)``
        or ``(n_pairs, 2, H, W, C)``, are compared as their flattened rows.

    Returns
    -------
    scores : ndarray of shape (n_pairs,)
        One score per pair.

    Examples
    --------
    >>> import numpy as np
    >>> pair_scores(None, np.array([[[0, 0], [3, 4]]]))
    array([-5.])
    """
    pairs = flatten_pairs(pairs)
    if pairs.ndim != 3 or pairs.shape[1] != 2:
        raise ValueError(
            f"pairs must have shape (n_pairs, 2, n_features), got shape {pairs.shape}. "
            "Stack the two sides with np.stack([X1, X2], axis=1)."
        )
    n_pairs, _, n_features = pairs.shape
    if n_pairs == 0:
        raise ValueError("pairs is empty: at least one pair is required.")
    flat = pairs.reshape(2 * n_pairs, n_features)
    final, flat = _split_pipeline(estimator, flat)
    if final is not None and hasattr(final, "pair_score"):
        flat = np.asarray(flat)
        return np.asarray(final.pair_score(flat.reshape(n_pairs, 2, -1)), dtype=np.float64)
    E = np.asarray(flat if final is None else final.transform(flat), dtype=np.float64)
    return -np.linalg.norm(E[0::2] - E[1::2], axis=1)


def _resolve_threshold(estimator, threshold):
    if threshold is not None:
        return float(threshold)
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if hasattr(final, "threshold_"):
        return float(final.threshold_)
    what = "raw features (estimator=None)" if final is None else type(final).__name__
    raise ValueError(
        "threshold=None needs an estimator with a calibrated threshold_ (a SiameseVerifier); "
        f"for {what} pass a threshold on the pair score (higher = more alike; "
        "for an embedder or raw features that is the negated distance, e.g. threshold=-0.5 "
        "means 'same when the distance is at most 0.5'), or calibrate one with "
        "sklearn_siamese.pairs.best_threshold."
    )


@validate_params(
    {"estimator": "no_validation", "pairs": ["array-like"], "y_pairs": ["array-like"], "threshold": [Real, None]},
    prefer_skip_nested_validation=True,
)
def verification_accuracy(estimator, pairs, y_pairs, *, threshold=None):
    """Accuracy of "same" / "different" decisions on labelled pairs.

    A pair is predicted "same" when its score (see :func:`pair_scores`) is
    at least ``threshold``.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose pair scores are thresholded.
    pairs : array-like of shape (n_pairs, 2, n_features)
        The pairs, e.g. from :func:`~sklearn_siamese.pairs.make_pairs`.
    y_pairs : array-like of shape (n_pairs,)
        1 for a same-class pair, 0 otherwise.
    threshold : float, default=None
        Threshold on the pair score. None uses the estimator's calibrated
        ``threshold_`` (a verifier); other models need one, e.g. from
        :func:`~sklearn_siamese.pairs.best_threshold` on calibration pairs.

    Returns
    -------
    accuracy : float
        Fraction of pairs decided correctly.

    Examples
    --------
    >>> import numpy as np
    >>> pairs = np.array([[[0.0], [0.1]], [[0.0], [2.0]]])
    >>> verification_accuracy(None, pairs, [1, 0], threshold=-1.0)
    1.0
    """
    scores = pair_scores(estimator, pairs)
    y_pairs = check_pair_labels(y_pairs, len(scores))
    threshold = _resolve_threshold(estimator, threshold)
    return float(np.mean((scores >= threshold) == y_pairs))


@validate_params(
    {"estimator": "no_validation", "pairs": ["array-like"], "y_pairs": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def verification_roc_auc(estimator, pairs, y_pairs):
    """Area under the ROC curve of the pair scores for "same class".

    Threshold-free: the probability that a random same-class pair scores
    higher than a random different-class pair (0.5 is chance).

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose pair scores are ranked.
    pairs : array-like of shape (n_pairs, 2, n_features)
        The pairs.
    y_pairs : array-like of shape (n_pairs,)
        1 for a same-class pair, 0 otherwise; both must occur.

    Returns
    -------
    auc : float
        ROC AUC in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> pairs = np.array([[[0.0], [0.1]], [[0.0], [2.0]], [[1.0], [1.5]]])
    >>> verification_roc_auc(None, pairs, [1, 0, 1])
    1.0
    """
    scores = pair_scores(estimator, pairs)
    y_pairs = check_pair_labels(y_pairs, len(scores))
    if len(np.unique(y_pairs)) < 2:
        raise ValueError("verification_roc_auc needs both same (1) and different (0) pairs in y_pairs.")
    return float(roc_auc_score(y_pairs, scores))


@validate_params(
    {
        "estimator": "no_validation",
        "X_seen": ["array-like"],
        "y_seen": ["array-like"],
        "X_unseen": ["array-like"],
        "y_unseen": ["array-like"],
        "threshold": [Real, None],
        # Checked in the body, whose message says what the tuple holds.
        "calibration": ["array-like", None],
        "strategy": [StrOptions({"accuracy", "f_beta", "max_tpr", "max_tnr"})],
        # Both kinds of pair in each set: the ROC AUC needs them.
        "n_pairs": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def seen_unseen_verification(
    estimator,
    X_seen,
    y_seen,
    X_unseen,
    y_unseen,
    *,
    threshold=None,
    calibration=None,
    strategy="accuracy",
    n_pairs=1000,
    random_state=None,
):
    """Verification on classes seen in training, unseen classes, and both.

    The protocol of siamese verification papers: balanced same / different
    pairs are drawn from held-out samples of the training ("seen") classes,
    from samples of classes never used in training ("unseen"), and from the
    union of both sets ("mixed", whose different-class pairs may pair a seen
    with an unseen class). Each set is scored with one fixed threshold, so
    the gap between "seen" and "unseen" measures how well the learned
    similarity transfers to new classes.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model to evaluate.
    X_seen : array-like of shape (n_seen, n_features)
        Test samples of classes seen in training (not the training samples).
    y_seen : array-like of shape (n_seen,)
        Their labels.
    X_unseen : array-like of shape (n_unseen, n_features)
        Samples of classes not seen in training.
    y_unseen : array-like of shape (n_unseen,)
        Their labels; none may occur in ``y_seen``.
    threshold : float, default=None
        Threshold on the pair score (see :func:`verification_accuracy`).
    calibration : tuple (pairs, y_pairs), default=None
        Labelled pairs (e.g. from validation data of the seen classes) on
        which the threshold is chosen with
        :func:`~sklearn_siamese.pairs.best_threshold`. At most one of
        ``threshold`` and ``calibration`` may be given; with neither, the
        estimator's own ``threshold_`` is used (a verifier).
    strategy : {"accuracy", "f_beta", "max_tpr", "max_tnr"}, default="accuracy"
        Criterion of the calibration (``best_threshold``'s default options).
    n_pairs : int, default=1000
        Pairs drawn for each of the three sets.
    random_state : int, RandomState instance or None, default=None
        Seeds the pair draws.

    Returns
    -------
    results : dict
        ``"threshold"`` and, for each set ``s`` in ``"seen"``, ``"unseen"``,
        ``"mixed"``: ``f"{s}_accuracy"`` and ``f"{s}_roc_auc"``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> seen = y < 5
    >>> res = seen_unseen_verification(None, X[seen], y[seen], X[~seen], y[~seen],
    ...                                threshold=-40.0, n_pairs=200, random_state=0)
    >>> sorted(res)[:3]
    ['mixed_accuracy', 'mixed_roc_auc', 'seen_accuracy']
    """
    X_seen = check_samples(X_seen, dtype=None, name="X_seen")
    X_unseen = check_samples(X_unseen, dtype=None, name="X_unseen")
    y_seen, y_unseen = np.asarray(y_seen), np.asarray(y_unseen)
    check_consistent_length(X_seen, y_seen)
    check_consistent_length(X_unseen, y_unseen)
    shared = np.intersect1d(y_seen, y_unseen)
    if len(shared):
        raise ValueError(
            f"y_seen and y_unseen share the classes {shared[:5].tolist()}; unseen classes must be "
            "classes the estimator was not trained on."
        )
    if threshold is not None and calibration is not None:
        raise ValueError("Give at most one of threshold and calibration.")
    if strategy not in THRESHOLD_STRATEGIES:
        raise ValueError(f"strategy must be one of {THRESHOLD_STRATEGIES}, got {strategy!r}.")
    if calibration is not None:
        try:
            cal_pairs, cal_labels = calibration
        except (TypeError, ValueError) as exc:
            raise ValueError("calibration must be a tuple (pairs, y_pairs).") from exc
        threshold = best_threshold(pair_scores(estimator, cal_pairs), cal_labels, strategy)
    threshold = _resolve_threshold(estimator, threshold)

    rng = check_random_state(random_state)
    sets = {
        "seen": (X_seen, y_seen),
        "unseen": (X_unseen, y_unseen),
        "mixed": (np.concatenate([X_seen, X_unseen]), np.concatenate([y_seen, y_unseen])),
    }
    results = {"threshold": threshold}
    for name, (X, y) in sets.items():
        pairs, same = make_pairs(X, y, n_pairs=n_pairs, random_state=rng)
        scores = pair_scores(estimator, pairs)
        results[f"{name}_accuracy"] = float(np.mean((scores >= threshold) == same))
        results[f"{name}_roc_auc"] = float(roc_auc_score(same, scores))
    return results
