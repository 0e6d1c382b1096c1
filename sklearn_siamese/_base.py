"""Machinery shared by :class:`SiameseEmbedder` and :class:`SiameseVerifier`.

``fit`` reads top to bottom in :meth:`_BaseSiamese._fit_fresh`, one step
per method, data flowing one way:

1. :meth:`~_BaseSiamese._validate_training_data`: checks, label codes and
   the image shape (``_training.checks``);
2. :meth:`~_BaseSiamese._prepare_training_data`: validation classes,
   rotated classes, the dataset and its samplers (``_training.data``);
3. :meth:`~_BaseSiamese._build_encoder` and
   :meth:`~_BaseSiamese._build_criterion`: the encoder module, its
   precision and augmentation (``_training.encoder``,
   ``_training.precision``) and the loss (the subclass's
   ``_make_criterion``, from :mod:`sklearn_siamese.losses`);
4. :meth:`~_BaseSiamese._assemble_net`: the skorch net and its callbacks
   (``_training.net``, :mod:`sklearn_siamese.callbacks`);
5. ``net.fit`` trains; :meth:`~_BaseSiamese._record_training` and
   :meth:`~_BaseSiamese._score_against_input` set the fitted attributes.

Inference embeds in fixed blocks (``_training.inference``).
"""

import copy
import copyreg
import time
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split
from torch import nn

from ._portable import from_portable_state, restore_net, to_portable_state
from ._training.checks import (
    check_can_form_pairs,
    image_shape_of,
    is_data_frame,
    resolve_device,
    resolve_image_shape,
    validate_input,
    validate_pairs,
)
from ._training.data import (
    FirstBatches,
    FixedBatches,
    SubsetSampler,
    TensorDataset,
    add_rotated_classes,
    batches_per_epoch,
    make_dataset,
    rotation_image_shape,
    split_validation_classes,
)
from ._training.encoder import build_module, check_sparse_encoder, encoder_spec, make_augment
from ._training.inference import embed_rows
from ._training.net import (
    OPTIMIZER_PREFIX,
    OPTIMIZERS,
    BatchIterator,
    SiameseNet,
    finished_epochs,
    forked_torch_rng,
    mark_restored_epoch,
    optimizer_arguments,
    set_torch_rng_state,
)
from ._training.out_of_core import MappedPages, float_batch
from ._training.precision import PRECISIONS, prepare_for_precision, resolve_precision
from .callbacks import CosineLR, EpochSnapshot, EstimatorCallback, NonFiniteLossGuard, TimeBudget, ValidationPrecisionAt1
from .distances import DISTANCES, Distance, check_distance
from .encoders import BUILT_IN_ENCODERS, ENCODERS, EncoderSpec
from .metrics import embedding_precision_at_1
from .mining import MINERS, Miner, SampledPairs, check_miner
from .sampling import PKSampler, RandomPairSampler

# Validation rows scored by leave-one-out 1-NN each epoch (a sample of them if more).
MAX_RETRIEVAL_ROWS = 2000


@dataclass
class TrainingData:
    """What :meth:`_BaseSiamese._prepare_training_data` hands to the net.

    ``train_idx``/``valid_idx`` are the user's rows that train and
    validate; ``dataset`` may hold more rows (rotated classes), which
    ``train_sampler`` draws from.
    """

    dataset: TensorDataset
    train_idx: np.ndarray
    valid_idx: np.ndarray
    train_sampler: object
    valid_sampler: object
    monitor_rows: np.ndarray


