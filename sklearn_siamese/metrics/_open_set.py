"""Open-set measures at a chosen false-accept rate: TAR@FAR for pairs, DIR@FAR for identification.

The face-recognition field's operating points. Verification: the true
accept rate (same-class pairs accepted) at the threshold where a fraction
``far`` of the different-class pairs is accepted. Open-set identification:
a gallery of enrolled classes, probes of enrolled classes and probes of
classes not enrolled (unknowns); the detection and identification rate
(known probes whose best match is of their class and scores at or above
the threshold) at the threshold where a fraction ``far`` of the unknown
probes is accepted (their best match scores at or above it).

Both thresholds are the lowest that accept at most a fraction ``far`` of
the negatives, the rule of :func:`~sklearn_siamese.pairs.best_threshold`
with ``strategy="far"``, which :meth:`SiameseVerifier.calibrate_rejection
<sklearn_siamese.SiameseVerifier.calibrate_rejection>` and
:func:`~sklearn_siamese.neighbors.calibrate_radius` use. A measure puts
the threshold just above the first rejected negative (the best point of
the ROC curve at that rate); a calibration puts it half way to the last
accepted one, a margin for data it has not seen.
"""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_consistent_length

from .._training.checks import check_samples
from ..pairs import _far_threshold, check_pair_labels
from ._adapter import embed_with
from ._verification import pair_scores

_FAR = [Interval(Real, 0, 1, closed="neither")]


@validate_params(
    {"estimator": "no_validation", "pairs": ["array-like"], "y_pairs": ["array-like"], "far": _FAR},
    prefer_skip_nested_validation=True,
)
def tar_at_far(estimator, pairs, y_pairs, *, far=0.01):
    """True accept rate of same-class pairs at a false-accept rate on different-class pairs.

    The threshold on the pair scores (see :func:`pair_scores`) is the
    lowest at which at most a fraction ``far`` of the different-class
    pairs is accepted (scored at or above it); the result is the fraction
    of same-class pairs accepted there. The threshold is set on these
    pairs, as in the face-verification protocols: it measures the model,
    not a calibration (for that, see ``SiameseVerifier.calibrate_threshold(...,
    strategy="far")`` on other pairs).

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose pair scores are thresholded.
    pairs : array-like of shape (n_pairs, 2, n_features)
        The pairs.
    y_pairs : array-like of shape (n_pairs,)
        1 for a same-class pair, 0 otherwise; both must occur.
    far : float in (0, 1), default=0.01
        Target false-accept rate. With ``n`` different-class pairs it moves
        in steps of ``1 / n``: use ``n`` of at least ``10 / far``.

    Returns
    -------
    tar : float
        Fraction of same-class pairs accepted.

    Examples
    --------
    >>> import numpy as np
    >>> pairs = np.array([[[0.0], [d]] for d in (0.1, 0.2, 0.9, 0.3, 1.0, 2.0, 3.0)])
    >>> tar_at_far(None, pairs, [1, 1, 1, 0, 0, 0, 0], far=0.2)
    0.6666666666666666
    """
    scores = pair_scores(estimator, pairs)
    y_pairs = check_pair_labels(y_pairs, len(scores))
    if not y_pairs.any():
        raise ValueError("tar_at_far needs same-class pairs (label 1): the true accept rate is measured on them.")
    threshold = _far_threshold(scores[y_pairs == 0], far, midpoint=False)
    return float(np.mean(scores[y_pairs == 1] >= threshold))


