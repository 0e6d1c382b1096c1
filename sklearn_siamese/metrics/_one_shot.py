"""One-shot evaluation: N-way K-shot classification episodes."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import check_consistent_length

from .._training.checks import check_samples

from ._adapter import embed_with


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like"],
        "y": ["array-like"],
        "n_way": [Interval(Integral, 1, None, closed="left")],
        "k_shot": [Interval(Integral, 1, None, closed="left")],
        "n_queries": [Interval(Integral, 1, None, closed="left")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "groups": ["array-like", None],
        "random_state": ["random_state"],
        "return_episodes": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
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
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose similarity is evaluated. A plain transformer (e.g. a
        fitted PCA) is compared by euclidean distance of its output; None
        compares the raw features. A pipeline ending in a classifier on
        the embedding (the one-shot pipeline ``make_pipeline(StandardScaler(),
        SiameseEmbedder(), KNeighborsClassifier(1))``) is evaluated
        through the steps before the classifier: each episode classifies
        its queries by their nearest support sample, whatever classes the
        classifier was fitted on.
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or a stack of images
        Samples to draw episodes from: what the estimator takes, rows or
        images ``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``.
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
    X = check_samples(X, accept_sparse="csr")
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

    E, similarity = embed_with(estimator, X)
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