class _BaseSiamese(BaseEstimator):
    """Shared parameters and training loop; not for direct use."""

    _parameter_constraints: dict = {
        "encoder": [StrOptions(set(ENCODERS) | {"auto"}), EncoderSpec, nn.Module, callable],
        "image_shape": [StrOptions({"auto"}), tuple, list, None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "mining": [StrOptions(set(MINERS)), Miner],
        "distance": [StrOptions(set(DISTANCES)), Distance],
        "normalize": ["boolean"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "samples_per_epoch": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_time": [Interval(Real, 0, None, closed="neither"), None],
        "rotation_classes": ["boolean"],
        "batch_size": [Interval(Integral, 4, None, closed="left")],
        "samples_per_class": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "optimizer": [StrOptions(set(OPTIMIZERS)), callable],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"}), None],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "refit": ["boolean"],
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
        params.update(self._optimizer_arguments())
        return params

    def set_params(self, **params):
        for key in [k for k in params if k.startswith(OPTIMIZER_PREFIX) and k != OPTIMIZER_PREFIX]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def _optimizer_arguments(self):
        return {k: v for k, v in vars(self).items() if k.startswith(OPTIMIZER_PREFIX)}

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
        """Train afresh: the steps of ``fit``, in order."""
        X, y_codes = self._validate_training_data(X, y)
        device = self._training_device()
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        data = self._prepare_training_data(X, y_codes, rng)
        with forked_torch_rng(device):
            torch.manual_seed(seed)
            module = self._build_encoder(X, device)
            criterion = self._build_criterion(device, seed + 1)
            # Set before training so that an EstimatorCheckpoint can save the estimator.
            self.net_ = self._assemble_net(module, criterion, data, device)
            self._fit_y_codes, self._fit_split = y_codes, (data.train_idx, data.valid_idx)
            start = time.perf_counter()
            self.net_.fit(data.dataset, y=None)
            first_run_s = time.perf_counter() - start
        self._record_training(self.net_, done=True)
        self._score_against_input(X, y_codes)
        if self.refit and len(data.valid_idx):
            data = self._refit_on_every_class(X, y_codes, device, seed, rng, first_run_s) or data
        return X, y_codes, data.train_idx, data.valid_idx

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
        # Kept for warm_start, which must rebuild the same training rows.
        self._fit_rotation_shape = (
            rotation_image_shape(X.shape[1], self._encoder_image_shape()) if self.rotation_classes else None
        )
        dataset, net_train_idx = self._training_dataset(X, y_codes, train_idx)
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
        return TrainingData(dataset, train_idx, valid_idx, train_sampler, valid_sampler, monitor_rows)

    def _build_encoder(self, X, device):
        """Step 3: the embedding module, with its precision and the training augmentation."""
        X_probe = float_batch(X[:2])
        module, self.embedding_dim_ = build_module(
            self.encoder, self.embedding_dim, self.normalize, X_probe, device, self.image_shape_
        )
        self.precision_ = resolve_precision(self.precision, device)
        self._prepare_module(module)
        self.augment_ = make_augment(self.augmentation, self.encoder, X_probe, device, self.image_shape_)
        return module

    def _prepare_module(self, module):
        """The module's autocast dtype and memory layout for ``precision_``, as fit and load_weights give it."""
        built_in = type(encoder_spec(self.encoder)) in BUILT_IN_ENCODERS
        prepare_for_precision(module, self.precision_, built_in)

    def _build_criterion(self, device, seed):
        """Step 3: the loss, built from its own random stream.

        A criterion with parameters (the verifier's head) must not shift the
        random stream the encoder trains on, so the verifier's encoder is the
        embedder's for the same random_state. (manual_seed reseeds CUDA too,
        so the fork must restore it.)
        """
        with forked_torch_rng(device):
            torch.manual_seed(seed)
            return self._make_criterion(self.embedding_dim_)

    def _assemble_net(self, module, criterion, data, device, max_epochs=None, max_time=None):
        """Step 4: the skorch net over the whole dataset; the samplers pick the train or valid rows."""
        optimizer = OPTIMIZERS.get(self.optimizer, self.optimizer)
        net_kwargs = optimizer_arguments(self._optimizer_arguments(), optimizer)
        # Learning rates of their own: a backbone's (the module's), a verifier head's (the criterion's).
        groups = [
            group
            for part in (module, criterion)
            if hasattr(part, "optimizer_param_groups")
            for group in part.optimizer_param_groups(self.lr)
        ]
        if groups:
            net_kwargs["optimizer__param_groups"] = groups
        net_class, net_device = SiameseNet, device
        max_epochs = self.max_epochs if max_epochs is None else max_epochs
        if self.accelerator is not None:
            from ._training.accelerate import AcceleratedNet as net_class

            net_kwargs["accelerator"] = self.accelerator
            if getattr(self.accelerator, "device_placement", False):
                net_device = None  # the accelerator places the module
        return net_class(
            module,
            criterion=criterion,
            optimizer=optimizer,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__sampler=data.train_sampler,
            iterator_train__device=device,
            iterator_train__augment=self.augment_,
            iterator_train__views=2 if self.instance_weight else 1,
            instance_weight=self.instance_weight,
            iterator_valid=BatchIterator,
            iterator_valid__sampler=data.valid_sampler,
            iterator_valid__device=device,
            train_split=predefined_split(data.dataset) if data.valid_sampler is not None else None,
            callbacks=self._default_callbacks(data.monitor_rows, max_time, max_epochs * len(data.train_sampler))
            + self._user_callbacks(),
            device=net_device,
            verbose=int(bool(self.verbose)),
            **net_kwargs,
        )

    def _default_callbacks(self, monitor_rows, max_time=None, max_steps=None):
        """The callbacks every net starts with, as skorch's ``get_default_callbacks``.

        ``max_time`` replaces the parameter's budget (the second run of
        ``refit``); ``max_steps`` is the run's optimiser steps, over which
        ``lr_schedule="cosine"`` anneals.
        """
        max_time = self.max_time if max_time is None else max_time
        # The snapshot comes first: an epoch counts as finished before any later
        # on_epoch_end (early stopping, a user callback) may stop training.
        callbacks = [("epoch_snapshot", EpochSnapshot()), ("nonfinite_loss", NonFiniteLossGuard())]
        if monitor_rows is not None:
            callbacks.append(("valid_precision_at_1", ValidationPrecisionAt1(monitor_rows, self.distance)))
            if self.early_stopping:
                # Stop on how well held-out classes are recognised, not on their
                # pair loss: the loss of unseen classes rises from the first epochs
                # while their nearest-neighbour accuracy still improves.
                stop = EarlyStopping(
                    monitor="valid_precision_at_1", lower_is_better=False, patience=self.n_iter_no_change, load_best=True
                )
                callbacks.append(("early_stopping", stop))
        if max_time is not None:
            callbacks.append(("time_budget", TimeBudget(max_time)))
        if self.lr_schedule == "cosine":
            callbacks.append(("lr_schedule", CosineLR(max_steps, max_time)))
        if self.verbose and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        return callbacks

    def _user_callbacks(self):
        """Copies of the ``callbacks`` parameter, named, each :class:`EstimatorCallback` given this estimator."""
        user = []
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            user.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
        self._give_estimator_to(user)
        return user

    def _give_estimator_to(self, callbacks):
        for _, cb in callbacks:
            if isinstance(cb, EstimatorCallback):
                cb.set_estimator(self)

    def _record_training(self, net, done=False):
        """Step 5: the fitted attributes that describe training; ``done`` drops data references."""
        self.net_ = net
        self.history_ = net.history
        self.n_epochs_ = finished_epochs(net.history)
        snapshot = dict(net.callbacks_).get("epoch_snapshot")
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
        """Step 5: set ``validation_score_`` and ``baseline_score_``.

        Both are leave-one-out precision@1 on the rows of the held-out
        validation classes that early stopping monitors (at most 2,000): of
        the trained embedding, scored as the ``valid_precision_at_1``
        callback scores it, and of the input features themselves
        (Euclidean). None when no classes were held out.
        """
        self.validation_score_ = self.baseline_score_ = None
        monitor = dict(self.net_.callbacks_).get("valid_precision_at_1")
        if monitor is None:
            return
        rows, y_rows = monitor.rows, y_codes[monitor.rows]
        if sp.issparse(X):
            # Dense, the rows of a wide sparse X would be large: the baseline ranks
            # them by their distances, computed sparse, through their positions.
            X_rows, distances = X[rows], euclidean_distances(X[rows])
            inputs, similarity = np.arange(len(rows))[:, None], lambda A, B: -distances[A[:, 0]][:, B[:, 0]]
        else:
            X_rows = np.asarray(X[rows], dtype=np.float32).reshape(len(rows), -1)
            MappedPages(X).read(X_rows.nbytes, n_reads=len(rows))  # rows gathered from all over a memmap
            # Input rows may be wide: the matrix-product form, a diagnostic needs no bitwise invariance.
            inputs, similarity = X_rows, lambda A, B: -torch.cdist(torch.from_numpy(A), torch.from_numpy(B)).numpy()
        self.validation_score_ = monitor.score(self.net_.module_, X_rows, y_rows)
        self.baseline_score_ = embedding_precision_at_1(inputs, y_rows, similarity=similarity)

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
        stop = dict(self.net_.callbacks_).get("early_stopping")
        epochs = getattr(stop, "best_epoch_", None) or self.n_epochs_
        every_row = np.arange(len(y_codes))
        max_time = None
        if self.max_time is not None:
            max_time = self.max_time - first_run_s
            seconds_per_epoch = first_run_s / max(1, len(self.history_))
            # Epochs grow with the rows when samples_per_epoch="auto". Half the
            # chosen epochs on every class is still worth more than none.
            growth = len(y_codes) / max(1, len(self._fit_split[0])) if self.samples_per_epoch == "auto" else 1.0
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
        with forked_torch_rng(device):
            torch.manual_seed(seed)
            module = self._build_encoder(X, device)
            criterion = self._build_criterion(device, seed + 1)
            self.net_ = self._assemble_net(module, criterion, data, device, max_epochs=epochs, max_time=max_time)
            self._fit_split = (data.train_idx, data.valid_idx)
            self.net_.fit(data.dataset, y=None)
        self._record_training(self.net_, done=True)
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

    def _training_dataset(self, X, y_codes, train_idx):
        """The dataset the net trains on, and its training rows.

        With ``rotation_classes=True`` the training rows' rotations are
        appended as new classes; otherwise X is shared, not copied.
        """
        image_shape = getattr(self, "_fit_rotation_shape", None)
        if image_shape is not None:
            X, y_codes, train_idx = add_rotated_classes(X, y_codes, train_idx, image_shape)
        return make_dataset(X, y_codes), train_idx

    def _batch_sampler(self, y_codes, rng, n_batches=None):
        """Batches of ``P`` classes x ``K`` samples, or the subclass's random pairs or triplets.

        ``n_batches`` per epoch; None is one pass over ``y_codes``.
        """
        if isinstance(check_miner(self.mining), SampledPairs):
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

    # ------------------------------------------------- warm start, restore
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
        schedule = dict(net.callbacks_).get("lr_schedule")
        if schedule is not None:  # max_epochs may have grown since the first fit
            schedule.max_steps = self.max_epochs * len(net.iterator_train__sampler)
        if net.iterator_valid__sampler is not None:
            net.train_split = predefined_split(dataset)
        self._give_estimator_to(net.callbacks_)
        device = torch.device(net.device) if net.device is not None else self._training_device()
        with forked_torch_rng(device):
            set_torch_rng_state(snapshot.state_["torch_rng"])
            try:
                net.partial_fit(dataset, y=None, epochs=self.max_epochs - done)
            except BaseException:
                # Keep the model of the last finished epoch, as an interruption does.
                snapshot.in_epoch_ = True
                snapshot.on_train_end(net)
                self._record_training(net, done=True)
                raise
        self._record_training(net, done=True)
        self._score_against_input(X, y_codes)
        return (X, y_codes, *self._fit_split)

    def _restore_net(self, device, module_state, criterion_state, history):
        """Rebuild ``net_`` (and ``augment_``) when the other fitted attributes are set (``load_weights``).

        The module and the augmentation are built from the parameters, and
        the module is given the saved weights; the net can predict but holds
        no training state. Raises ``RuntimeError`` when the weights do not
        fit the module.
        """
        X_probe = np.zeros((2, self.n_features_in_), dtype=np.float32)
        image_shape = getattr(self, "image_shape_", None)
        module, self.embedding_dim_ = build_module(
            self.encoder, self.embedding_dim, self.normalize, X_probe, device, image_shape, for_loading=True
        )
        # The training augmentation, as fit built it (a weights file does not store code).
        self.augment_ = make_augment(self.augmentation, self.encoder, X_probe, device, image_shape)
        module.load_state_dict(module_state)
        # The layout fit gave it (channels_last for a built-in conv net): the
        # same kernels, so the same embeddings as the saved model's.
        self._prepare_module(module)
        net = NeuralNet(module, criterion=self._make_criterion(self.embedding_dim_), device=device)
        net.initialize()
        net.criterion_.load_state_dict(criterion_state)
        net.history = history
        self._record_training(net, done=True)
        return net

    # ---------------------------------------------------------- persistence
    # Two states. pickle, joblib and copy keep everything (__reduce_ex__), the
    # skorch net with the optimiser and random states that warm_start and
    # EstimatorCheckpoint continue from; unpickling runs code anyway.
    # __getstate__, which skops stores, is the portable state (_portable):
    # weights as arrays, no code, the net rebuilt by __setstate__.
    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (type(self),), super().__getstate__()

    def __getstate__(self):
        return to_portable_state(super().__getstate__())

    def __setstate__(self, state):
        state, weights = from_portable_state(state, type(self).__name__)
        super().__setstate__(state)
        if weights is not None:
            restore_net(self, weights, f"this saved {type(self).__name__}")

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
        return check_distance(self.distance).cross(torch.from_numpy(A), torch.from_numpy(B)).numpy()

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
        return check_distance(self.distance).paired(torch.from_numpy(a), torch.from_numpy(b)).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True
        return tags