def open_set_scores(estimator, X_gallery, y_gallery, X_probe, y_probe):
    """Each probe's best gallery score, whether that match is right, and whether the probe is unknown.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model comparing probes with the gallery (see
        :func:`~sklearn_siamese.metrics.embed_with`).
    X_gallery : array-like of shape (n_gallery, n_features)
        References of the enrolled classes.
    y_gallery : array-like of shape (n_gallery,)
        Their classes.
    X_probe : array-like of shape (n_probes, n_features)
        Probes.
    y_probe : array-like of shape (n_probes,)
        Their classes; a class absent from ``y_gallery`` marks an unknown
        probe.

    Returns
    -------
    best : ndarray of shape (n_probes,)
        Similarity of each probe to its most similar reference (higher =
        more alike).
    correct : ndarray of shape (n_probes,)
        Whether that reference has the probe's class (False for unknowns).
    unknown : ndarray of shape (n_probes,)
        Whether the probe's class is not enrolled.
    """
    X_gallery = check_samples(X_gallery, name="X_gallery")
    X_probe = check_samples(X_probe, name="X_probe")
    y_gallery, y_probe = np.asarray(y_gallery), np.asarray(y_probe)
    check_consistent_length(X_gallery, y_gallery)
    check_consistent_length(X_probe, y_probe)
    if X_gallery.shape[1] != X_probe.shape[1]:
        raise ValueError(f"X_probe has {X_probe.shape[1]} features but X_gallery has {X_gallery.shape[1]}.")
    unknown = ~np.isin(y_probe, y_gallery)
    if not unknown.any():
        raise ValueError(
            "Open-set measures need unknown probes (classes absent from y_gallery): the false-accept "
            "rate is measured on them, and every probe's class is enrolled."
        )
    if unknown.all():
        raise ValueError("Open-set identification needs probes of enrolled classes (in y_gallery) too.")
    E, similarity = embed_with(estimator, np.concatenate([X_gallery, X_probe]))
    G, P = E[: len(X_gallery)], E[len(X_gallery) :]
    best = np.empty(len(P))
    match = np.empty(len(P), dtype=np.intp)
    for start in range(0, len(P), 256):
        S = np.asarray(similarity(P[start : start + 256], G), dtype=np.float64)
        match[start : start + 256] = np.argmax(S, axis=1)
        best[start : start + 256] = S[np.arange(len(S)), match[start : start + 256]]
    return best, y_gallery[match] == y_probe, unknown


