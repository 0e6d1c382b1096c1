"""Retrieval: precision@1 and MAP@R, leave-one-out or against a reference set.

Both follow Musgrave et al. (2020): the references are ranked by
similarity to each query, ties broken by the lower reference index (a
stable sort), and a query whose class has no reference sample (in
leave-one-out, no other sample of its class) is left out, since nothing
could be retrieved for it. :func:`embedding_precision_at_1` is the one
definition of precision@1: :func:`precision_at_1`,
``SiameseEmbedder.score`` and the validation score monitored by early
stopping all call it.
"""

import numpy as np
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_consistent_length

from .._training.checks import check_samples
from ._adapter import embed_with, negative_euclidean

# Query rows per similarity block (bounds memory to _QUERY_CHUNK x n_references).
_QUERY_CHUNK = 128

# Parameters of the retrieval metrics that take a model.
_QUERIES = {
    "estimator": "no_validation",
    "X": ["array-like"],
    "y": ["array-like"],
    "X_ref": ["array-like", None],
    "y_ref": ["array-like", None],
}


def _embed_queries(estimator, X, y, X_ref, y_ref):
    """Validate the samples; return ``(E, y, E_ref, y_ref, similarity)``, ``E_ref=None`` for leave-one-out."""
    X = check_samples(X)
    if X_ref is None:
        E, similarity = embed_with(estimator, X)
        return E, y, None, y_ref, similarity
    X_ref = check_samples(X_ref, name="X_ref")
    E, similarity = embed_with(estimator, np.concatenate([X, X_ref]))
    return E[: len(X)], y, E[len(X) :], y_ref, similarity


def _ranked_relevance(E, y, similarity, E_ref, y_ref, depth):
    """Yield ``(relevance, n_relevant)`` blocks of queries.

    ``relevance[i, j]`` says whether the ``j``-th most similar reference of
    query ``i`` shares its label (``depth`` columns; ``depth=None`` means as
    many as the largest ``n_relevant``). With ``E_ref=None``, E is its own
    reference set and each query is left out of its own ranking. Queries
    with no relevant reference are dropped.
    """
    y = np.asarray(y)
    check_consistent_length(E, y)
    leave_one_out = E_ref is None
    if leave_one_out:
        if y_ref is not None:
            raise ValueError("y_ref was given without X_ref.")
        if len(E) < 2:
            raise ValueError("Retrieval metrics need at least 2 samples.")
        E_ref, y_ref = E, y
    else:
        if y_ref is None:
            raise ValueError("X_ref needs its labels y_ref.")
        y_ref = np.asarray(y_ref)
        check_consistent_length(E_ref, y_ref)
    ref_labels, ref_counts = np.unique(y_ref, return_counts=True)
    pos = np.searchsorted(ref_labels, y).clip(max=len(ref_labels) - 1)
    n_relevant = np.where(ref_labels[pos] == y, ref_counts[pos], 0) - int(leave_one_out)
    if not (n_relevant > 0).any():
        raise ValueError(
            "No query has a reference sample of its own class to retrieve (queries whose class "
            "has no other sample are left out), so the retrieval metric is undefined."
        )
    depth = int(n_relevant.max()) if depth is None else depth
    for start in range(0, len(E), _QUERY_CHUNK):
        rows = np.arange(start, min(start + _QUERY_CHUNK, len(E)))
        sim = np.asarray(similarity(E[rows], E_ref), dtype=np.float64)
        if leave_one_out:
            sim[np.arange(len(rows)), rows] = -np.inf
        if depth == 1:
            # The first maximum is the lower index, as the stable sort gives; NaN ranks last there too.
            order = np.argmax(np.where(np.isnan(sim), -np.inf, sim), axis=1)[:, None]
        else:
            order = np.argsort(-sim, axis=1, kind="stable")[:, :depth]
        keep = n_relevant[rows] > 0
        yield (y_ref[order] == y[rows, None])[keep], n_relevant[rows][keep]


