"""Machinery shared by :class:`SiameseEmbedder` and :class:`SiameseVerifier`: ``fit``.

``fit`` reads top to bottom in :meth:`_BaseSiamese._fit_fresh`, one step
per method, each handing what it computed to the next:

1. :meth:`~_BaseSiamese._validate_training_data`: checks, label codes and
   the image shape (``_training.checks``);
2. :meth:`~_BaseSiamese._prepare_training_data`: validation classes,
   rotated classes, the dataset and its samplers (``_training.data``);
3. :meth:`~_BaseSiamese._train_once` (fit and ``refit`` share it):
   :meth:`~_BaseSiamese._build_encoder` (the module, its precision and
   augmentation: ``_building``, ``_training.precision``) and
   :meth:`~_BaseSiamese._build_criterion` (the subclass's
   ``_make_criterion``, from :mod:`sklearn_siamese.losses`), then
   :func:`~sklearn_siamese._assembly.assemble_net` (the skorch net and its
   default callbacks) trains, and :meth:`~_BaseSiamese._record_training`
   sets the fitted attributes that describe training;
4. :meth:`~_BaseSiamese._score_against_input` and, with ``refit=True``,
   :meth:`~_BaseSiamese._refit_on_every_class`.

The other jobs live beside it: what a fitted estimator answers in
:mod:`sklearn_siamese._queries`, warm start and restoring from saved weights
in :mod:`sklearn_siamese._resume`.
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

from ._assembly import OptimizerArgumentsMixin, assemble_net
from ._building import build_module, check_sparse_encoder, encoder_spec, make_augment
from ._params import PARAMETER_CONSTRAINTS, TRAINING_ONLY_PARAMS
from ._queries import EmbeddingQueriesMixin
from ._resume import ResumeMixin
from ._training.allocator import while_training_on
from ._training.checks import (
    check_can_form_pairs,
    image_shape_of,
    is_data_frame,
    resolve_device,
    resolve_image_shape,
    validate_input,
)
from ._training.data import (
    ROTATIONS,
    FirstBatches,
    FixedBatches,
    SubsetSampler,
    TensorDataset,
    batches_per_epoch,
    rotation_image_shape,
    split_validation_classes,
    training_dataset,
)
from ._training.net import (
    EARLY_STOPPING,
    EPOCH_SNAPSHOT,
    VALID_PRECISION_AT_1,
    finished_epochs,
    forked_torch_rng,
    mark_restored_epoch,
)
from ._training.out_of_core import float_batch
from ._training.precision import prepare_for_precision, resolve_precision
from .encoders import BUILT_IN_ENCODERS
from .mining import check_miner
from .sampling import PKSampler, RandomPairSampler

# Validation rows scored by leave-one-out 1-NN each epoch (a sample of them if more).
MAX_RETRIEVAL_ROWS = 2000


@dataclass
class TrainingData:
    """What :meth:`_BaseSiamese._prepare_training_data` hands to the net.

    ``train_idx``/``valid_idx`` are the user's rows that train and
    validate; ``dataset`` may hold more rows (rotated classes), which
    ``train_sampler`` draws from. ``train_classes`` are the label codes
    of the rows it draws (the rotated classes' included): the classes a
    loss with class weights gives a weight vector.
    """

    dataset: TensorDataset
    train_idx: np.ndarray
    valid_idx: np.ndarray
    train_sampler: object
    valid_sampler: object
    monitor_rows: np.ndarray
    rotation_shape: tuple = None
    train_classes: np.ndarray = None


class _BaseSiamese(OptimizerArgumentsMixin, EmbeddingQueriesMixin, ResumeMixin, BaseEstimator):
    """Shared parameters and training loop; not for direct use."""

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS
    _training_only_params = TRAINING_ONLY_PARAMS

    # ------------------------------------------------------- subclass hooks
    def _make_criterion(self, embedding_dim, classes=None):
        """The training loss, a ``torch.nn.Module`` called on (embeddings, labels).

        ``classes`` are the label codes that train (None when a saved model
        is restored: a loss with class weights then takes their number
        from the saved ``state_dict``).
        """
        raise NotImplementedError

    def _random_batch_sampler(self):
        """The sampler class that ``sampler="random_pairs"`` draws batches with."""
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
        """Train afresh: the steps of ``fit``, in order."""
        X, y_codes = self._validate_training_data(X, y)
        self._resolve_auto(len(self.classes_) * (1 + len(ROTATIONS) if self.rotation_classes else 1))
        device = self._training_device()
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        data = self._prepare_training_data(X, y_codes, rng)
        # Kept for warm_start, which must rebuild the same training rows.
        self._fit_y_codes, self._fit_rotation_shape = y_codes, data.rotation_shape
        first_run_s = self._train_once(X, data, device, seed)
        self._score_against_input(X, y_codes)
        if self.refit and len(data.valid_idx):
            data = self._refit_on_every_class(X, y_codes, device, seed, rng, first_run_s) or data
        return X, y_codes, data.train_idx, data.valid_idx

    def _train_once(self, X, data, device, seed, max_epochs=None, max_time=None):
        """Steps 3 to 5, which fit and refit share: build from ``seed``, train on ``data``; returns the seconds.

        ``net_`` and the training split are set before training, so that an
        :class:`~sklearn_siamese.callbacks.EstimatorCheckpoint` can save the
        estimator during it.
        """
        with forked_torch_rng(device):
            torch.manual_seed(seed)
            module, embedding_dim, precision, augment = self._build_encoder(X, device)
            criterion = self._build_criterion(device, seed + 1, embedding_dim, data.train_classes)
            self.embedding_dim_, self.precision_, self.augment_ = embedding_dim, precision, augment
            self.net_ = assemble_net(self, module, criterion, augment, data, device, max_epochs, max_time)
            self._fit_split = (data.train_idx, data.valid_idx)
            start = time.perf_counter()
            with while_training_on(device):
                self.net_.fit(data.dataset, y=None)
            seconds = time.perf_counter() - start
        self._record_training(self.net_, done=True)
        return seconds

    def _validate_training_data(self, X, y):
        """Step 1: X as float32 rows (or a compact array), y as codes; sets ``classes_`` and ``image_shape_``."""
        X_image_shape, frame = image_shape_of(X), is_data_frame(X)
        X, y = validate_input(self, X, y, y_numeric=False, image_shape=X_image_shape)
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
        self._training_device()  # a bad device fails here, before any work
        if sp.issparse(X):
            check_sparse_encoder(self.encoder, self.image_shape, self.rotation_classes, type(self).__name__)
        # Last of the checks: its warning is only worth giving when training follows.
        self.image_shape_ = resolve_image_shape(
            self.image_shape, self.encoder, X_image_shape, frame or sp.issparse(X), X.shape[1], type(self).__name__
        )
        return X, y_codes

    def _prepare_training_data(self, X, y_codes, rng, split=None):
        """Step 2: validation classes, rotated classes, the dataset and its samplers.

        ``split`` (``(train_idx, valid_idx)``) replaces the validation split.
        """
        if split is None:
            train_idx, valid_idx = self._split_validation(y_codes, rng)
            self.validation_classes_ = (
                self.classes_[np.unique(y_codes[valid_idx])] if len(valid_idx) else self.classes_[:0]
            )
        else:
            train_idx, valid_idx = split
        rotation_shape = rotation_image_shape(X.shape[1], self._encoder_image_shape()) if self.rotation_classes else None
        dataset, net_train_idx = training_dataset(X, y_codes, train_idx, rotation_shape)
        valid_sampler = monitor_rows = None
        if len(valid_idx):
            valid_rng = np.random.default_rng(rng.integers(2**31))
            valid_sampler = FixedBatches(self._batch_sampler(y_codes[valid_idx], valid_rng), valid_idx)
        all_codes = dataset.y.numpy()
        train_sampler = SubsetSampler(self._train_sampler(all_codes[net_train_idx], rng), net_train_idx)
        if len(valid_idx):
            monitor_rows = valid_idx
            if len(monitor_rows) > MAX_RETRIEVAL_ROWS:
                monitor_rows = np.sort(rng.choice(monitor_rows, size=MAX_RETRIEVAL_ROWS, replace=False))
        train_classes = np.unique(all_codes[net_train_idx])
        return TrainingData(
            dataset, train_idx, valid_idx, train_sampler, valid_sampler, monitor_rows, rotation_shape, train_classes
        )

    def _resolve_auto(self, n_classes):
        """Step 1: the choices ``"auto"`` parameters leave to the data (``n_classes`` training classes, rotations counted)."""

    def _embedding_normalize(self):
        """Whether the trained embedding is unit-length: ``normalize``, resolved where it is ``"auto"``."""
        return self.normalize

    def _training_instance_weight(self):
        """The instance term's weight: ``instance_weight``, resolved where it is ``"auto"``."""
        return self.instance_weight

    def _build_encoder(self, X, device):
        """Step 3: ``(module, embedding_dim, precision, augment)``: the embedding module, its precision, the augmentation."""
        X_probe = float_batch(X[:2])
        module, embedding_dim = build_module(
            self.encoder, self.embedding_dim, self._embedding_normalize(), X_probe, device, self.image_shape_
        )
        precision = resolve_precision(self.precision, device)
        self._prepare_module(module, precision)
        augment = make_augment(self.augmentation, self.encoder, X_probe, device, self.image_shape_)
        return module, embedding_dim, precision, augment

    def _prepare_module(self, module, precision):
        """The module's autocast dtype and memory layout for ``precision``, as fit and load_weights give it."""
        built_in = type(encoder_spec(self.encoder)) in BUILT_IN_ENCODERS
        prepare_for_precision(module, precision, built_in)

    def _build_criterion(self, device, seed, embedding_dim, classes):
        """Step 3: the loss, built from its own random stream.

        A criterion with parameters (the verifier's head, class weights) must not shift the
        random stream the encoder trains on, so the verifier's encoder is the
        embedder's for the same random_state. (manual_seed reseeds CUDA too,
        so the fork must restore it.)
        """
        with forked_torch_rng(device):
            torch.manual_seed(seed)
            return self._make_criterion(embedding_dim, classes)

    def _record_training(self, net, done=False):
        """Step 5: the fitted attributes that describe training; ``done`` drops data references."""
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = finished_epochs(net.history)
        snapshot = dict(net.callbacks_).get(EPOCH_SNAPSHOT)
        self.interrupted_ = bool(snapshot is not None and snapshot.interrupted_)
        if done:
            mark_restored_epoch(net)
            # The validation split keeps the training data alive; a fitted
            # estimator does not need it (warm_start rebuilds it) and should
            # not carry the data into its pickle.
            net.train_split = None
            if snapshot is not None:
                snapshot.compact()

    def _score_against_input(self, X, y_codes):
        """Step 5: ``validation_score_`` and ``baseline_score_``, leave-one-out precision@1 on the held-out rows.

        Of the trained embedding and of the input features, on the rows of
        the validation classes early stopping monitors (at most 2,000);
        None when no classes were held out.
        """
        self.validation_score_ = self.baseline_score_ = None
        monitor = dict(self.net_.callbacks_).get(VALID_PRECISION_AT_1)
        if monitor is not None:
            self.validation_score_, self.baseline_score_ = monitor.score_with_baseline(self.net_.module_, X, y_codes)

    def _refit_on_every_class(self, X, y_codes, device, seed, rng, first_run_s):
        """Step 6, with ``refit=True``: train afresh on every class for the epochs validation chose.

        The same initial weights and random streams as the first run; the
        first run's history is kept as ``validation_history_``. With
        ``max_time``, the second run gets what the first left of the budget
        (and ends after the last epoch that fits), and does not start (the
        first run's model stays) when that is less than half what the chosen
        epochs take at the first run's pace. Returns the second run's
        training data, or None when it did not run.
        """
        stop = dict(self.net_.callbacks_).get(EARLY_STOPPING)
        epochs = getattr(stop, "best_epoch_", None) or self.n_epochs_
        every_row = np.arange(len(y_codes))
        max_time = None
        if self.max_time is not None:
            max_time = self.max_time - first_run_s
            seconds_per_epoch = first_run_s / max(1, len(self.history_))
            # An epoch on every class is as much longer as it has more batches:
            # with "auto", epochs grow with the rows below 205 and above 4,096
            # rows, not in between. Half the chosen epochs on every class is
            # still worth more than none.
            growth = batches_per_epoch(self.samples_per_epoch, self.batch_size, len(y_codes)) / batches_per_epoch(
                self.samples_per_epoch, self.batch_size, len(self._fit_split[0])
            )
            if max_time < 0.5 * epochs * seconds_per_epoch * growth:
                return None
        self.validation_history_ = self.history_
        if self.verbose:
            within = "" if max_time is None else f", within the {max_time:.1f} s left of max_time"
            print(
                f"refit: training every class ({len(self.classes_)}, the {len(self.validation_classes_)} "
                f"held out included) for the {epochs} epochs validation chose{within}",
                flush=True,
            )
        data = self._prepare_training_data(X, y_codes, rng, split=(every_row, every_row[:0]))
        self._train_once(X, data, device, seed, max_epochs=epochs, max_time=max_time)
        return data

    # -------------------------------------------------- pieces of the steps
    def _encoder_image_shape(self):
        """The image shape the encoder reads a row as: its ``input_shape``, else X's, else the augmentation's."""
        shape = getattr(encoder_spec(self.encoder), "input_shape", None)
        if shape is None:
            shape = getattr(self, "image_shape_", None)
        if shape is None:
            shape = getattr(self.augmentation, "image_shape", None)
        return shape

    def _batch_sampler(self, y_codes, rng, n_batches=None):
        """Batches of ``P`` classes x ``K`` samples, or the subclass's random pairs or triplets (``sampler``).

        ``n_batches`` per epoch; None is one pass over ``y_codes``.
        """
        sampler = self.sampler
        if sampler == "auto":
            sampler = "random_pairs" if check_miner(self.mining).draws_pairs else "pk"
        if sampler == "random_pairs":
            return self._random_batch_sampler()(y_codes, self.batch_size, rng, n_batches)
        return PKSampler(y_codes, self.batch_size, self.samples_per_class, rng, n_batches)

    def _train_sampler(self, y_codes, rng):
        """This process's sampler of training batches.

        Under data parallelism (an accelerator with ``num_processes > 1``)
        every process runs ``fit`` on the same data with the same seed, so all
        start from the same weights and validation split. Each process then
        draws its own training batches, from a random stream seeded by the
        shared seed and its rank, and ``1/num_processes`` of an epoch's
        batches, so an epoch still draws ``samples_per_epoch`` samples in all.
        """
        n_processes = getattr(self.accelerator, "num_processes", 1)
        n_batches = batches_per_epoch(self.samples_per_epoch, self.batch_size, len(y_codes))
        if n_processes <= 1:
            return self._batch_sampler(y_codes, rng, n_batches)
        process_rng = np.random.default_rng([int(rng.integers(2**31)), self.accelerator.process_index])
        sampler = self._batch_sampler(y_codes, process_rng, n_batches)
        return FirstBatches(sampler, -(-len(sampler) // n_processes))

    def _training_device(self):
        """The device to train on: the accelerator's when one is given."""
        if self.accelerator is not None and getattr(self.accelerator, "device_placement", False):
            return torch.device(self.accelerator.device)
        return resolve_device(self.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        return tags
