"""Labelled pairs for verification: drawing them, checking them, thresholds.

Pairs have shape ``(n_pairs, 2, n_features)``; pair labels are ``1`` for
"same class" and ``0`` for "different class".
"""

import warnings

from numbers import Integral, Real

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import roc_curve
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints, validate_params
from sklearn.utils.validation import check_array, check_consistent_length

from ._training.checks import can_form_pairs
from .sampling import RandomPairSampler

__all__ = ["best_threshold", "check_pair_labels", "make_pairs"]

THRESHOLD_STRATEGIES = ("accuracy", "f_beta", "max_tpr", "max_tnr", "far")


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "n_pairs": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_pairs(X, y, *, n_pairs=1000, random_state=None):
    """Draw balanced same-class / different-class pairs from labelled samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Samples.
    y : array-like of shape (n_samples,)
        Class labels; at least 2 classes, one of them with 2+ samples.
    n_pairs : int, default=1000
        Number of pairs; half (rounded up) are same-class pairs.
    random_state : int, RandomState instance or None, default=None
        Seeds the draw.

    Returns
    -------
    pairs : ndarray of shape (n_pairs, 2, n_features)
        The pairs, in a random order (seeded by ``random_state``): same-
        and different-class pairs are mixed, so any slice of them (e.g. a
        calibration and a test half) holds both kinds.
    y_pairs : ndarray of shape (n_pairs,)
        1 for a same-class pair, 0 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> pairs, same = make_pairs(np.eye(4), [0, 0, 1, 1], n_pairs=6, random_state=0)
    >>> pairs.shape, int(same.sum())
    ((6, 2, 4), 3)
    """
    X = check_array(X, allow_nd=True)
    y = np.asarray(y)
    check_consistent_length(X, y)
    idx, same = _pair_indices(y, n_pairs, random_state)
    return X[idx], same


def _pair_indices(y, n_pairs, random_state):
    """The pairs :func:`make_pairs` draws, as row indices ``(n_pairs, 2)``, and their labels."""
    _, codes = np.unique(y, return_inverse=True)
    if not can_form_pairs(codes):
        raise ValueError("make_pairs needs at least 2 classes and one class with 2 or more samples.")
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    sampler = RandomPairSampler(codes, batch_size=2 * n_pairs, rng=np.random.default_rng(seed), n_batches=1)
    idx = sampler._groups(n_pairs)
    # The sampler lists every same-class pair first; shuffled, a slice of the output stays balanced.
    idx = idx[np.random.default_rng(seed).permutation(len(idx))]
    return idx, (codes[idx[:, 0]] == codes[idx[:, 1]]).astype(int)


# How a threshold is set on calibration strangers for a target false-accept rate:
# "conformal" for strangers still to come (the open-set calibrations' default),
# "empirical" for the calibration strangers themselves (the measures, best_threshold).
FAR_RULES = ("conformal", "empirical")


def _far_threshold(negatives, far, midpoint=True, rule="empirical"):
    """Lowest threshold accepting at most a fraction ``far`` of the ``negatives`` (see best_threshold).

    ``midpoint=False`` returns the lowest such threshold itself, just above
    the first rejected negative: what a measure at a FAR uses, so that it
    equals the best point of the ROC curve at that rate.

    ``rule="conformal"`` aims at negatives still to come instead: of ``n``
    negatives it accepts ``k`` with ``(k + 1) / (n + 1) <= far``, the split
    conformal quantile (Vovk et al. 2005; Angelopoulos and Bates 2021). A
    new negative exchangeable with these is accepted when it ranks among
    the ``k + 1`` highest of the ``n + 1``, with probability at most
    ``far``; ``k / n <= far`` (``"empirical"``) is met on the calibration
    negatives but lets up to ``(n far + 1) / (n + 1)`` of new ones through.
    Both thresholds lie half way between the last accepted and the first
    rejected negative, which keeps the bound and does not hang on the last
    bit of a score recomputed in another precision.
    """
    if len(negatives) == 0:
        raise ValueError(
            "strategy='far' needs 'different' pairs (label 0) or unknown probes: the false-accept "
            "rate is measured on them, and there are none."
        )
    n = len(negatives)
    values, counts = np.unique(negatives, return_counts=True)
    values, accepted = values[::-1], np.cumsum(counts[::-1])  # accepted at threshold values[i]
    if rule == "conformal":
        feasible = np.flatnonzero((accepted + 1) / (n + 1) <= far)
    else:
        feasible = np.flatnonzero(accepted / n <= far)
    if not len(feasible):
        return float(np.nextafter(values[0], np.inf))
    i = feasible[-1]  # a strict subset: far < 1
    if not midpoint:
        return float(np.nextafter(values[i + 1], np.inf))
    return float((values[i] + values[i + 1]) / 2)


