"""SiameseVerifier: a Koch-style "same class?" classifier with reference-based prediction."""

from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_random_state

from ._base import _BaseSiamese
from ._docstrings import fill_shared_parameters
from ._training.checks import can_form_pairs
from ._training.data import choose_references
from ._reference_scoring import ReferenceClassifierMixin
from .losses import ContrastiveKochLoss, ContrastiveLogitMap, ContrastiveLoss, head_bce_loss
from .pairs import _pair_indices, best_threshold, check_pair_labels

# Pairs drawn from held-out data to calibrate ``threshold_`` at fit.
_N_CALIBRATION_PAIRS = 1000

# Threshold used when no held-out classes can form both kinds of pair:
# probability 0.5, i.e. logit 0, the boundary the head's binary
# cross-entropy fits on the training pairs.
_UNCALIBRATED_THRESHOLD = 0.5


@fill_shared_parameters
class SiameseVerifier(ReferenceClassifierMixin, ClassifierMixin, _BaseSiamese):
    """Verify whether two samples share a class; classify by similarity to references.

    The one-shot procedure of Koch, Zemel and Salakhutdinov (2015): a
    shared-weight encoder and a "same class?" scorer are trained from
    per-sample class labels (fresh in-batch pairs each epoch, exactly as
    :class:`SiameseEmbedder`), then a sample is classified by the class of
    the reference example it most probably matches.

    With the defaults (``loss="contrastive+bce"``, ``head="auto"``) the
    encoder is trained exactly as :class:`SiameseEmbedder`'s, with the
    contrastive loss (same ``random_state``, same encoder), and a head
    turns the embedding distance ``d`` into the logit of "same",
    ``b - a * d`` with ``a > 0``, fitted with binary cross-entropy on the
    training pairs at 30 times ``lr`` without passing its gradient to the
    encoder. The probability of "same" is the sigmoid of the logit, and a
    sample is classified by the reference it most probably matches: the
    nearest one in the learned metric, the rule that transfers to classes
    unseen in training.

    Koch's head, ``w . |e1 - e2| + b`` with one weight per embedding
    dimension (kept at or below zero, unlike Koch et al., so the score
    falls as the embeddings move apart), is ``head="koch"``. With
    ``loss="bce"`` (where ``head="auto"`` is Koch's head) the head's binary
    cross-entropy trains the encoder too, as in Koch et al.
    (:class:`~sklearn_siamese.losses.KochBCELoss`); that fits the training
    classes best but transfers worst to unseen classes (see the user
    guide, "The verifier"). With ``loss="contrastive"`` there is no head:
    ``d`` is mapped to the fixed logit ``4 * (1 - 2 * d / margin)``, 0 at
    ``d = margin / 2`` (half way between the distance 0 that same-class
    pairs are pulled to and the ``margin`` different-class pairs are pushed
    beyond), +4 at ``d = 0`` and -4 at ``d = margin``.

    Parameters
    ----------
    .. shared-parameters:: encoder image_shape embedding_dim
    loss : {"contrastive+bce", "bce", "contrastive"}, default="contrastive+bce"
        ``"contrastive+bce"``: contrastive loss (Hadsell et al. 2006) for
        the encoder, and the head fitted to the embeddings with binary
        cross-entropy (:class:`~sklearn_siamese.losses.ContrastiveKochLoss`).
        ``"bce"``: head and encoder trained together with binary
        cross-entropy, as Koch et al. ``"contrastive"``: contrastive loss
        and the fixed distance-to-logit map described above.
    head : {"auto", "distance", "koch"}, default="auto"
        The "same class" head of ``"contrastive+bce"`` and ``"bce"``.
        ``"distance"``: ``b - a * d`` on the embedding ``distance``
        (:class:`~sklearn_siamese.losses.DistanceSimilarityHead`), which
        ranks pairs as the trained metric does. ``"koch"``: Koch's
        weighted L1 distance, one weight per dimension
        (:class:`~sklearn_siamese.losses.L1SimilarityHead`). ``"auto"``:
        ``"distance"`` for ``"contrastive+bce"``, ``"koch"`` for ``"bce"``
        (Koch et al.'s model). Unused with ``"contrastive"``.
    margin : float, default=1.0
        Margin of the contrastive loss, in units of ``distance``; for
        ``"contrastive"`` it also sets the centre of the distance-to-logit
        map. Unused by ``"bce"``.
    mining : {"all", "semihard", "hard", "random_pairs"}, default="all"
        Which pairs of a batch are used; see :mod:`sklearn_siamese.mining`.
        ``"random_pairs"`` trains on balanced random pairs, as Koch et al.
    distance : {"euclidean", "cosine"}, default="euclidean"
        Distance between embeddings, used by mining and, for
        ``"contrastive"``, by the loss and the pair scores.
    .. shared-parameters:: normalize max_epochs max_time samples_per_epoch batch_size samples_per_class sampler lr lr_schedule optimizer optimizer__kwargs weight_decay
    validation_fraction : "auto", float or None, default="auto"
        Fraction of the classes held out (whole classes: the real use is
        classes unseen in training) to compute a validation loss each
        epoch. ``"auto"`` holds out 20% of the classes when at least 8
        classes remain for training, and nothing otherwise (with few
        classes each one is worth more for training; measured in README).
        A number is used whenever at least two classes can be held out and
        two remain; None or 0 disables validation. The
        held-out classes also calibrate ``threshold_`` (see Notes).
    .. shared-parameters:: early_stopping n_iter_no_change refit_verifier augmentation rotation_classes instance_weight precision device
    .. shared-parameters:: accelerator callbacks
    max_references_per_class : int or None, default=50
        At most this many samples of each class passed to ``fit`` are kept
        as references (drawn with ``random_state``), which bounds the cost
        of ``predict`` on large training sets. None keeps them all.
    prototypes : bool, default=False
        Score each query against the mean embedding of each class's
        references (prototypical networks, Snell et al. 2017) instead of
        against every reference and keeping the best. With many
        references per class this is much faster (one comparison per
        class); accuracy is compared in the user guide, "The verifier: Large reference sets".
    outlier_label : int, float, str or None, default=None
        Open-set identification, spelled as in
        :class:`~sklearn.neighbors.RadiusNeighborsClassifier`: with a label
        here, :meth:`predict` answers it for queries whose best match has a
        probability of "same" below ``threshold_`` (they match no enrolled
        class well enough), instead of the closest class. Set the threshold
        for a target false-accept rate with :meth:`calibrate_rejection`
        (known and unknown probes) or ``calibrate_threshold(...,
        strategy="far")`` (pairs). It must not be one of ``classes_``, and
        must be of their kind, as in ``RadiusNeighborsClassifier`` (a
        ``TypeError`` otherwise): a number such as ``-1`` for numeric
        classes, a string such as ``"unknown"`` for string classes, so that
        ``predict(X) == outlier_label`` finds the rejected queries and
        ``score`` accepts ``y`` that labels strangers with it.
        None predicts an enrolled class for every query.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch sampling, validation split,
        calibration pairs, the choice of references and dropout. On CPU
        the same value and the same number of torch threads give
        bit-identical fits (another thread count splits convolutions and
        matrix products differently, which changes the last bits). With
        the default ``loss`` and ``head`` the encoder is the one
        :class:`SiameseEmbedder` trains with the same value.
    .. shared-parameters:: verbose warm_start

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels of the references (those seen in fit, or given to
        :meth:`fit_references`).
    .. shared-parameters:: n_features_in_ image_shape_
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in fit, when X has string column names.
    embedding_dim_ : int
        Size of the embedding.
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the encoder and, for
        ``loss="contrastive+bce"`` and ``"bce"``, ``net_.criterion_.head``
        the trained head.
    history_ : skorch.History
        Per-epoch records of the run that trained the final model:
        ``train_loss``, and ``valid_loss`` and ``valid_precision_at_1``
        when it monitored held-out classes (after a refit they are in
        ``validation_history_``).
    .. shared-parameters:: n_epochs_ precision_
    interrupted_ : bool
        Whether the last ``fit`` was interrupted (``KeyboardInterrupt``) in
        the middle of an epoch; the weights are then those of the last
        finished epoch and that epoch's history row has ``interrupted=True``.
    validation_classes_ : ndarray
        Classes held out for validation (empty when none were).
    .. shared-parameters:: validation_score_ baseline_score_ validation_history_
    reference_embeddings_ : ndarray of shape (n_references, `embedding_dim_`)
        Embeddings of the reference samples, grouped by class.
    reference_labels_ : ndarray of shape (n_references,)
        Class label of each reference.
    threshold_ : float
        Probability of "same" at or above which :meth:`predict_pairs`
        answers 1 (and, with ``outlier_label``, at or above which a query's
        best match is accepted by :meth:`predict`); calibrated at fit for
        accuracy on held-out pairs, or set by :meth:`calibrate_threshold`
        or :meth:`calibrate_rejection`.

    See Also
    --------
    SiameseEmbedder : Transformer learning the embedding alone.
    sklearn.neighbors.KNeighborsClassifier : Classifies by stored references too.

    Notes
    -----
    When validation classes were held out, ``threshold_`` is calibrated at
    fit for accuracy on pairs of them: pairs of classes unseen in
    training, the verification use case. Otherwise every sample trains
    the encoder (as in :class:`SiameseEmbedder`, so both learn the same
    embedding) and ``threshold_`` is 0.5, the boundary the head's binary
    cross-entropy fitted on the training pairs; training pairs are closer
    than pairs of new data, so call :meth:`calibrate_threshold` on
    held-out pairs when the threshold matters. The references are drawn
    from all samples passed to ``fit``, so every class of ``classes_`` can
    be predicted.

    References
    ----------
    .. [1] G. Koch, R. Zemel and R. Salakhutdinov, "Siamese Neural Networks
       for One-shot Image Recognition", ICML Deep Learning Workshop, 2015.
    .. [2] R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality Reduction by
       Learning an Invariant Mapping", CVPR 2006.
    .. [3] J. Snell, K. Swersky and R. Zemel, "Prototypical Networks for
       Few-shot Learning", NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese import SiameseVerifier
    >>> X, y = load_digits(return_X_y=True)
    >>> ver = SiameseVerifier(image_shape=(8, 8), max_epochs=2, random_state=0).fit(X / 16, y)
    >>> ver.predict(X[:3] / 16).shape
    (3,)
    >>> ver.pair_score([[X[0] / 16, X[10] / 16]]).shape
    (1,)

    Open set: enrol digits 0-4, calibrate on the strangers 5-7 so that at
    most 5% of them are accepted, then meet the strangers 8 and 9.

    >>> known, strangers = y < 5, (y >= 5) & (y <= 7)
    >>> ver = ver.set_params(outlier_label=-1).fit_references(X[known][:100] / 16, y[known][:100])
    >>> ver = ver.calibrate_rejection(X[strangers] / 16, y[strangers], far=0.05)
    >>> rejected = ver.predict(X[y >= 8] / 16) == -1
    >>> bool(rejected.mean() > 0.5)
    True
    """

    _parameter_constraints = {
        **_BaseSiamese._parameter_constraints,
        "loss": [StrOptions({"contrastive+bce", "bce", "contrastive"})],
        "head": [StrOptions({"auto", "distance", "koch"})],
        "max_references_per_class": [Interval(Integral, 1, None, closed="left"), None],
        "prototypes": ["boolean"],
        "outlier_label": [Real, str, None],
    }

    # Scores sum many embedding differences, so float32 rounding that depends
    # on how many rows share a forward pass would make a query's prediction
    # depend on the other rows of X; float64 inference keeps it negligible.
    _inference_dtype = np.float64

    def __init__(
        self,
        encoder="auto",
        *,
        image_shape="auto",
        embedding_dim=None,
        loss="contrastive+bce",
        head="auto",
        margin=1.0,
        mining="all",
        distance="euclidean",
        normalize=True,
        max_epochs=30,
        max_time=None,
        samples_per_epoch="auto",
        batch_size=64,
        samples_per_class=4,
        sampler="auto",
        lr=1e-3,
        lr_schedule="constant",
        optimizer="adam",
        weight_decay=0.0,
        validation_fraction="auto",
        early_stopping=True,
        n_iter_no_change=5,
        refit=False,
        augmentation="auto",
        rotation_classes=False,
        instance_weight=0.5,
        precision="auto",
        device="cpu",
        accelerator=None,
        callbacks=None,
        max_references_per_class=50,
        prototypes=False,
        outlier_label=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        **optimizer__kwargs,
    ):
        self.encoder = encoder
        self.image_shape = image_shape
        self.embedding_dim = embedding_dim
        self.loss = loss
        self.head = head
        self.margin = margin
        self.mining = mining
        self.distance = distance
        self.normalize = normalize
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.samples_per_epoch = samples_per_epoch
        self.batch_size = batch_size
        self.samples_per_class = samples_per_class
        self.sampler = sampler
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.refit = refit
        self.augmentation = augmentation
        self.rotation_classes = rotation_classes
        self.instance_weight = instance_weight
        self.precision = precision
        self.device = device
        self.accelerator = accelerator
        self.callbacks = callbacks
        self.max_references_per_class = max_references_per_class
        self.prototypes = prototypes
        self.outlier_label = outlier_label
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self._set_optimizer_arguments(optimizer__kwargs)

    # ------------------------------------------------------------------ fit
    def _make_criterion(self, embedding_dim, classes=None):
        if self.loss == "contrastive":
            return ContrastiveLoss(margin=self.margin, distance=self.distance, mining=self.mining)
        head = self.head
        if head == "auto":
            head = "koch" if self.loss == "bce" else "distance"
        if self.loss == "contrastive+bce":
            return ContrastiveKochLoss(
                embedding_dim, margin=self.margin, distance=self.distance, mining=self.mining, head=head
            )
        return head_bce_loss(embedding_dim, head, margin=self.margin, distance=self.distance, mining=self.mining)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the encoder (and head) on pairs drawn from ``(X, y)``.

        Then keep up to ``max_references_per_class`` samples of each class
        as references and calibrate ``threshold_`` on pairs of the held-out
        validation classes, if any.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class label of each sample (ints or strings).

        Returns
        -------
        self : SiameseVerifier
            The fitted verifier.
        """
        X, y_codes, _, valid_idx = self._fit(X, y)
        rng = check_random_state(self.random_state)
        seed = rng.randint(np.iinfo(np.int32).max)

        self.threshold_ = _UNCALIBRATED_THRESHOLD
        if len(valid_idx) and can_form_pairs(np.unique(y_codes[valid_idx], return_inverse=True)[1]):
            # Pairs of validation rows, each row embedded once (X may be sparse: no pair array of rows).
            pairs, same = _pair_indices(y_codes[valid_idx], _N_CALIBRATION_PAIRS, seed)
            E = self._embed(X[valid_idx], validate=False)
            scores = expit(self._head().paired_logits(E[pairs[:, 0]], E[pairs[:, 1]]))
            self.threshold_ = best_threshold(scores, same, "accuracy")

        refs = choose_references(y_codes, self.max_references_per_class, np.random.default_rng(seed))
        self._set_references(X[refs], self.classes_[y_codes[refs]])
        return self

    # ------------------------------------------------------------- scoring
    def _head(self):
        """What scores a pair: the trained head, or the contrastive distance map."""
        head = getattr(self.net_.criterion_, "head", None)
        return ContrastiveLogitMap(self.distance, self.margin) if head is None else head

    def _similarity_from_embeddings(self, A, B):
        """Probability of "same" for every row of A against every row of B."""
        return expit(self._head().cross_logits(A, B))

    def _pair_scores(self, pairs):
        a, b = self._pair_embeddings(pairs)
        return expit(self._head().paired_logits(a, b))

    # ------------------------------------------------------------ pair API
    def pair_score(self, pairs):
        """Probability that the two samples of each pair share a class.

        Higher means more similar, as ``pair_score`` in metric-learn.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs; ``pairs[:, 0]`` and ``pairs[:, 1]`` are the two sides.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
            Probability of "same", in [0, 1].
        """
        return self._pair_scores(pairs)

    def predict_pairs(self, pairs):
        """Predict 1 (same class) or 0 (different) for each pair.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs.

        Returns
        -------
        y_pairs : ndarray of shape (n_pairs,)
            1 where ``pair_score(pairs) >= threshold_``, else 0.
        """
        return (self._pair_scores(pairs) >= self.threshold_).astype(int)

    def calibrate_threshold(self, pairs, y_pairs, strategy="accuracy", min_rate=None, beta=1.0, far=None):
        """Set ``threshold_`` to the best one on labelled pairs.

        Use pairs the network was not trained on.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs.
        y_pairs : array-like of shape (n_pairs,)
            1 for a same-class pair, 0 for a different-class pair.
        strategy : {"accuracy", "f_beta", "max_tpr", "max_tnr", "far"}, default="accuracy"
            What the threshold maximises: accuracy, the F-beta score of
            "same", the true positive rate with a true negative rate of at
            least ``min_rate``, the true negative rate with a true
            positive rate of at least ``min_rate``, or (``"far"``) the true
            accepts with at most a fraction ``far`` of the different-class
            pairs accepted (TAR at FAR; see
            :func:`~sklearn_siamese.pairs.best_threshold`).
        min_rate : float in [0, 1], default=None
            Required for ``"max_tpr"`` and ``"max_tnr"``.
        beta : float, default=1.0
            Beta of the F-beta score.
        far : float in (0, 1), default=None
            Target false-accept rate; required for ``"far"``. For open-set
            identification from probes rather than pairs, see
            :meth:`calibrate_rejection`.

        Returns
        -------
        self : SiameseVerifier
            The verifier with the new ``threshold_``.
        """
        scores = self._pair_scores(pairs)
        y_pairs = check_pair_labels(y_pairs, len(scores))
        self.threshold_ = best_threshold(scores, y_pairs, strategy, min_rate=min_rate, beta=beta, far=far)
        return self
