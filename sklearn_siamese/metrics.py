"""Evaluation of similarity models.

Every function takes the model first and accepts a fitted
:class:`~sklearn_siamese.SiameseEmbedder`, a fitted ``SiameseVerifier``, a
:class:`~sklearn.pipeline.Pipeline` ending in one of them, any fitted
transformer (e.g. a PCA, compared by euclidean distance of its output) or
None (raw features, euclidean distance), so a learned model and its
baselines are measured the same way.

* One-shot classification: :func:`one_shot_accuracy`.
* Pair verification: :func:`pair_scores`, :func:`verification_accuracy`,
  :func:`verification_roc_auc`, and the seen / unseen / mixed protocol
  :func:`seen_unseen_verification`.
* Retrieval: :func:`precision_at_1`, :func:`mean_average_precision_at_r`.
* Scorers for ``GridSearchCV(scoring=...)``: :func:`make_one_shot_scorer`,
  :func:`make_verification_scorer`, :func:`make_retrieval_scorer`.

Similarities and pair scores always mean "higher = more alike": the
verifier's probability of "same", the embedder's negated distance.
"""

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_consistent_length

from .pairs import THRESHOLD_STRATEGIES, best_threshold, check_pair_labels, make_pairs

# Query rows per similarity block in the retrieval metrics (bounds memory).
_QUERY_CHUNK = 256


def _split_pipeline(estimator, X):
    """Run a pipeline's preprocessing steps; return ``(final_step, X_transformed)``."""
    if isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
        if isinstance(estimator, str):  # "passthrough"
            estimator = None
    return estimator, X


def _negative_euclidean(A, B):
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
    return -np.sqrt(np.maximum(sq, 0))


def _embed_with(estimator, X):
    """Return ``(embeddings, similarity)`` for the estimator.

    ``estimator`` may be one of ours (its own similarity), a pipeline ending
    in one of ours, any fitted transformer (negated euclidean distance of its
    output) or None (raw features).
    """
    estimator, X = _split_pipeline(estimator, X)
    if estimator is None:
        E = np.asarray(X, dtype=np.float64)
    elif hasattr(estimator, "_similarity_from_embeddings"):
        return estimator._embed(X), estimator._similarity_from_embeddings
    else:
        E = np.asarray(estimator.transform(X), dtype=np.float64)
    return E, _negative_euclidean


def one_shot_accuracy(
    estimator,
    X,
    y,
    *,
    n_way=20,
    k_shot=1,
    n_queries=1,
    n_episodes=200,
    groups=None,
    random_state=None,
    return_episodes=False,
):
    """Mean accuracy of N-way K-shot classification episodes.

    Each episode draws ``n_way`` classes, ``k_shot`` support samples and
    ``n_queries`` query samples of each; every query is assigned the class
    of its most similar support sample (nearest embedding for an embedder,
    highest pair score for a verifier). The classes may be ones the
    estimator never saw in training: that is the point of one-shot
    evaluation.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, transformer or None
        Model whose similarity is evaluated. A plain transformer (e.g. a
        fitted PCA) is compared by euclidean distance of its output; None
        compares the raw features.
    X : array-like of shape (n_samples, n_features)
        Samples to draw episodes from.
    y : array-like of shape (n_samples,)
        Their class labels.
    n_way : int, default=20
        Classes per episode.
    k_shot : int, default=1
        Support samples per class.
    n_queries : int, default=1
        Query samples per class.
    n_episodes : int, default=200
        Number of episodes.
    groups : array-like of shape (n_samples,), default=None
        If given, all classes of an episode come from one group (e.g.
        Omniglot's within-alphabet task); each episode picks a group with
        at least ``n_way`` usable classes.
    random_state : int, RandomState instance or None, default=None
        Seeds the episode draws.
    return_episodes : bool, default=False
        Also return the per-episode accuracies (for a confidence interval).

    Returns
    -------
    accuracy : float
        Mean accuracy over all episodes.
    episodes : ndarray of shape (n_episodes,)
        Per-episode accuracies, only when ``return_episodes=True``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> acc = one_shot_accuracy(None, X, y, n_way=5, n_episodes=50, random_state=0)
    >>> 0.2 < acc <= 1.0
    True
    """
    X = check_array(X, dtype=np.float32)
    y = np.asarray(y)
    check_consistent_length(X, y)
    if groups is not None:
        groups = np.asarray(groups)
        check_consistent_length(X, groups)
    rng = check_random_state(random_state)
    per_class = k_shot + n_queries

    # Candidate classes per group, keeping those with enough samples.
    group_ids = np.zeros(len(y), dtype=int) if groups is None else np.unique(groups, return_inverse=True)[1]
    pools = {}
    for g in np.unique(group_ids):
        labels, counts = np.unique(y[group_ids == g], return_counts=True)
        usable = labels[counts >= per_class]
        if len(usable) >= n_way:
            pools[g] = usable
    if not pools:
        where = "any group" if groups is not None else "y"
        raise ValueError(
            f"one_shot_accuracy needs {n_way} classes with at least k_shot + n_queries = "
            f"{per_class} samples each in {where}."
        )

    E, similarity = _embed_with(estimator, X)
    pool_keys = sorted(pools)
    accuracies = np.empty(n_episodes)
    for e in range(n_episodes):
        g = pool_keys[rng.randint(len(pool_keys))]
        classes = rng.choice(pools[g], size=n_way, replace=False)
        support, query, query_class = [], [], []
        for c, label in enumerate(classes):
            members = np.flatnonzero((y == label) & (group_ids == g))
            picked = rng.choice(members, size=per_class, replace=False)
            support.append(picked[:k_shot])
            query.append(picked[k_shot:])
            query_class.append(np.full(n_queries, c))
        support = np.concatenate(support)
        support_class = np.repeat(np.arange(n_way), k_shot)
        sim = similarity(E[np.concatenate(query)], E[support])
        predicted = support_class[np.argmax(sim, axis=1)]
        accuracies[e] = np.mean(predicted == np.concatenate(query_class))
    mean = float(accuracies.mean())
    return (mean, accuracies) if return_episodes else mean


