"""Approximate nearest neighbours as a scikit-learn transformer, backed by faiss.

:class:`ApproximateKNeighborsTransformer` is used as scikit-learn's
``KNeighborsTransformer`` is in its "approximate nearest neighbors" example:
it turns rows into a sparse k-nearest-neighbours graph that
``KNeighborsClassifier(metric="precomputed")``, ``Isomap``, ``TSNE`` or
``DBSCAN`` consume in a ``Pipeline``. With faiss-cpu installed (extra
``faiss``) the search runs on an HNSW graph; without it, ``index="auto"``
searches exactly with scikit-learn's brute force.

:func:`calibrate_radius` sets the other neighbours' open-set rule, scikit-learn's
``RadiusNeighborsClassifier(outlier_label=...)`` behind an embedder, for a
target false-accept rate.
"""

from numbers import Integral, Real

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.neighbors import NearestNeighbors, RadiusNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ._training.checks import check_samples
from .pairs import FAR_RULES

__all__ = ["ApproximateKNeighborsTransformer", "calibrate_radius"]

# Links per node of the HNSW graph (faiss's ``M``): 32 is the common choice
# for 32-128 dimensions, trading 256 bytes per vector for recall.
_HNSW_LINKS = 32

# Candidates kept while building the graph (faiss's ``efConstruction``).
_HNSW_EF_CONSTRUCTION = 64


def _import_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "index='hnsw' needs faiss: pip install 'sklearn-siamese[faiss]' (faiss-cpu), "
            "or use index='exact' (or 'auto', which falls back to it)."
        ) from exc
    return faiss


