"""One view of every model the metrics accept: embeddings and a similarity."""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import validate_params

from .._training.checks import flatten_images


def _embeds(step):
    """Whether a pipeline step maps samples to features (an embedder or a transformer)."""
    return step is None or isinstance(step, str) or hasattr(step, "embedding_similarity") or hasattr(step, "transform")


def _split_pipeline(estimator, X):
    """Run a pipeline's preprocessing steps; return ``(final_step, X_transformed)``.

    A final step that does not embed (a ``KNeighborsClassifier`` on the
    embedding, as in the one-shot pipeline) is left out: the model
    evaluated is the embedding the steps before it produce, since the
    metrics compare queries with their own support or retrieval samples,
    not with the classes the classifier was fitted on.
    """
    if isinstance(estimator, Pipeline):
        if not _embeds(estimator[-1]):
            if len(estimator) == 1:
                return None, X
            estimator = estimator[:-1]
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
        if isinstance(estimator, str):  # "passthrough"
            estimator = None
    elif not _embeds(estimator):
        raise ValueError(
            f"{type(estimator).__name__} does not embed samples (it has no transform or embed): "
            "pass the model that produces the embedding it works on, e.g. the pipeline that ends "
            "in it, whose steps before it are then evaluated."
        )
    return estimator, X


@validate_params({"A": ["array-like"], "B": ["array-like"]}, prefer_skip_nested_validation=True)
def negative_euclidean(A, B):
    """Negated euclidean distance of every row of A to every row of B.

    The similarity (higher = more alike) under which plain transformers
    and raw features are compared.

    Parameters
    ----------
    A : array-like of shape (n_a, n_dims)
        Embeddings or features.
    B : array-like of shape (n_b, n_dims)
        Embeddings or features.

    Returns
    -------
    similarity : ndarray of shape (n_a, n_b)

    Examples
    --------
    >>> negative_euclidean([[0.0, 0.0]], [[3.0, 4.0], [0.0, 1.0]])
    array([[-5., -1.]])
    """
    return -euclidean_distances(A, B)


@validate_params({"estimator": "no_validation", "X": ["array-like"]}, prefer_skip_nested_validation=True)
def embed_with(estimator, X):
    """Embeddings of X under a model, and the similarity that compares them.

    The adapter behind every metric and plot, so that a learned model and
    its baselines are measured the same way.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        A model with ``embed`` and ``embedding_similarity`` (ours, or a
        pipeline ending in one of ours) brings its own similarity; any
        other fitted transformer is compared by :func:`negative_euclidean`
        of its output, and None by that of the raw features. A pipeline
        that ends in a classifier on the embedding (e.g.
        ``make_pipeline(StandardScaler(), SiameseEmbedder(),
        KNeighborsClassifier(1))``) is evaluated through the steps before
        the classifier.
    X : array-like of shape (n_samples, n_features) or a stack of images
        Samples to embed: rows, or images ``(n, H, W)``, ``(n, C, H, W)``
        or ``(n, H, W, C)``, which raw features and plain transformers
        compare as their flattened rows (channels first).

    Returns
    -------
    embeddings : ndarray of shape (n_samples, n_dims)
        One row per sample.
    similarity : callable
        ``similarity(A, B)`` returns the ``(len(A), len(B))`` similarities
        of two sets of embeddings, higher = more alike.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> X = [[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]
    >>> E, similarity = embed_with(PCA(1).fit(X), X)
    >>> similarity(E[:1], E[1:])
    array([[-1., -3.]])
    """
    estimator, X = _split_pipeline(estimator, X)
    if hasattr(estimator, "embedding_similarity"):
        return estimator.embed(X), estimator.embedding_similarity
    X = flatten_images(X)
    if estimator is None:
        return (X if sp.issparse(X) else np.asarray(X, dtype=np.float64)), negative_euclidean
    return np.asarray(estimator.transform(X), dtype=np.float64), negative_euclidean