@validate_params(
    {
        "embeddings": ["array-like"],
        "y": ["array-like"],
        "similarity": [callable, None],
        "ref_embeddings": ["array-like", None],
        "y_ref": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def embedding_precision_at_1(embeddings, y, *, similarity=None, ref_embeddings=None, y_ref=None):
    """Precision@1 of embeddings: the one definition every precision@1 here uses.

    For each query, the most similar reference is retrieved (ties go to
    the lower reference index); the score is the fraction of queries for
    which it has the query's label. Without ``ref_embeddings`` each row
    is a query against all the other rows (leave-one-out). Queries whose
    class has no reference sample (in leave-one-out: singleton classes)
    are left out, as in Musgrave et al. (2020), rather than counted as
    misses: nothing of their class could have been retrieved.

    Parameters
    ----------
    embeddings : ndarray of shape (n_queries, n_dims)
        Query embeddings (and the references in leave-one-out).
    y : array-like of shape (n_queries,)
        Their labels.
    similarity : callable, default=None
        ``similarity(A, B)`` of two sets of embeddings, higher = more
        alike, e.g. a fitted estimator's ``embedding_similarity``. None
        means the negated euclidean distance.
    ref_embeddings : ndarray of shape (n_ref, n_dims), default=None
        A separate reference set.
    y_ref : array-like of shape (n_ref,), default=None
        Labels of ``ref_embeddings``.

    Returns
    -------
    precision : float
        Precision@1 in [0, 1].

    Raises
    ------
    ValueError
        When no query is left (no class has a reference sample): the
        metric is undefined, and an error says why where a silent ``nan``
        would surface far away (e.g. as a search's ``error_score``).

    Examples
    --------
    The class-0 sample at 1.0 retrieves 1.1 (class 1) and 1.1 retrieves
    1.0: two misses; the lone class-2 sample at 5.0 is left out: 3 hits
    out of 5 queries.

    >>> E = [[0.0], [0.3], [1.0], [1.1], [1.3], [5.0]]
    >>> embedding_precision_at_1(E, [0, 0, 0, 1, 1, 2])
    0.6
    """
    embeddings = np.asarray(embeddings)
    similarity = negative_euclidean if similarity is None else similarity
    blocks = _ranked_relevance(embeddings, y, similarity, ref_embeddings, y_ref, depth=1)
    return float(np.concatenate([rel[:, 0] for rel, _ in blocks]).mean())


@validate_params(_QUERIES, prefer_skip_nested_validation=True)
def precision_at_1(estimator, X, y, *, X_ref=None, y_ref=None):
    """Fraction of queries whose most similar reference shares their class.

    Precision@1 as defined by :func:`embedding_precision_at_1`, on the
    embeddings of a model. Without ``X_ref`` every sample of X is a query
    against all the others (leave-one-out); queries whose class has no
    reference sample are left out.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model whose similarity ranks the references (a pipeline ending in a
        classifier is evaluated through the steps before it).
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

    See Also
    --------
    mean_average_precision_at_r : Rewards the whole ranking, not its top.

    Examples
    --------
    >>> precision_at_1(None, [[0.0], [0.1], [1.0], [1.2]], [0, 0, 1, 1])
    1.0
    """
    E, y, E_ref, y_ref, similarity = _embed_queries(estimator, X, y, X_ref, y_ref)
    return embedding_precision_at_1(E, y, similarity=similarity, ref_embeddings=E_ref, y_ref=y_ref)


@validate_params(_QUERIES, prefer_skip_nested_validation=True)
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
        Model whose similarity ranks the references (a pipeline ending in a
        classifier is evaluated through the steps before it).
    X, y : array-like of shapes (n_samples, n_features) and (n_samples,)
        Queries and their labels; also the references, leave-one-out,
        unless ``X_ref`` is given.
    X_ref, y_ref : array-like of shapes (n_ref, n_features) and (n_ref,), default=None
        A separate reference set and its labels.

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
    E, y, E_ref, y_ref, similarity = _embed_queries(estimator, X, y, X_ref, y_ref)
    total, count = 0.0, 0
    for rel, n_rel in _ranked_relevance(E, y, similarity, E_ref, y_ref, depth=None):
        within_r = np.arange(rel.shape[1])[None, :] < n_rel[:, None]
        rel = rel & within_r
        precision = np.cumsum(rel, axis=1) / np.arange(1, rel.shape[1] + 1)
        total += float(((precision * rel).sum(axis=1) / n_rel).sum())
        count += len(n_rel)
    return total / count