def _faiss_available():
    """Whether faiss can be imported, i.e. what ``index="auto"`` will use."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _deserialize_hnsw(state):
    """The faiss index of a saved transformer's ``state``, checked against its other attributes.

    A truncated or edited file fails here, with a ``ValueError`` naming the
    problem, rather than at the first search.
    """
    faiss = _import_faiss()
    serialized = state.get("index_")
    if not isinstance(serialized, (bytes, bytearray)):
        raise ValueError(
            f"This saved ApproximateKNeighborsTransformer holds a {type(serialized).__name__} "
            "where its serialised faiss index should be; the file is damaged."
        )
    try:
        index = faiss.deserialize_index(np.frombuffer(serialized, dtype=np.uint8))
    except RuntimeError as exc:
        raise ValueError(
            f"The faiss index of this saved ApproximateKNeighborsTransformer could not be read "
            f"(truncated or damaged?): {exc}"
        ) from exc
    metric = faiss.METRIC_INNER_PRODUCT if state.get("metric") == "cosine" else faiss.METRIC_L2
    expected = (state.get("n_features_in_"), state.get("n_samples_fit_"), metric)
    if not isinstance(index, faiss.IndexHNSW) or (index.d, index.ntotal, index.metric_type) != expected:
        raise ValueError(
            f"The faiss index of this saved ApproximateKNeighborsTransformer ({type(index).__name__}, "
            f"{index.d} dimensions, {index.ntotal} vectors, metric {index.metric_type}) does not match its "
            f"attributes (an HNSW index of {expected[0]} dimensions, {expected[1]} vectors, metric {metric})."
        )
    return index


class ApproximateKNeighborsTransformer(TransformerMixin, BaseEstimator):
    """Transform rows into a sparse graph of their (approximate) nearest neighbours.

    A drop-in for :class:`sklearn.neighbors.KNeighborsTransformer` on large
    reference sets: ``fit`` indexes the references, ``transform`` returns
    for each query row its ``n_neighbors`` nearest references (one more
    with ``mode="distance"``, as ``KNeighborsTransformer`` does, so that a
    training row's own zero-distance entry does not use up a neighbour).

    Parameters
    ----------
    n_neighbors : int, default=5
        Number of neighbours of each query.
    mode : {"distance", "connectivity"}, default="distance"
        Graph values: distances, or ones.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance: euclidean, or ``1 - cos(a, b)``. For a
        :class:`~sklearn_siamese.SiameseEmbedder` with ``normalize=True``
        (the default), both rank neighbours alike.
    index : {"auto", "hnsw", "exact"}, default="auto"
        ``"hnsw"``: faiss's HNSW graph (approximate, sub-linear queries);
        raises ``ImportError`` without faiss. ``"exact"``: brute force with
        :class:`sklearn.neighbors.NearestNeighbors`, no faiss needed.
        ``"auto"``: ``"hnsw"`` when faiss is installed, else ``"exact"``;
        ``index_type_`` tells which was used.
    ef_search : int, default=64
        HNSW candidates examined per query (at least ``n_neighbors`` + 1);
        higher gives better recall and slower queries. Unused by
        ``"exact"``.

    Attributes
    ----------
    index_type_ : {"hnsw", "exact"}
        The search that ``fit`` built.
    index_ : faiss.Index or sklearn.neighbors.NearestNeighbors
        The search structure over the references. pickle, joblib and skops
        store a faiss index as faiss's serialised bytes, so loading does
        not add the references again.
    n_samples_fit_ : int
        Number of references.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in fit, when X has string column names.

    See Also
    --------
    sklearn.neighbors.KNeighborsTransformer : Exact search.
    sklearn_siamese.gallery.identify : Top-k matches with scores from a siamese model.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_siamese.neighbors import ApproximateKNeighborsTransformer
    >>> X, y = load_digits(return_X_y=True)
    >>> model = make_pipeline(ApproximateKNeighborsTransformer(n_neighbors=5),
    ...                       KNeighborsClassifier(5, metric="precomputed"))
    >>> round(model.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]), 2)
    0.96
    """

    _parameter_constraints: dict = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "mode": [StrOptions({"distance", "connectivity"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "index": [StrOptions({"auto", "hnsw", "exact"})],
        "ef_search": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, n_neighbors=5, *, mode="distance", metric="euclidean", index="auto", ef_search=64):
        self.n_neighbors = n_neighbors
        self.mode = mode
        self.metric = metric
        self.index = index
        self.ef_search = ef_search

    def _prepare(self, X):
        """float32 rows as the faiss index expects them (unit length for cosine)."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(X, axis=1, keepdims=True)
            X = X / np.maximum(norms, np.finfo(np.float32).tiny)
        return X

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Index the reference rows X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            References.
        y : None
            Ignored.

        Returns
        -------
        self : ApproximateKNeighborsTransformer
            The fitted transformer.
        """
        X = validate_data(self, X, dtype=np.float32)
        self.n_samples_fit_ = len(X)
        self.index_type_ = self.index if self.index != "auto" else ("hnsw" if _faiss_available() else "exact")
        if self.index_type_ == "exact":
            self.index_ = NearestNeighbors(algorithm="brute", metric=self.metric).fit(X)
            return self
        faiss = _import_faiss()
        metric = faiss.METRIC_INNER_PRODUCT if self.metric == "cosine" else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(X.shape[1], _HNSW_LINKS, metric)
        index.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        index.add(self._prepare(X))
        self.index_ = index
        return self

    def kneighbors(self, X, n_neighbors=None, return_distance=True):
        """The nearest references of each row of X, nearest first.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Queries.
        n_neighbors : int, default=None
            Neighbours per query; None uses ``n_neighbors``.
        return_distance : bool, default=True
            Whether to return the distances too.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Distances (``metric``) to the neighbours; only with
            ``return_distance=True``.
        indices : ndarray of shape (n_queries, n_neighbors)
            Row numbers of the neighbours among the references.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float32, reset=False)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {k!r}.")
        if k > self.n_samples_fit_:
            raise ValueError(f"n_neighbors={k} must be <= the {self.n_samples_fit_} references indexed by fit.")
        if self.index_type_ == "exact":
            dist, ind = self.index_.kneighbors(X, k)
        else:
            dist, ind = self._search_hnsw(X, k)
        return (dist, ind) if return_distance else ind

    def _search_hnsw(self, X, k):
        import faiss

        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        scores, ind = self.index_.search(self._prepare(X), k, params=params)
        if (ind < 0).any():
            raise RuntimeError(
                f"The HNSW search found fewer than {k} neighbours for some queries; "
                f"raise ef_search (now {self.ef_search}) or use index='exact'."
            )
        if self.metric == "cosine":
            dist = np.clip(1.0 - scores, 0.0, None)
        else:
            dist = np.sqrt(np.clip(scores, 0.0, None))
        return dist.astype(np.float64), ind.astype(np.intp)

    def transform(self, X):
        """Sparse graph of each row's nearest references.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Queries.

        Returns
        -------
        graph : sparse matrix of shape (n_queries, `n_samples_fit_`)
            CSR matrix with ``n_neighbors`` entries per row (one more with
            ``mode="distance"``): distances or ones.
        """
        k = self.n_neighbors + (self.mode == "distance")
        dist, ind = self.kneighbors(X, k)
        values = dist.ravel() if self.mode == "distance" else np.ones(ind.size)
        indptr = np.arange(0, ind.size + 1, k)
        return csr_matrix((values, ind.ravel(), indptr), shape=(len(ind), self.n_samples_fit_))

    def fit_transform(self, X, y=None):
        """Fit on X, then return the graph of X against itself.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            References, also the queries.
        y : None
            Ignored.

        Returns
        -------
        graph : sparse matrix of shape (n_samples, n_samples)
            See :meth:`transform`.
        """
        return self.fit(X).transform(X)

    def __getstate__(self):
        # A faiss index is a C++ object: pickle and skops store its serialised
        # bytes instead, which load without adding the references again
        # (benchmarks/search.py times both).
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__ itself
        if getattr(self, "index_type_", None) == "hnsw":
            import faiss

            # bytes, not an ndarray: joblib would store an array apart from the object.
            state["index_"] = faiss.serialize_index(self.index_).tobytes()
        return state

    def __setstate__(self, state):
        if state.get("index_type_") == "hnsw":
            state = {**state, "index_": _deserialize_hnsw(state)}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = []
        return tags


