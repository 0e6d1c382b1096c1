"""Machinery shared by :class:`SiameseEmbedder` and :class:`SiameseVerifier`.

``_BaseSiamese.fit`` validates the data, encodes the labels, holds out
validation classes, builds the encoder, and trains it through a skorch
``NeuralNet`` kept as the fitted attribute ``net_``. Subclasses choose the
loss (``_make_criterion``) and the random-batch sampler
(``_random_batch_sampler``) and add what they need after training. The jobs
live in their own modules: input checks in ``_checks``, the splits in
``_data_split``, the encoder in ``_encoder_build``, the skorch net in
``_net_assembly`` and inference in ``_inference``.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from skorch.helper import predefined_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._class_expansion import add_rotated_classes, rotation_image_shape
from ._checks import (
    check_can_form_pairs,
    image_shape_of,
    is_data_frame,
    resolve_device,
    resolve_image_shape,
    validate_input,
    validate_pairs,
)
from ._data_split import split_validation_classes
from ._encoder_build import build_module, encoder_spec, make_augment
from ._inference import embed_rows
from ._out_of_core import MappedPages, as_tensor, float_batch
from ._precision import PRECISIONS, prepare_for_precision, resolve_precision
from ._net_assembly import OPTIMIZER_PREFIX, OPTIMIZERS, bind_estimator, forked_torch_rng, make_net, record_training
from ._training import TensorDataset, finished_epochs, set_torch_rng_state
from .distances import DISTANCES, cross_distance, paired_distance
from .encoders import ENCODERS, EncoderSpec
from .metrics import embedding_precision_at_1
from .mining import MINING
from .sampling import RandomPairSampler


class _BaseSiamese(BaseEstimator):
    """Shared parameters and training loop; not for direct use."""

    _parameter_constraints: dict = {
        "encoder": [StrOptions(set(ENCODERS) | {"auto"}), EncoderSpec, nn.Module, callable],
        "image_shape": [StrOptions({"auto"}), tuple, list, None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "mining": [StrOptions(set(MINING))],
        "distance": [StrOptions(set(DISTANCES))],
        "normalize": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "samples_per_epoch": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "rotation_classes": ["boolean"],
        "batch_size": [Interval(Integral, 4, None, closed="left")],
        "samples_per_class": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"}), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [StrOptions({"affine", "auto"}), callable, None],
        "instance_weight": [Interval(Real, 0, None, closed="left")],
        "precision": [StrOptions(set(PRECISIONS))],
        "device": [str, torch.device],
        "accelerator": [None, object],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # Float type of the embeddings at inference; the verifier uses float64.
    _inference_dtype = np.float32

    # ------------------------------------------------ optimizer__* arguments
    # skorch's convention: ``optimizer__momentum=0.9`` is passed to the
    # optimizer as ``momentum=0.9``. The subclasses' ``__init__`` take them as
    # ``**optimizer__kwargs`` and store them as attributes of those names;
    # ``get_params``/``set_params`` list and set them beside the named
    # parameters, so ``clone`` and ``GridSearchCV`` handle them like any other.
    def _set_optimizer_arguments(self, arguments):
        for key, value in arguments.items():
            if not key.startswith(OPTIMIZER_PREFIX) or key == OPTIMIZER_PREFIX:
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument {key!r} "
                    f"(extra keyword arguments must be optimizer arguments, named {OPTIMIZER_PREFIX}<name>)."
                )
            setattr(self, key, value)

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: v for k, v in vars(self).items() if k.startswith(OPTIMIZER_PREFIX)})
        return params

    def set_params(self, **params):
        for key in [k for k in params if k.startswith(OPTIMIZER_PREFIX) and k != OPTIMIZER_PREFIX]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    # ------------------------------------------------------- subclass hooks
    def _make_criterion(self, embedding_dim):
        """The training loss, a ``torch.nn.Module`` called on (embeddings, labels)."""
        raise NotImplementedError

    def _random_batch_sampler(self):
        """The sampler class that ``mining="random_pairs"`` draws batches with."""
        return RandomPairSampler

    def _split_validation(self, y_codes, rng):
        """``(train_idx, valid_idx)``: by default, validation classes held out."""
        return split_validation_classes(y_codes, self.validation_fraction, rng)

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        """Validate, then train the encoder.

        Returns ``(X, y_codes, train_idx, valid_idx)``: the validated
        float32 X, the integer label codes and the rows that trained and
        validated the network, for the subclass's work after training.
        """
        if getattr(self, "warm_start", False) and hasattr(self, "net_"):
            return self._continue_fit(X, y)
        self._clear_fitted()
        try:
            return self._fit_fresh(X, y)
        except BaseException:
            # Never leave a half-trained estimator that looks fitted.
            self._clear_fitted()
            raise

    def _clear_fitted(self):
        for key in list(vars(self)):
            if (key.endswith("_") and not key.startswith("__")) or key.startswith("_fit_"):
                delattr(self, key)

    def _fit_fresh(self, X, y):
        X_image_shape, frame = image_shape_of(X), is_data_frame(X)
        X, y = validate_input(self, X, y, y_numeric=False)
        with warnings.catch_warnings():
            # Many classes with few samples each is the normal case here, not a regression target.
            warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%")
            check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        check_can_form_pairs(y_codes, type(self).__name__)
        if self.batch_size < 2 * self.samples_per_class:
            raise ValueError(
                f"batch_size={self.batch_size} must hold at least 2 classes of "
                f"samples_per_class={self.samples_per_class} samples, i.e. be "
                f">= {2 * self.samples_per_class}."
            )
        device = self._training_device()
        # Last of the checks: its warning is only worth giving when training follows.
        self.image_shape_ = resolve_image_shape(self, X_image_shape, frame, X.shape[1])

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        train_idx, valid_idx = self._split_validation(y_codes, rng)
        self.validation_classes_ = self.classes_[np.unique(y_codes[valid_idx])] if len(valid_idx) else self.classes_[:0]

        with forked_torch_rng(device):
            torch.manual_seed(seed)
            X_probe = float_batch(X[:2])
            module, self.embedding_dim_ = build_module(self.get_params(deep=False), X_probe, device, self.image_shape_)
            self.precision_ = resolve_precision(self.precision, device)
            built_in = type(encoder_spec(self.encoder)) in ENCODERS.values()
            prepare_for_precision(module, self.precision_, built_in)
            self.augment_ = make_augment(self.augmentation, self.encoder, X_probe, device, self.image_shape_)
            with forked_torch_rng(device):
                # A criterion with parameters (the verifier's head) must not
                # shift the random stream the encoder trains on, so the
                # verifier's encoder is the embedder's for the same random_state.
                # (manual_seed reseeds CUDA too, so the fork must restore it.)
                torch.manual_seed(seed + 1)
                criterion = self._make_criterion(self.embedding_dim_)
            # Kept for warm_start, which must rebuild the same training rows.
            self._fit_rotation_shape = rotation_image_shape(self, X.shape[1]) if self.rotation_classes else None
            dataset, net_train_idx = self._training_dataset(X, y_codes, train_idx)
            net = make_net(self, module, criterion, device, dataset, net_train_idx, valid_idx, rng)
            # Set before training so that an EstimatorCheckpoint can save the estimator.
            self.net_ = net
            self._fit_y_codes = y_codes
            self._fit_split = (train_idx, valid_idx)
            net.fit(dataset, y=None)
        record_training(self, net, done=True)
        self._score_against_input(X, y_codes)
        return X, y_codes, train_idx, valid_idx

    def _score_against_input(self, X, y_codes):
        """Set ``validation_score_`` and ``baseline_score_``.

        Both are leave-one-out precision@1 on the rows of the held-out
        validation classes that early stopping monitors (at most 2,000): of the trained embedding, scored as the
        ``valid_precision_at_1`` callback scores it, and of the input
        features themselves (Euclidean). None when no classes were held out.
        """
        self.validation_score_ = self.baseline_score_ = None
        monitor = dict(self.net_.callbacks_).get("valid_precision_at_1")
        if monitor is None:
            return
        rows = monitor.rows
        X_rows, y_rows = np.asarray(X[rows], dtype=np.float32).reshape(len(rows), -1), y_codes[rows]
        MappedPages(X).read(X_rows.nbytes, n_reads=len(rows))  # rows gathered from all over a memmap
        self.validation_score_ = monitor.score(self.net_.module_, X_rows, y_rows)
        # Input rows may be wide: the matrix-product form, a diagnostic needs no bitwise invariance.
        self.baseline_score_ = embedding_precision_at_1(
            X_rows, y_rows, similarity=lambda A, B: -torch.cdist(torch.from_numpy(A), torch.from_numpy(B)).numpy()
        )

    def _continue_fit(self, X, y):
        """``warm_start=True``: train on from the last finished epoch up to ``max_epochs`` epochs."""
        snapshot = dict(getattr(self.net_, "callbacks_", [])).get("epoch_snapshot")
        if snapshot is None or snapshot.state_ is None or not hasattr(self, "_fit_y_codes"):
            raise ValueError(
                "warm_start=True cannot continue this estimator: it holds no training state "
                "(it was loaded with load_weights, or fitted by an older version). "
                "Set warm_start=False to train afresh."
            )
        X, y = validate_input(self, X, y, y_numeric=False, reset=False)
        classes = np.unique(y)
        if not np.array_equal(classes, self.classes_):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit, "
                f"but y has classes {classes[:10].tolist()} and the estimator was fitted on "
                f"{self.classes_[:10].tolist()}. Set warm_start=False to train afresh."
            )
        y_codes = np.searchsorted(self.classes_, y)
        if not np.array_equal(y_codes, self._fit_y_codes):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit: "
                f"X and y must be the same {len(self._fit_y_codes)} samples in the same order "
                f"(got {len(y_codes)}). Set warm_start=False to train afresh."
            )
        net = self.net_
        while len(net.history) and net.history[-1].get("interrupted", False):
            net.history.pop()
        done = finished_epochs(net.history)
        if self.max_epochs < done:
            raise ValueError(
                f"max_epochs={self.max_epochs} must be >= the {done} epochs already run "
                "when warm_start=True (max_epochs counts all epochs, as n_estimators "
                "does in GradientBoostingClassifier)."
            )
        dataset, _ = self._training_dataset(X, y_codes, self._fit_split[0])
        if net.iterator_valid__sampler is not None:
            net.train_split = predefined_split(dataset)
        bind_estimator(net.callbacks_, self)
        device = torch.device(net.device) if net.device is not None else self._training_device()
        with forked_torch_rng(device):
            set_torch_rng_state(snapshot.state_["torch_rng"])
            try:
                net.partial_fit(dataset, y=None, epochs=self.max_epochs - done)
            except BaseException:
                # Keep the model of the last finished epoch, as an interruption does.
                snapshot.in_epoch_ = True
                snapshot.on_train_end(net)
                record_training(self, net, done=True)
                raise
        record_training(self, net, done=True)
        self._score_against_input(X, y_codes)
        return (X, y_codes, *self._fit_split)

    def _training_dataset(self, X, y_codes, train_idx):
        """The dataset the net trains on, and its training rows.

        With ``rotation_classes=True`` the training rows' rotations are
        appended as new classes; otherwise X is shared, not copied.
        """
        image_shape = getattr(self, "_fit_rotation_shape", None)
        if image_shape is not None:
            X, y_codes, train_idx = add_rotated_classes(X, y_codes, train_idx, image_shape)
        return TensorDataset(as_tensor(X), torch.as_tensor(y_codes), MappedPages(X)), train_idx

    def _training_device(self):
        """The device to train on: the accelerator's when one is given."""
        if self.accelerator is not None and getattr(self.accelerator, "device_placement", False):
            return torch.device(self.accelerator.device)
        return resolve_device(self.device)

    # ------------------------------------------------------------ inference
    def _embed(self, X, validate=True):
        """Embeddings of X as an array ``(n_samples, embedding_dim_)`` of ``_inference_dtype``."""
        check_is_fitted(self)
        if validate:
            X = validate_input(self, X, reset=False)
        return embed_rows(self.net_.module_, X, self.embedding_dim_, self._inference_dtype)

    def _pair_embeddings(self, pairs):
        check_is_fitted(self)
        a, b = validate_pairs(self, pairs)
        return self._embed(a, validate=False), self._embed(b, validate=False)

    def _pairwise_distance(self, A, B):
        """Distances between two sets of embeddings, as a numpy array (each independent of the other rows)."""
        return cross_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance, batch_invariant=True).numpy()

    def _similarity_from_embeddings(self, A, B):
        """Similarity (higher = more alike) of every row of A to every row of B.

        The hook that one-shot evaluation and reference-based prediction use;
        the embedder's similarity is the negated distance.
        """
        return -self._pairwise_distance(A, B)

    def embed(self, X):
        """Embed the rows of X with the trained encoder.

        The public "embed these rows" entry point that evaluation
        (:mod:`sklearn_siamese.metrics`), plotting, persistence and users'
        own code use.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, scaled as the training data was.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, `embedding_dim_`)
            One embedding per row.
        """
        return self._embed(X)

    def embedding_similarity(self, A, B):
        """Similarity of every embedding in A to every embedding in B.

        Higher means more alike. For :class:`SiameseEmbedder` it is the
        negated distance (``distance`` parameter); for
        :class:`SiameseVerifier` the probability that the two samples share
        a class. Use it with embeddings from :meth:`embed` to score many
        comparisons without embedding a sample twice.

        Parameters
        ----------
        A : ndarray of shape (n_a, `embedding_dim_`)
            Embeddings returned by :meth:`embed`.
        B : ndarray of shape (n_b, `embedding_dim_`)
            Embeddings returned by :meth:`embed`.

        Returns
        -------
        similarity : ndarray of shape (n_a, n_b)
        """
        check_is_fitted(self)
        return self._similarity_from_embeddings(A, B)

    def similarity(self, X, Y=None):
        """Similarity of every row of X to every row of Y (higher = more alike).

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Samples.
        Y : array-like of shape (n_samples_Y, n_features), default=None
            Samples to compare with; ``None`` compares X with itself.

        Returns
        -------
        similarity : ndarray of shape (n_samples_X, n_samples_Y)
            See :meth:`embedding_similarity`.
        """
        A = self.embed(X)
        B = A if Y is None else self.embed(Y)
        return self.embedding_similarity(A, B)

    def pair_distance(self, pairs):
        """Distance between the two samples of each pair, in the embedding space.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs; ``pairs[:, 0]`` and ``pairs[:, 1]`` are the two sides.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
            Distance (``distance`` parameter) between the embeddings.
        """
        a, b = self._pair_embeddings(pairs)
        return paired_distance(torch.from_numpy(a), torch.from_numpy(b), self.distance).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = False
        return tags