@validate_params(
    {
        "estimator": "no_validation",
        "X_gallery": ["array-like"],
        "y_gallery": ["array-like"],
        "X_probe": ["array-like"],
        "y_probe": ["array-like"],
        "far": _FAR,
        "return_threshold": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def dir_at_far(estimator, X_gallery, y_gallery, X_probe, y_probe, *, far=0.01, return_threshold=False):
    """Detection and identification rate at a false-accept rate on unknown probes (open-set identification).

    Each probe is matched to its most similar gallery reference. The
    threshold is the lowest at which at most a fraction ``far`` of the
    unknown probes (classes absent from the gallery) would be accepted;
    DIR is the fraction of known probes whose best match is of their
    class and scores at or above it. Set here on the probes themselves,
    the threshold measures the model (the best any calibration could do);
    a deployed model calibrates on other strangers (see
    ``SiameseVerifier.calibrate_rejection``) and meets this rate only
    approximately.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model comparing probes with the gallery.
    X_gallery : array-like of shape (n_gallery, n_features)
        References of the enrolled classes.
    y_gallery : array-like of shape (n_gallery,)
        Their classes.
    X_probe : array-like of shape (n_probes, n_features)
        Probes, known (class in ``y_gallery``) and unknown; both must occur.
    y_probe : array-like of shape (n_probes,)
        Their classes.
    far : float in (0, 1), default=0.01
        Target fraction of unknown probes accepted.
    return_threshold : bool, default=False
        Also return the threshold on the similarity.

    Returns
    -------
    dir : float
        Detection and identification rate, in [0, 1].
    threshold : float
        Only with ``return_threshold=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> gallery = np.flatnonzero(y < 5)[:25]
    >>> probes = np.setdiff1d(np.arange(len(y)), gallery)
    >>> rate = dir_at_far(None, X[gallery], y[gallery], X[probes], y[probes], far=0.1)
    >>> 0.0 < rate < 1.0
    True
    """
    best, correct, unknown = open_set_scores(estimator, X_gallery, y_gallery, X_probe, y_probe)
    threshold = _far_threshold(best[unknown], far, midpoint=False)
    rate = float(np.mean((correct & (best >= threshold))[~unknown]))
    return (rate, threshold) if return_threshold else rate


@validate_params(
    {
        "estimator": "no_validation",
        "X_gallery": ["array-like"],
        "y_gallery": ["array-like"],
        "X_probe": ["array-like"],
        "y_probe": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def open_set_curve(estimator, X_gallery, y_gallery, X_probe, y_probe):
    """False-accept rate and DIR at every threshold: the open-set ROC curve.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model comparing probes with the gallery.
    X_gallery : array-like of shape (n_gallery, n_features)
        References of the enrolled classes.
    y_gallery : array-like of shape (n_gallery,)
        Their classes.
    X_probe : array-like of shape (n_probes, n_features)
        Known and unknown probes.
    y_probe : array-like of shape (n_probes,)
        Their classes; classes absent from ``y_gallery`` are unknown.

    Returns
    -------
    far : ndarray of shape (n_thresholds,)
        Fraction of unknown probes accepted, increasing.
    dir : ndarray of shape (n_thresholds,)
        Detection and identification rate at the same thresholds.
    thresholds : ndarray of shape (n_thresholds,)
        Decreasing thresholds on the similarity; the first, ``inf``,
        accepts nothing.

    Examples
    --------
    >>> gallery, labels = [[0.0], [10.0]], [0, 1]
    >>> probes, truth = [[0.5], [9.0], [5.0], [3.0]], [0, 1, 2, 2]
    >>> far, rate, _ = open_set_curve(None, gallery, labels, probes, truth)
    >>> far.tolist(), rate.tolist()
    ([0.0, 0.0, 0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 1.0, 1.0])
    """
    best, correct, unknown = open_set_scores(estimator, X_gallery, y_gallery, X_probe, y_probe)
    thresholds = np.r_[np.inf, np.unique(best)[::-1]]
    accepted = best[None, :] >= thresholds[:, None]
    far = accepted[:, unknown].mean(axis=1)
    rate = (accepted & correct)[:, ~unknown].mean(axis=1)
    return far, rate, thresholds


def open_set_split(y, *, n_references=1, unknown_fraction=0.5, random_state=None):
    """Split labelled samples into a gallery, known probes and unknown probes, by class.

    A fraction of the classes is set aside as unknown (all their samples
    are probes); of every other class with more than ``n_references``
    samples, ``n_references`` go to the gallery and the rest are probes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n_references : int, default=1
        Gallery samples per enrolled class.
    unknown_fraction : float in (0, 1), default=0.5
        Fraction of the classes that are unknown (at least one, and at
        least one class is enrolled).
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of unknown classes and of references.

    Returns
    -------
    gallery : ndarray of int
        Rows of the gallery.
    probes : ndarray of int
        Rows of the probes, known and unknown.

    Examples
    --------
    >>> gallery, probes = open_set_split([0, 0, 1, 1, 2, 2], random_state=0)
    >>> len(gallery), len(probes)
    (1, 5)
    """
    y = np.asarray(y)
    rng = check_random_state(random_state)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("An open-set split needs at least 2 classes: enrolled ones and unknown ones.")
    n_unknown = min(len(classes) - 1, max(1, int(round(unknown_fraction * len(classes)))))
    order = rng.permutation(len(classes))
    unknown = classes[order[:n_unknown]]
    gallery = []
    for label in classes[order[n_unknown:]]:
        members = np.flatnonzero(y == label)
        if len(members) > n_references:
            gallery.extend(rng.choice(members, size=n_references, replace=False))
    if not gallery:
        raise ValueError(
            f"No enrolled class has more than n_references={n_references} samples, so none has a probe."
        )
    gallery = np.sort(np.asarray(gallery, dtype=np.intp))
    probes = np.setdiff1d(np.arange(len(y)), gallery)
    probes = probes[np.isin(y[probes], unknown) | np.isin(y[probes], y[gallery])]
    return gallery, probes