# --------------------------------------------------------------- verification
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
    pairs = np.asarray(pairs)
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
    X_seen = check_array(X_seen, dtype=None)
    X_unseen = check_array(X_unseen, dtype=None)
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


# ------------------------------------------------------------------ retrieval
def _ranked_relevance(estimator, X, y, X_ref, y_ref, depth):
    """Yield ``(relevance, n_relevant)`` blocks of queries.

    ``relevance[i, j]`` says whether the ``j``-th most similar reference of
    query ``i`` shares its label (``depth`` columns; ``depth=None`` means as
    many as the largest ``n_relevant``). Without a reference set, X is its
    own reference set and each query is left out of its own ranking.
    Queries with no relevant reference are dropped.
    """
    X = check_array(X, dtype=np.float32)
    y = np.asarray(y)
    check_consistent_length(X, y)
    leave_one_out = X_ref is None
    if leave_one_out:
        if y_ref is not None:
            raise ValueError("y_ref was given without X_ref.")
        if len(X) < 2:
            raise ValueError("Retrieval metrics need at least 2 samples.")
        E, similarity = _embed_with(estimator, X)
        E_ref, y_ref = E, y
    else:
        X_ref = check_array(X_ref, dtype=np.float32)
        if y_ref is None:
            raise ValueError("X_ref needs its labels y_ref.")
        y_ref = np.asarray(y_ref)
        check_consistent_length(X_ref, y_ref)
        E, similarity = _embed_with(estimator, np.concatenate([X, X_ref]))
        E, E_ref = E[: len(X)], E[len(X) :]
    ref_labels, ref_counts = np.unique(y_ref, return_counts=True)
    pos = np.searchsorted(ref_labels, y).clip(max=len(ref_labels) - 1)
    n_relevant = np.where(ref_labels[pos] == y, ref_counts[pos], 0) - int(leave_one_out)
    if not (n_relevant > 0).any():
        raise ValueError("No query has a reference sample of its own class to retrieve.")
    depth = int(n_relevant.max()) if depth is None else depth
    for start in range(0, len(E), _QUERY_CHUNK):
        rows = np.arange(start, min(start + _QUERY_CHUNK, len(E)))
        sim = np.asarray(similarity(E[rows], E_ref), dtype=np.float64)
        if leave_one_out:
            sim[np.arange(len(rows)), rows] = -np.inf
        order = np.argsort(-sim, axis=1, kind="stable")[:, :depth]
        keep = n_relevant[rows] > 0
        yield (y_ref[order] == y[rows, None])[keep], n_relevant[rows][keep]


