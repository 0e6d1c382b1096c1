"""The verifier's classification half: references, and queries scored against them.

Queries are scored in blocks of queries x whole classes of references, so
memory stays bounded (about ``BLOCK_ELEMENTS`` logits at once plus the
``(n_queries, n_classes)`` result) however many references there are.
"""

import numpy as np
from scipy.special import expit, softmax
from sklearn.utils._param_validation import StrOptions, validate_parameter_constraints
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._training.checks import validate_input, warn_if_classes_unseen
from .pairs import FAR_RULES, _check_far, _far_threshold

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


def labels_with_outlier(labels, reject, outlier_label):
    """``labels`` with ``outlier_label`` where ``reject``, in one dtype whatever is rejected.

    ``_check_outlier_label`` has made sure the label is of the classes'
    kind (a string among strings, a number among numbers).
    """
    dtype = np.result_type(labels.dtype, np.asarray(outlier_label).dtype)
    out = labels.astype(dtype)
    out[reject] = outlier_label
    return out


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

    The host estimator provides ``_embed``, ``_head()`` and the
    ``prototypes`` parameter.
    """

    def _set_references(self, X_ref, labels):
        """Embed the reference samples and store them (see ``_store_references``)."""
        self._store_references(self._embed(X_ref, validate=False), np.asarray(labels))

    def _store_references(self, embeddings, labels):
        """Store reference embeddings grouped by class, and ``classes_``."""
        self.classes_, codes = np.unique(labels, return_inverse=True)
        order = np.argsort(codes, kind="stable")
        self.reference_embeddings_ = embeddings[order]
        self.reference_labels_ = self.classes_[codes[order]]
        self._check_outlier_label()

    def _check_outlier_label(self):
        """``outlier_label`` must be a label of the classes' type that no enrolled class has."""
        outlier_label = getattr(self, "outlier_label", None)
        if outlier_label is None or not hasattr(self, "classes_"):
            return
        classes = self.classes_
        string_classes = classes.dtype.kind in "USO"
        if isinstance(outlier_label, str) != string_classes:
            # RadiusNeighborsClassifier raises a TypeError for this mix too: a number among
            # string predictions (or the reverse) is not compared equal to what users test for.
            kind, example = ("strings", 'a string no class has, e.g. outlier_label="unknown"') if string_classes else (
                "numbers", "a number no class has, e.g. outlier_label=-1")
            raise TypeError(
                f"outlier_label={outlier_label!r} is a {'string' if isinstance(outlier_label, str) else 'number'} "
                f"but the enrolled classes are {kind} ({classes[:5].tolist()}); predictions must be one type "
                f"of label, so that predict(X) == outlier_label finds the rejected queries: use {example}."
            )
        if np.any(classes == outlier_label):
            raise ValueError(
                f"outlier_label={outlier_label!r} is one of the enrolled classes {classes[:10].tolist()}; "
                "choose a label no reference has, so that a rejected query cannot be read as a match."
            )

    def fit_references(self, X, y, *, append=False):
        """Replace (or extend) the reference set, keeping the trained network.

        This is how a fitted verifier does one-shot classification of new
        classes: pass one (or a few) labelled examples of each new class,
        then ``predict`` assigns queries to them. It is named and behaves
        like :meth:`sklearn.neighbors.KNeighborsClassifier.fit`, which also
        only stores labelled references; ``fit`` is kept for training, as
        scikit-learn requires ``fit`` to learn from scratch. Every sample
        given is kept (``max_references_per_class`` applies to ``fit``).
        With ``append=True`` the samples join the current references
        (enrolling new people, or more photos of enrolled ones) without
        re-embedding those; they are kept by :func:`~sklearn_siamese.save_weights`
        and by pickling like any fitted attribute.

        Parameters
        ----------
        X : array-like of shape (n_references, n_features)
            Reference samples, with the features the network was fitted on.
        y : array-like of shape (n_references,)
            Their class labels. They become ``classes_`` (with
            ``append=True``, they are added to it); at least 2 classes in
            all.
        append : bool, default=False
            Keep the current references and add these to them.

        Returns
        -------
        self : SiameseVerifier
            The verifier, predicting among the classes of ``y`` (and,
            with ``append=True``, those enrolled before).

        Raises
        ------
        ValueError
            If X does not have the ``n_features_in_`` features of the fitted
            network, if fewer than 2 classes would be enrolled, or if
            ``outlier_label`` is one of the classes.
        """
        check_is_fitted(self)
        if not isinstance(append, (bool, np.bool_)):
            raise ValueError(f"append must be True or False, got {append!r}.")
        X = validate_input(self, X, reset=False)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != X.shape[0]:
            raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}.")
        check_classification_targets(y)
        embeddings = self._embed(X, validate=False)
        if append:
            if (self.reference_labels_.dtype.kind in "US") != (y.dtype.kind in "US"):
                raise ValueError(
                    f"y holds {'strings' if y.dtype.kind in 'US' else 'numbers'} but the enrolled classes "
                    f"{self.classes_[:5].tolist()} do not: give the new references labels of the same type."
                )
            embeddings = np.concatenate([self.reference_embeddings_, embeddings])
            y = np.concatenate([self.reference_labels_, y])
        if len(np.unique(y)) < 2:
            raise ValueError("fit_references needs references of at least 2 classes.")
        self._store_references(embeddings, y)
        return self

    def _class_logits(self, X):
        """Per class, the "same" logit of each query (best reference, or the prototype)."""
        check_is_fitted(self)
        queries = self._embed(X)
        starts = np.searchsorted(self.reference_labels_, self.classes_)
        references = self.reference_embeddings_
        if self.prototypes:
            references, starts = class_prototypes(references, starts), np.arange(len(starts))
        return class_logits(self._head().cross_logits, queries, references, starts)

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

    def match_proba(self, X):
        """Probability of "same" between each query and each class's best reference.

        Unlike :meth:`predict_proba`, the rows are not normalised: a query
        unlike every reference has low values in every column. This is what
        open-set rejection compares with ``threshold_``: with an
        ``outlier_label``, :meth:`predict` rejects the queries whose row
        maximum is below it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The sigmoid of the per-class logits (the columns of
            :meth:`decision_function` with more than two classes), in
            ``classes_`` order.
        """
        return expit(self._class_logits(X))

    def predict(self, X):
        """Class of the reference each query most probably matches, or ``outlier_label``.

        With ``outlier_label`` set, a query whose best match has a
        probability of "same" below ``threshold_`` (the row maximum of
        :meth:`match_proba`) is answered ``outlier_label``: it matches no
        enrolled class well enough. :meth:`predict_proba` still ranks the
        enrolled classes for it (its rows sum to 1, so it cannot say "none
        of these"); :meth:`match_proba` shows how far below the threshold
        it fell.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Queries.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_`` or ``outlier_label``.
        """
        logits = self._class_logits(X)  # checks fitted before classes_ is read
        labels = self.classes_[np.argmax(logits, axis=1)]
        outlier_label = getattr(self, "outlier_label", None)
        if outlier_label is None:
            return labels
        self._check_outlier_label()
        reject = expit(logits.max(axis=1)) < self.threshold_
        return labels_with_outlier(labels, reject, outlier_label)

    def calibrate_rejection(self, X, y, *, far=0.01, rule="conformal"):
        """Set ``threshold_`` for a target false-accept rate on known and unknown probes.

        The open-set calibration: ``y`` labels each probe with its class,
        and probes whose label is not an enrolled class (one of
        ``classes_``) or is ``outlier_label`` are the unknowns, people not
        enrolled. ``threshold_`` becomes the lowest one at which at most a
        fraction ``far`` of new strangers like the unknowns are expected to
        be accepted (best match at or above the threshold; ``rule``), so
        that :meth:`predict` with an
        ``outlier_label`` rejects the rest. Calibrate on strangers other
        than those the model will meet: the false-accept rate measured on
        new ones is then an honest estimate.

        Parameters
        ----------
        X : array-like of shape (n_probes, n_features)
            Probes, not used to train the network nor as references.
        y : array-like of shape (n_probes,)
            Their labels; at least one must be unknown. Known probes do
            not move the threshold (the false-accept rate is measured on
            unknowns only) and may be left out.
        far : float in (0, 1), default=0.01
            Target fraction of unknown probes accepted as someone enrolled.
            With ``n`` unknown probes the rate moves in steps of ``1 / n``.
        rule : {"conformal", "empirical"}, default="conformal"
            How the ``n`` unknown probes set the threshold. ``"conformal"``:
            it accepts ``k`` of them with ``(k + 1) / (n + 1) <= far``, so
            that at most ``far`` of new strangers drawn like them are
            expected to be accepted (the split conformal quantile); below
            ``n = 1 / far - 1`` it accepts none. ``"empirical"``:
            ``k / n <= far``, the rate on these probes themselves, which
            lets about ``far + 1 / n`` of new ones in (the rule before
            0.1.0).

        Returns
        -------
        self : SiameseVerifier
            The verifier with the new ``threshold_``.

        Raises
        ------
        ValueError
            If ``far`` is not strictly between 0 and 1, ``rule`` is not
            one of the two, or no probe is unknown.
        """
        far = _check_far(far, "calibrate_rejection")
        validate_parameter_constraints(
            {"rule": [StrOptions(set(FAR_RULES))]}, {"rule": rule}, caller_name="calibrate_rejection"
        )
        check_is_fitted(self)
        y = np.asarray(y)
        logits = self._class_logits(X)
        if y.ndim != 1 or len(y) != len(logits):
            raise ValueError(f"y must be 1-D with one label per probe ({len(logits)}), got shape {y.shape}.")
        outlier_label = getattr(self, "outlier_label", None)
        unknown = ~np.isin(y, self.classes_)
        if outlier_label is not None:
            unknown |= y == outlier_label
        if not unknown.any():
            raise ValueError(
                "calibrate_rejection needs unknown probes (labels that are not enrolled classes, or "
                f"outlier_label): every label of y is one of classes_ {self.classes_[:10].tolist()}, "
                "so there is no false accept to measure."
            )
        self.threshold_ = _far_threshold(expit(logits.max(axis=1))[unknown], far, rule=rule)
        return self

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
        outlier_label = getattr(self, "outlier_label", None)
        answers = self.classes_ if outlier_label is None else np.append(self.classes_, outlier_label)
        warn_if_classes_unseen(answers, y, type(self).__name__)
        return super().score(X, y, sample_weight=sample_weight)