def _check_far(far, caller):
    """A target false-accept rate must be a number strictly between 0 and 1."""
    validate_parameter_constraints(
        {"far": [Interval(Real, 0, 1, closed="neither")]}, {"far": far}, caller_name=caller
    )
    return float(far)


@validate_params(
    {"y_pairs": ["array-like"], "n_pairs": [Interval(Integral, 0, None, closed="left"), None]},
    prefer_skip_nested_validation=True,
)
def check_pair_labels(y_pairs, n_pairs=None):
    """Validate pair labels: a 1-D array of 0 (different) and 1 (same).

    Parameters
    ----------
    y_pairs : array-like of shape (n_pairs,)
        Pair labels: 1 (or True) for a same-class pair, 0 (or False)
        otherwise.
    n_pairs : int, default=None
        Number of pairs the labels must match; None checks no length.

    Returns
    -------
    y_pairs : ndarray of shape (n_pairs,), dtype int
        The labels as integers 0 and 1.

    Raises
    ------
    ValueError
        If ``y_pairs`` is not 1-D, has another length than ``n_pairs``, or
        holds a value other than 0 and 1.

    Examples
    --------
    >>> check_pair_labels([True, False, 1.0])
    array([1, 0, 1])
    """
    y_pairs = np.asarray(y_pairs)
    if y_pairs.ndim != 1:
        raise ValueError(f"y_pairs must be 1-D with one label per pair, got shape {y_pairs.shape}.")
    if n_pairs is not None and len(y_pairs) != n_pairs:
        raise ValueError(f"y_pairs has {len(y_pairs)} labels but there are {n_pairs} pairs.")
    if y_pairs.dtype.kind in "biuf":
        bad = ~np.isin(y_pairs, [0, 1])
    elif y_pairs.dtype.kind == "O":
        bad = np.array([not (isinstance(v, (bool, int, float, np.number)) and v in (0, 1)) for v in y_pairs], bool)
    elif y_pairs.dtype.kind in "US":
        bad = np.ones(len(y_pairs), bool)
    else:
        raise ValueError(f"y_pairs must contain only 1 (same class) and 0 (different class); got dtype {y_pairs.dtype}.")
    if bad.any():
        try:
            shown = np.unique(y_pairs[bad])[:5].tolist()
        except TypeError:  # mixed types cannot be sorted
            shown = list(dict.fromkeys(y_pairs[bad].tolist()))[:5]
        raise ValueError(f"y_pairs must contain only 1 (same class) and 0 (different class); got {shown}.")
    return y_pairs.astype(int)


