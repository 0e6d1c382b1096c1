"""Gallery/probe identification: the top-k gallery matches of each probe, with scores.

The face-recognition workflow (FaceNet; the AT&T faces experiments): a
gallery of labelled references is embedded once, then each probe is
scored against every reference and its best ``k`` matches are kept. Probes
are scored a chunk at a time, so memory holds the gallery's embeddings and
one ``chunk x n_gallery`` block of scores, never ``n_probe x n_gallery``.
"""

from numbers import Integral

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import validate_params

from .metrics._adapter import embed_with

__all__ = ["identify"]

# Scores held at once: one chunk of probes against the whole gallery (float64).
_MAX_BLOCK_ELEMENTS = 2**22


@validate_params(
    {
        "model": "no_validation",
        "X_probe": ["array-like"],
        "X_gallery": ["array-like"],
        "y_gallery": ["array-like", None],
        # Integers, whose range the body checks with a message of its own.
        "k": [Integral],
        "chunk_size": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def identify(model, X_probe, X_gallery, y_gallery=None, *, k=5, chunk_size=None):
    """The ``k`` best gallery matches of each probe, best first, with their scores.

    Scores mean "higher = more alike", as everywhere in this package: for
    a :class:`~sklearn_siamese.SiameseVerifier` the probability that probe
    and reference share a class, for a
    :class:`~sklearn_siamese.SiameseEmbedder` the negated embedding
    distance (so ``-scores`` are the distances), for any other fitted
    transformer or None (raw features) the negated euclidean distance.
    Exact search; for millions of references with an embedder, see
    :class:`~sklearn_siamese.neighbors.ApproximateKNeighborsTransformer`.

    Parameters
    ----------
    model : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        The model comparing probes with references (a pipeline ending in
        one of ours brings its own similarity).
    X_probe : array-like of shape (n_probes, n_features)
        The queries.
    X_gallery : array-like of shape (n_gallery, n_features)
        The references, embedded once.
    y_gallery : array-like of shape (n_gallery,), default=None
        Identity of each reference; if given, ``labels`` is returned too.
    k : int, default=5
        Matches per probe, at most ``n_gallery``.
    chunk_size : int, default=None
        Probes scored at once; None chooses it so that one block of scores
        holds about 4 million values (32 MB).

    Returns
    -------
    result : sklearn.utils.Bunch
        ``indices`` (n_probes, k): gallery rows of the matches, best
        first; ``scores`` (n_probes, k): their scores; ``labels``
        (n_probes, k): their identities, when ``y_gallery`` is given.
        Ties are broken by gallery row.

    Examples
    --------
    >>> import numpy as np
    >>> gallery = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0]])
    >>> result = identify(None, [[0.9, 0.1]], gallery, ["ann", "bob", "cy"], k=2)
    >>> result.labels, result.indices
    (array([['cy', 'ann']], dtype='<U3'), array([[2, 0]]))
    >>> np.round(-result.scores, 3)  # distances
    array([[0.141, 0.906]])
    """
    if not isinstance(k, Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if chunk_size is not None and (not isinstance(chunk_size, Integral) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")
    G, similarity = embed_with(model, X_gallery)
    n_gallery = len(G)
    if k > n_gallery:
        raise ValueError(f"k={k} must be <= the {n_gallery} gallery samples.")
    if y_gallery is not None:
        y_gallery = np.asarray(y_gallery)
        if y_gallery.shape != (n_gallery,):
            raise ValueError(f"y_gallery must hold one label per gallery sample ({n_gallery}), got shape {y_gallery.shape}.")
    n_probes = len(X_probe)
    rows = chunk_size or max(1, _MAX_BLOCK_ELEMENTS // n_gallery)
    indices = np.empty((n_probes, k), dtype=np.intp)
    scores = np.empty((n_probes, k), dtype=np.float64)
    for start in range(0, n_probes, rows):
        P, _ = embed_with(model, X_probe[start : start + rows])
        S = np.asarray(similarity(P, G), dtype=np.float64)
        top = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < n_gallery else np.tile(np.arange(n_gallery), (len(S), 1))
        top_scores = np.take_along_axis(S, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        indices[start : start + len(S)] = np.take_along_axis(top, order, axis=1)
        scores[start : start + len(S)] = np.take_along_axis(top_scores, order, axis=1)
    result = Bunch(indices=indices, scores=scores)
    if y_gallery is not None:
        result.labels = y_gallery[indices]
    return result