def precision_at_1(estimator, X, y, *, X_ref=None, y_ref=None):
    """Fraction of queries whose most similar reference shares their class.

    Precision@1 (Musgrave et al. 2020): for each query, the single most
    similar reference sample is retrieved; the score is the fraction of
    queries for which it has the query's label. Without ``X_ref`` every
    sample of X is a query against all the others (leave-one-out). Queries
    whose class has no reference sample are left out, as in the paper.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose similarity ranks the references.
    X : array-like of shape (n_samples, n_features)
        Queries (and references when ``X_ref`` is None).
    y : array-like of shape (n_samples,)
        Their labels.
    X_ref : array-like of shape (n_ref, n_features), default=None
        A separate reference set.
    y_ref : array-like of shape (n_ref,), default=None
        Its labels.

    Returns
    -------
    precision : float
        Precision@1 in [0, 1].

    References
    ----------
    .. [1] K. Musgrave, S. Belongie and S.-N. Lim, "A Metric Learning Reality
       Check", ECCV 2020.

    Examples
    --------
    >>> precision_at_1(None, [[0.0], [0.1], [1.0], [1.2]], [0, 0, 1, 1])
    1.0
    """
    hits = [rel[:, 0] for rel, _ in _ranked_relevance(estimator, X, y, X_ref, y_ref, depth=1)]
    return float(np.concatenate(hits).mean())


def mean_average_precision_at_r(estimator, X, y, *, X_ref=None, y_ref=None):
    """MAP@R: mean average precision over the first R retrieved references.

    Defined by Musgrave et al. (2020): for a query whose class has ``R``
    reference samples (excluding the query itself), the ``R`` most similar
    references are retrieved and

    ``AP@R = (1 / R) * sum_{i=1..R} P(i) * rel(i)``,

    where ``rel(i)`` is 1 when the ``i``-th retrieved reference has the
    query's label and ``P(i)`` is the precision among the first ``i``. MAP@R
    is the mean over queries. It rewards a well-clustered embedding: 1 only
    when every same-class sample ranks before every other sample. Queries
    with ``R = 0`` are left out.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose similarity ranks the references.
    X : array-like of shape (n_samples, n_features)
        Queries (and references when ``X_ref`` is None).
    y : array-like of shape (n_samples,)
        Their labels.
    X_ref : array-like of shape (n_ref, n_features), default=None
        A separate reference set.
    y_ref : array-like of shape (n_ref,), default=None
        Its labels.

    Returns
    -------
    map_at_r : float
        MAP@R in [0, 1].

    References
    ----------
    .. [1] K. Musgrave, S. Belongie and S.-N. Lim, "A Metric Learning Reality
       Check", ECCV 2020.

    Examples
    --------
    The third sample's first two retrievals are a class-1 sample, then a
    class-0 one: AP@R = (0 + 1/2) / 2 = 0.25; the other four score 1.

    >>> X = [[0.0], [0.2], [0.65], [1.0], [1.1]]
    >>> round(mean_average_precision_at_r(None, X, [0, 0, 0, 1, 1]), 3)
    0.85
    """
    total, count = 0.0, 0
    for rel, n_rel in _ranked_relevance(estimator, X, y, X_ref, y_ref, depth=None):
        within_r = np.arange(rel.shape[1])[None, :] < n_rel[:, None]
        rel = rel & within_r
        precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
        total += float(((precision * rel).sum(axis=1) / n_rel).sum())
        count += len(n_rel)
    return total / count


# -------------------------------------------------------------------- scorers
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


def make_one_shot_scorer(*, n_way=5, k_shot=1, n_queries=1, n_episodes=100, random_state=0):
    """Scorer of N-way K-shot accuracy for ``GridSearchCV(scoring=...)``.

    Episodes are drawn from each validation fold with
    :func:`one_shot_accuracy`. The fixed default ``random_state`` makes
    every candidate face the same episodes of a fold, so differences come
    from the models. Use group-aware splitters (``GroupKFold`` with the
    class labels as groups) to validate on classes unseen in training.

    Parameters
    ----------
    n_way, k_shot, n_queries, n_episodes : int
        Passed to :func:`one_shot_accuracy`; every validation fold needs
        ``n_way`` classes with ``k_shot + n_queries`` samples.
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
        one_shot_accuracy,
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
        ``scorer(estimator, X, y)``.

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
        ``scorer(estimator, X, y)``.

    Examples
    --------
    >>> make_retrieval_scorer("precision_at_1")
    precision_at_1()
    """
    if metric not in _RETRIEVAL:
        raise ValueError(f"metric must be one of {sorted(_RETRIEVAL)}, got {metric!r}.")
    return _SiameseScorer(metric, _RETRIEVAL[metric])