@validate_params(
    {
        "scores": ["array-like"],
        "y_pairs": ["array-like"],
        "strategy": [StrOptions(set(THRESHOLD_STRATEGIES))],
        "min_rate": [Interval(Real, 0, 1, closed="both"), None],
        "beta": [Interval(Real, 0, None, closed="left")],
        "far": [Interval(Real, 0, 1, closed="neither"), None],
        "rule": [StrOptions(set(FAR_RULES))],
    },
    prefer_skip_nested_validation=True,
)
def best_threshold(scores, y_pairs, strategy="accuracy", *, min_rate=None, beta=1.0, far=None, rule="empirical"):
    """Threshold on pair scores (higher = more similar) chosen on labelled pairs.

    A pair is predicted "same" when ``score >= threshold``. Every distinct
    score is a candidate (plus one above the maximum, predicting all
    "different"), and the best one for the strategy is returned:

    * ``"accuracy"``: highest accuracy.
    * ``"f_beta"``: highest F-beta score of the "same" class.
    * ``"max_tpr"``: highest true positive rate with true negative rate at
      least ``min_rate``.
    * ``"max_tnr"``: highest true negative rate with true positive rate at
      least ``min_rate``.
    * ``"far"``: the lowest threshold whose false-accept rate (fraction of
      "different" pairs scored at or above it) is at most ``far``, so the
      most true accepts at that false-accept rate. Only the "different"
      pairs set it: half way between the last accepted and the first
      rejected "different" score, or, when none may be accepted (``far``
      below ``1 / n_different``), just above the highest one.

    Ties are broken by the middle of the tied interval of scores, so the
    threshold generalises instead of hugging one sample.

    Parameters
    ----------
    scores : array-like of shape (n_pairs,)
        Pair scores.
    y_pairs : array-like of shape (n_pairs,)
        1 same, 0 different.
    strategy : {"accuracy", "f_beta", "max_tpr", "max_tnr", "far"}, default="accuracy"
        What to maximise.
    min_rate : float in [0, 1], default=None
        Required rate of the other class for ``"max_tpr"``/``"max_tnr"``.
    beta : float, default=1.0
        Beta of the F-beta score.
    far : float in (0, 1), default=None
        Target false-accept rate; required for ``"far"``.
    rule : {"empirical", "conformal"}, default="empirical"
        For ``"far"``: accept at most a fraction ``far`` of these
        "different" scores (``k / n <= far``), or, with ``"conformal"``,
        expect at most ``far`` of new ones drawn like them to be accepted
        (``(k + 1) / (n + 1) <= far``), the rule of
        :func:`~sklearn_siamese.neighbors.calibrate_radius` and
        ``SiameseVerifier.calibrate_rejection``.

    Returns
    -------
    threshold : float
        The chosen threshold.

    Examples
    --------
    >>> best_threshold([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1])
    0.5
    >>> best_threshold([0.1, 0.2, 0.3, 0.7, 0.8], [0, 0, 0, 0, 1], "far", far=0.25)
    0.5
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    y_pairs = check_pair_labels(y_pairs, len(scores))
    if strategy not in THRESHOLD_STRATEGIES:
        raise ValueError(f"strategy must be one of {THRESHOLD_STRATEGIES}, got {strategy!r}.")
    if strategy in ("max_tpr", "max_tnr"):
        if min_rate is None or not 0 <= min_rate <= 1:
            raise ValueError(f"strategy={strategy!r} needs min_rate in [0, 1], got {min_rate!r}.")
    if strategy == "far":
        _check_far(far, "best_threshold")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite.")
    if strategy == "far":
        return _far_threshold(scores[y_pairs == 0], far, rule=rule)
    P, N = int(y_pairs.sum()), len(y_pairs) - int(y_pairs.sum())
    with warnings.catch_warnings():
        # Pairs of one kind only leave a rate undefined (NaN); its count is 0 below.
        warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
        fpr, tpr, thresholds = roc_curve(y_pairs, scores, drop_intermediate=False)
    # Candidate k predicts "same" for scores >= thresholds[k]; thresholds[0] is
    # inf (nothing predicted "same"), the others the distinct scores, decreasing.
    tp, fp = np.rint(np.nan_to_num(tpr) * P), np.rint(np.nan_to_num(fpr) * N)
    tpr = tp / max(P, 1)
    tnr = (N - fp) / max(N, 1)
    if strategy == "accuracy":
        value = (tp + N - fp) / len(y_pairs)
    elif strategy == "f_beta":
        b2 = beta**2
        value = (1 + b2) * tp / np.maximum((1 + b2) * tp + b2 * (P - tp) + fp, 1e-12)
    elif strategy == "max_tpr":
        value = np.where(tnr >= min_rate, tpr, -np.inf)
    else:
        value = np.where(tpr >= min_rate, tnr, -np.inf)
    if not np.isfinite(value.max()):
        raise ValueError(f"No threshold reaches min_rate={min_rate} for strategy={strategy!r}.")
    best = int(np.argmax(value))
    # Thresholds between consecutive distinct scores.
    upper = thresholds  # lowest score predicted "same" at each candidate
    lower = np.r_[thresholds[1:], -np.inf]  # highest score predicted "different"
    hi, lo = upper[best], lower[best]
    if np.isinf(hi):
        return float(lo + 1.0) if np.isfinite(lo) else 0.0
    if np.isinf(lo):
        return float(hi)
    return float((hi + lo) / 2)
