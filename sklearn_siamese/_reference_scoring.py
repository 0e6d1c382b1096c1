"""The verifier's classification half: references, and queries scored against them.

Queries are scored in blocks of queries x whole classes of references, so
memory stays bounded (about ``BLOCK_ELEMENTS`` logits at once plus the
``(n_queries, n_classes)`` result) however many references there are.
"""

import numpy as np
from scipy.special import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._checks import validate_input, warn_if_classes_unseen

# Logits of one (queries x references) block: 32 MiB of float64.
BLOCK_ELEMENTS = 2**22


def _class_blocks(starts, n_references, max_references):
    """Split the class-sorted references into runs of whole classes.

    Yields ``(first_class, end_class, first_ref, end_ref)``; a run holds at
    most ``max_references`` references unless one class alone has more.
    """
    ends = np.r_[starts[1:], n_references]
    first = 0
    while first < len(starts):
        end = int(np.searchsorted(ends, starts[first] + max_references, side="right"))
        end = max(end, first + 1)
        yield first, end, int(starts[first]), int(ends[end - 1])
        first = end


def class_prototypes(references, starts):
    """Mean embedding of each class's references (prototypical networks)."""
    counts = np.diff(np.r_[starts, len(references)])
    return np.add.reduceat(references, starts, axis=0) / counts[:, None]


def class_logits(cross, queries, references, starts, block_elements=None):
    """Per class, the highest "same" logit of each query over that class's references.

    Parameters
    ----------
    cross : callable
        ``cross(A, B)`` returns the ``(len(A), len(B))`` logits.
    queries : ndarray of shape (n_queries, dim)
        Query embeddings.
    references : ndarray of shape (n_references, dim)
        Reference embeddings, sorted by class.
    starts : ndarray of shape (n_classes,)
        Index of each class's first reference.
    block_elements : int, default=None
        Logits computed at once; None means ``BLOCK_ELEMENTS``.

    Returns
    -------
    logits : ndarray of shape (n_queries, n_classes)
    """
    block_elements = block_elements or BLOCK_ELEMENTS
    out = np.empty((len(queries), len(starts)), dtype=np.float64)
    # Reference runs of about sqrt(block) rows leave room for as many queries.
    max_refs = max(1, int(np.sqrt(block_elements)))
    for c0, c1, r0, r1 in _class_blocks(starts, len(references), max_refs):
        rows = max(1, block_elements // (r1 - r0))
        for q0 in range(0, len(queries), rows):
            logits = cross(queries[q0 : q0 + rows], references[r0:r1])
            out[q0 : q0 + rows, c0:c1] = np.maximum.reduceat(logits, starts[c0:c1] - r0, axis=1)
    return out


class ReferenceClassifierMixin:
    """``fit_references``, ``decision_function``, ``predict_proba`` and ``predict`` from references.

    The host estimator provides ``_embed``, ``_scorer()`` and the
    ``prototypes`` parameter.
    """

    def _set_references(self, X_ref, labels):
        """Store reference embeddings grouped by class, and ``classes_``."""
        self.classes_, codes = np.unique(labels, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        self.reference_embeddings_ = self._embed(X_ref[order], validate=False)
        self.reference_labels_ = self.classes_[codes[order]]

    def fit_references(self, X, y):
        """Replace the reference set, keeping the trained network.

        This is how a fitted verifier does one-shot classification of new
        classes: pass one (or a few) labelled examples of each new class,
        then ``predict`` assigns queries to them. It is named and behaves
        like :meth:`sklearn.neighbors.KNeighborsClassifier.fit`, which also
        only stores labelled references; ``fit`` is kept for training, as
        scikit-learn requires ``fit`` to learn from scratch. Every sample
        given is kept (``max_references_per_class`` applies to ``fit``).

        Parameters
        ----------
        X : array-like of shape (n_references, n_features)
            Reference samples.
        y : array-like of shape (n_references,)
            Their class labels; at least 2 classes. They become ``classes_``.

        Returns
        -------
        self : SiameseVerifier
            The verifier, predicting among the classes of ``y``.
        """
        check_is_fitted(self)
        X = validate_input(self, X, reset=False)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per row of X ({len(X)}), got shape {y.shape}.")
        check_classification_targets(y)
        if len(np.unique(y)) < 2:
            raise ValueError("fit_references needs references of at least 2 classes.")
        self._set_references(X, y)
        return self

    def _class_logits(self, X):
        """Per class, the "same" logit of each query (best reference, or the prototype)."""
        check_is_fitted(self)
        queries = self._embed(X)
        starts = np.searchsorted(self.reference_labels_, self.classes_)
        references = self.reference_embeddings_
        if self.prototypes:
            references, starts = class_prototypes(references, starts), np.arange(len(starts))
        return class_logits(self._scorer().cross, queries, references, starts)

    def decision_function(self, X):
        """Highest logit of "same" against each class's references.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            Column ``k``: the largest "same" logit of the query with a
            reference of ``classes_[k]`` (with ``prototypes=True``, the
            logit with the class's mean reference embedding). With two
            classes, the logit of ``classes_[1]`` minus that of
            ``classes_[0]``.
        """
        logits = self._class_logits(X)
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X):
        """Class probabilities: softmax of the per-class "same" logits.

        Rows sum to 1 and rank classes as :meth:`decision_function` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order.
        """
        return softmax(self._class_logits(X), axis=1)

    def predict(self, X):
        """Class of the reference each query most probably matches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_``.
        """
        best = np.argmax(self._class_logits(X), axis=1)  # checks fitted before classes_ is read
        return self.classes_[best]

    def score(self, X, y, sample_weight=None):
        """Accuracy of :meth:`predict` on ``(X, y)``.

        Only classes among the references (``classes_``) can be predicted,
        so on samples of classes the verifier never saw (a fold of
        ``GroupKFold(...)`` with the classes as groups) this is 0 by
        construction, and a warning says so: score such folds with
        :func:`~sklearn_siamese.metrics.make_one_shot_scorer`, or give the
        new classes references with :meth:`fit_references` first.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.
        y : array-like of shape (n_samples,)
            Their true labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Mean accuracy.
        """
        check_is_fitted(self)
        warn_if_classes_unseen(self.classes_, y, type(self).__name__)
        return super().score(X, y, sample_weight=sample_weight)