@validate_params(
    {
        "model": [HasMethods(["fit", "predict"])],
        "X": ["array-like"],
        "y": ["array-like"],
        "far": [Interval(Real, 0, 1, closed="neither")],
        "rule": [StrOptions(set(FAR_RULES))],
    },
    prefer_skip_nested_validation=True,
)
def calibrate_radius(model, X, y, *, far=0.01, rule="conformal"):
    """Radius of a fitted ``RadiusNeighborsClassifier`` that accepts a target fraction of strangers.

    Open-set identification with an embedder: the enrolled samples are
    the classifier's training samples, and a query with no enrolled sample
    within ``radius`` is answered ``outlier_label``. The radius returned
    is the largest at which at most a fraction ``far`` of new strangers
    like the unknown probes in ``(X, y)`` (labels that are not among the
    classifier's ``classes_``) are expected to have an enrolled sample
    within it (``rule``); it is computed in the space the classifier sees (after a pipeline's other steps, e.g. a
    frozen :class:`~sklearn_siamese.SiameseEmbedder`). Calibrate on
    strangers other than those the model will meet, so that the rate
    measured on new ones is an honest estimate. Known probes (labels
    among ``classes_``) may be passed too; they do not move the radius.

    Parameters
    ----------
    model : fitted RadiusNeighborsClassifier or Pipeline ending in one
        The open-set classifier, fitted on the enrolled samples.
    X : array-like of shape (n_probes, n_features)
        Calibration probes, in the model's input space.
    y : array-like of shape (n_probes,)
        Their labels; at least one must be unknown.
    far : float in (0, 1), default=0.01
        Target fraction of unknown probes accepted. With ``n`` unknown
        probes it moves in steps of ``1 / n``.
    rule : {"conformal", "empirical"}, default="conformal"
        How the ``n`` unknown probes set the radius. ``"conformal"``: it
        accepts ``k`` of them with ``(k + 1) / (n + 1) <= far``, so that
        at most ``far`` of new strangers drawn like them are expected
        within it (the split conformal quantile); below ``n = 1 / far - 1``
        it accepts none. ``"empirical"``: ``k / n <= far``, the rate on
        these probes themselves, which lets about ``far + 1 / n`` of new
        ones in (the rule before 0.1.0).

    Returns
    -------
    radius : float
        Set it with ``model.set_params(radiusneighborsclassifier__radius=radius)``
        (or ``model.set_params(radius=radius)`` for the bare classifier).

    Notes
    -----
    The conformal guarantee holds for strangers exchangeable with the
    calibration ones. Strangers of other people than those calibrated on
    add a shift that no count bounds: on Yale faces with three calibration
    strangers (33 photos) the measured rate on three others ranges from 0%
    to 40-80% around a mean near the target (see the open-set user guide).
    Calibrate on as many different strangers as you can.

    When some queries are outliers and ``outlier_label`` is not one of its
    classes, ``RadiusNeighborsClassifier`` warns at every ``predict`` that
    their class probabilities are all 0 (a ``UserWarning`` starting
    "Outlier label"); filter it with :func:`warnings.filterwarnings` once
    that is understood.

    Raises
    ------
    ValueError
        If the model does not end in a fitted ``RadiusNeighborsClassifier``,
        ``far`` is not strictly between 0 and 1, or no probe is unknown.

    See Also
    --------
    sklearn_siamese.SiameseVerifier.calibrate_rejection : The same for the verifier.
    sklearn_siamese.metrics.dir_at_far : The open-set identification rate at a FAR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.neighbors import RadiusNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_siamese.neighbors import calibrate_radius
    >>> X, y = load_digits(return_X_y=True)
    >>> enrolled, strangers = y < 5, (y >= 5) & (y < 8)
    >>> model = make_pipeline(PCA(16, random_state=0), RadiusNeighborsClassifier(outlier_label=-1))
    >>> model = model.fit(X[enrolled][::2], y[enrolled][::2])
    >>> radius = calibrate_radius(model, X[strangers], y[strangers], far=0.05)
    >>> model = model.set_params(radiusneighborsclassifier__radius=radius)
    >>> import warnings  # scikit-learn notes at every predict that strangers get no class probability
    >>> warnings.filterwarnings("ignore", "Outlier label -1 is not in training classes")
    >>> bool((model.predict(X[strangers]) != -1).mean() <= 0.05)
    True
    """
    from .pairs import _far_threshold

    final = model[-1] if isinstance(model, Pipeline) else model
    if not isinstance(final, RadiusNeighborsClassifier):
        raise ValueError(
            "calibrate_radius needs a RadiusNeighborsClassifier or a Pipeline ending in one, "
            f"got {type(final).__name__}."
        )
    check_is_fitted(final)
    y = np.asarray(y)
    if isinstance(model, Pipeline) and len(model) > 1:
        X = model[:-1].transform(X)
    X = check_samples(X, dtype="numeric")
    check_consistent_length(X, y)
    unknown = ~np.isin(y, final.classes_)
    if not unknown.any():
        raise ValueError(
            "calibrate_radius needs unknown probes (labels that are not among the classifier's "
            f"classes_ {final.classes_[:10].tolist()}): the false-accept rate is measured on them."
        )
    nearest = NearestNeighbors(
        n_neighbors=1, metric=final.effective_metric_, metric_params=final.effective_metric_params_
    ).fit(final._fit_X)
    distance = nearest.kneighbors(X, return_distance=True)[0][:, 0]
    # A neighbour at distance <= radius is within it: accepted when -distance >= -radius.
    threshold = _far_threshold(-distance[unknown], far, rule=rule)
    return max(0.0, float(-threshold))
