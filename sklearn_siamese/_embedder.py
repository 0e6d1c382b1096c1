"""SiameseEmbedder: a supervised transformer trained with pair, triplet or class-weight losses."""

from numbers import Real

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _BaseSiamese
from ._docstrings import fill_shared_parameters
from .losses import (
    AUTO_INSTANCE_WEIGHT,
    CLASS_WEIGHT_LOSSES,
    ClassWeightLoss,
    ContrastiveLoss,
    TripletLoss,
    check_class_weight_loss,
    resolve_loss,
)
from .metrics import embedding_precision_at_1
from .sampling import RandomPairSampler, RandomTripletSampler


@fill_shared_parameters
class SiameseEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _BaseSiamese):
    """Learn an embedding in which samples of the same class are close.

    A shared-weight encoder is trained from per-sample class labels: every
    epoch, fresh batches of ``P`` classes x ``K`` samples are drawn and the
    loss uses every valid pair or triplet inside each batch (or the subset
    chosen by ``mining``). Training runs through skorch.

    Parameters
    ----------
    .. shared-parameters:: encoder image_shape embedding_dim
    loss : {"auto", "contrastive", "triplet", "normface", "cosface", \
            "arcface", "proxy_anchor"} or ClassWeightLoss, default="auto"
        Contrastive loss (Hadsell et al. 2006) or triplet loss (Schroff et
        al. 2015) on in-batch pairs or triplets; ``"auto"`` chooses between
        them from the number of training classes (rotation classes
        counted): ``"contrastive"`` with fewer than
        ``AUTO_TRIPLET_MIN_CLASSES`` (120), the batch-all ``"triplet"``
        loss with that many or more (measured in the user guide,
        "Defaults": with a few classes the triplet loss memorises them,
        with hundreds it generalises better); ``loss_`` tells which. Or a
        loss that learns one
        weight vector per training class, named (with the papers'
        settings) or given as an object to set its own:
        :class:`~sklearn_siamese.losses.NormFaceLoss`,
        :class:`~sklearn_siamese.losses.CosFaceLoss`,
        :class:`~sklearn_siamese.losses.ArcFaceLoss`,
        :class:`~sklearn_siamese.losses.ProxyAnchorLoss`. Those weights
        train with the encoder and only exist for the classes that train;
        ``transform`` and every query use the encoder alone. See
        :mod:`sklearn_siamese.losses` and the user guide, "Losses and
        mining".
    margin : float, default=1.0
        Margin of the contrastive and triplet losses, in units of
        ``distance``. For the class-weight losses, whose margins are in
        other units (an angle for ArcFace, a cosine for CosFace and
        Proxy-Anchor), it multiplies the loss's own margin: 1.0 keeps it
        (ArcFace 0.5 rad, CosFace 0.35, Proxy-Anchor's ``delta`` 0.1, or
        the value a loss object was given), 2.0 doubles it, so a search
        over ``margin`` moves it too. Unused by NormFace, which has none.
    mining : {"all", "semihard", "hard", "random_pairs"}, default="all"
        Which pairs or triplets of a batch are used; see
        :mod:`sklearn_siamese.mining`. ``"random_pairs"`` trains on balanced
        random pairs (triplets for the triplet loss), for comparison. The
        class-weight losses use every sample of a batch and choose none:
        for them only ``"random_pairs"`` matters, as the way batches are
        drawn (with ``sampler="auto"``).
    distance : {"euclidean", "cosine"}, default="euclidean"
        Distance between embeddings, used by the loss, ``score`` and the
        pair methods. The class-weight losses compare embeddings with
        their class weights by cosine whatever ``distance`` (with
        ``normalize=True`` both distances rank alike).
    normalize : bool or "auto", default="auto"
        Whether embeddings are scaled to unit L2 norm. ``"auto"`` is True,
        except when ``loss="auto"`` chooses the triplet loss, which trains
        un-normalised embeddings (better with many classes in the same
        measurements).
    .. shared-parameters:: max_epochs max_time samples_per_epoch batch_size samples_per_class sampler lr lr_schedule optimizer optimizer__kwargs weight_decay
    validation_fraction : "auto", float or None, default=None
        Fraction of the classes held out (whole classes: the real use is
        classes unseen in training) to compute a validation loss, the
        precision@1 that early stopping monitors, and ``validation_score_``
        / ``baseline_score_``. None (the default) holds out nothing: every
        class trains for ``max_epochs`` (or ``max_time``), which gave the
        best unseen-class accuracy on every benchmark (faces, Omniglot,
        digits, MNIST, Fashion-MNIST; see the docs' benchmark pages). With
        classes held out, ``refit`` (default True) brings them back into
        training for the epochs early stopping chose. ``"auto"`` holds out
        20% of the classes when at least 8 classes remain for training, and
        nothing otherwise. A number is used whenever at least two classes
        can be held out and two remain; 0 disables validation.
    .. shared-parameters:: early_stopping n_iter_no_change refit augmentation rotation_classes
    instance_weight : float or "auto", default="auto"
        Weight of an instance-discrimination term (NT-Xent between two
        views of each training sample, Chen et al. 2020) added to the loss.
        The views differ by ``augmentation`` and dropout. It keeps the
        embedding informative about individual samples rather than only
        the training classes, which helps on classes unseen in training
        when they are few; it doubles the encoder passes per batch.
        ``"auto"`` is 0.5, and 0 (off) when ``loss="auto"`` chooses the
        triplet loss: with hundreds of classes the term lost on Omniglot
        and halved the epochs a time budget allows.
    .. shared-parameters:: precision device
    .. shared-parameters:: accelerator callbacks
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch sampling, validation split and
        dropout. On CPU the same value and the same number of torch
        threads give bit-identical embeddings (another thread count splits
        convolutions and matrix products differently, which changes the
        last bits).
    .. shared-parameters:: verbose warm_start

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in fit.
    .. shared-parameters:: n_features_in_ image_shape_
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in fit, when X has string column names.
    embedding_dim_ : int
        Size of the embedding.
    loss_ : str
        The loss that trained: ``loss`` as ``"auto"`` resolved it, or its
        name (a class-weight loss object's class name).
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the encoder.
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

    See Also
    --------
    SiameseVerifier : Classifier answering "same class?" for pairs.
    sklearn.neighbors.NeighborhoodComponentsAnalysis : Linear metric learning.

    References
    ----------
    .. [1] R. Hadsell, S. Chopra and Y. LeCun, "Dimensionality Reduction by
       Learning an Invariant Mapping", CVPR 2006.
    .. [2] F. Schroff, D. Kalenichenko and J. Philbin, "FaceNet: A Unified
       Embedding for Face Recognition and Clustering", CVPR 2015.
    .. [3] J. Deng, J. Guo, N. Xue and S. Zafeiriou, "ArcFace: Additive
       Angular Margin Loss for Deep Face Recognition", CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese import SiameseEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> emb = SiameseEmbedder(image_shape=(8, 8), max_epochs=2, random_state=0).fit(X / 16, y)
    >>> emb.transform(X[:3] / 16).shape
    (3, 32)
    """

    _parameter_constraints = {
        **_BaseSiamese._parameter_constraints,
        "loss": [StrOptions({"auto", "contrastive", "triplet", *CLASS_WEIGHT_LOSSES}), ClassWeightLoss],
        "normalize": ["boolean", StrOptions({"auto"})],
        "instance_weight": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        encoder="auto",
        *,
        image_shape="auto",
        embedding_dim=None,
        loss="auto",
        margin=1.0,
        mining="all",
        distance="euclidean",
        normalize="auto",
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
        validation_fraction=None,
        early_stopping=True,
        n_iter_no_change=5,
        refit=True,
        augmentation="auto",
        rotation_classes=False,
        instance_weight="auto",
        precision="auto",
        device="cpu",
        accelerator=None,
        callbacks=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        **optimizer__kwargs,
    ):
        self.encoder = encoder
        self.image_shape = image_shape
        self.embedding_dim = embedding_dim
        self.loss = loss
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
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self._set_optimizer_arguments(optimizer__kwargs)

    def _resolve_auto(self, n_classes):
        self.loss_ = resolve_loss(self.loss, n_classes)

    def _training_loss(self):
        """The ``loss`` that trains: a name ("auto" resolved, as ``loss_`` says) or a class-weight loss object."""
        if isinstance(self.loss, str):
            # getattr: a weights file written before loss_ existed holds an explicit loss.
            return getattr(self, "loss_", self.loss)
        return self.loss

    def _auto_chose_triplet(self):
        """Whether ``loss="auto"`` chose the triplet loss: then the ``"auto"`` companions follow it."""
        return isinstance(self.loss, str) and self.loss == "auto" and self._training_loss() == "triplet"

    def _embedding_normalize(self):
        if self.normalize != "auto":
            return self.normalize
        return not self._auto_chose_triplet()

    def _training_instance_weight(self):
        if self.instance_weight != "auto":
            return self.instance_weight
        return 0.0 if self._auto_chose_triplet() else AUTO_INSTANCE_WEIGHT

    def _make_criterion(self, embedding_dim, classes=None):
        loss = self._training_loss()
        if isinstance(loss, str) and loss in ("contrastive", "triplet"):
            criterion = TripletLoss if loss == "triplet" else ContrastiveLoss
            return criterion(margin=self.margin, distance=self.distance, mining=self.mining)
        # A loss with a weight vector per class: for the classes that train,
        # or, when a saved model is restored, as many as its saved weights.
        classes = [] if classes is None else classes
        return check_class_weight_loss(loss).build(classes, embedding_dim, margin_scale=self.margin)

    def _random_batch_sampler(self):
        return RandomTripletSampler if self._training_loss() == "triplet" else RandomPairSampler

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the encoder on pairs or triplets drawn from ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training samples: real numbers, finite. A sparse matrix (a
            ``TfidfVectorizer``'s output) is densified one batch at a
            time, never whole; it trains an MLP (``encoder="mlp"``, or
            ``"auto"``, which chooses it), and an image encoder or
            ``image_shape`` refuses it with a ``ValueError``.
        y : array-like of shape (n_samples,)
            Class label of each sample (ints or strings); at least 2
            classes, one of them with 2 or more samples.

        Returns
        -------
        self : SiameseEmbedder
            The fitted embedder.

        Raises
        ------
        ValueError, TypeError
            On bad input or parameters, before any training (see the
            README section "Reliability and persistence").
        FloatingPointError
            When the training loss or the weights become NaN or infinite;
            the estimator is then left unfitted.

        Notes
        -----
        A ``KeyboardInterrupt`` in the middle of an epoch ends ``fit``
        normally with the weights of the last finished epoch
        (``interrupted_`` is True). Fit again with ``warm_start=True`` to
        continue to ``max_epochs``; the result equals an uninterrupted run.
        """
        self._fit(X, y)
        return self

    def transform(self, X):
        """Embed X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to embed.

        Returns
        -------
        X_new : ndarray of shape (n_samples, `embedding_dim_`)
            Embeddings, float32.
        """
        return self._embed(X)

    @property
    def _n_features_out(self):
        return self.embedding_dim_

    def score(self, X, y):
        """Leave-one-out precision@1 of the embeddings.

        Each sample of X retrieves its most similar other sample of X in
        the embedding space (smallest ``distance``; ties go to the earlier
        sample); the score is the fraction that retrieve a sample of their
        own class. Samples whose class has no other sample in X are left
        out, as in Musgrave et al. (2020): this is
        :func:`~sklearn_siamese.metrics.embedding_precision_at_1`, the same
        number as :func:`~sklearn_siamese.metrics.precision_at_1` and as the
        ``valid_precision_at_1`` that early stopping monitors. Higher is
        better, so ``GridSearchCV`` can tune the embedder without a pipeline.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, at least 2.
        y : array-like of shape (n_samples,)
            Their class labels; at least one class needs 2 samples.

        Returns
        -------
        score : float
            Fraction of the scored samples whose nearest other sample
            shares their label.
        """
        E = self.embed(X)
        if len(E) < 2:
            raise ValueError("score needs at least 2 samples for leave-one-out nearest neighbours.")
        return embedding_precision_at_1(E, y, similarity=self.embedding_similarity)

    def pair_score(self, pairs):
        """Similarity of each pair: the opposite of :meth:`pair_distance`.

        Higher means more similar, as ``pair_score`` in metric-learn.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs.

        Returns
        -------
        scores : ndarray of shape (n_pairs,)
            ``-pair_distance(pairs)``.
        """
        return -self.pair_distance(pairs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
