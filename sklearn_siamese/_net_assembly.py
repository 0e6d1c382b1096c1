"""Assembling training: samplers, callbacks and the skorch net, and reading it back.

The functions take the estimator to read its parameters; they are the
training half of :class:`~sklearn_siamese._base._BaseSiamese`, kept apart
so that each module holds one job. :func:`record_training` and
:func:`restore_net` are also the seam :mod:`sklearn_siamese.persistence`
uses.
"""

import copy
import inspect
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split

from ._encoder_build import build_module, make_augment
from .callbacks import TimeBudget
from ._training import (
    BatchIterator,
    EpochSnapshot,
    FirstBatches,
    FixedBatches,
    NonFiniteLossGuard,
    SiameseNet,
    SubsetSampler,
    ValidationPrecisionAt1,
    finished_epochs,
)
from .sampling import PKSampler

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

OPTIMIZER_PREFIX = "optimizer__"

# Optimizer arguments the estimators set themselves, from their own parameters.
_OWN_OPTIMIZER_ARGUMENTS = {"lr": "lr", "weight_decay": "weight_decay", "params": None, "param_groups": None}


def optimizer_arguments(estimator, optimizer):
    """The estimator's ``optimizer__<name>`` arguments, checked against ``optimizer``'s signature.

    Returns them as skorch net keyword arguments (``optimizer__<name>``).
    """
    arguments = {k: v for k, v in vars(estimator).items() if k.startswith(OPTIMIZER_PREFIX)}
    if not arguments:
        return {}
    try:
        accepted = inspect.signature(optimizer).parameters
    except (TypeError, ValueError):  # no signature to check against
        accepted = None
    takes_any = accepted is None or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    name = getattr(optimizer, "__name__", repr(optimizer))
    for key in arguments:
        argument = key[len(OPTIMIZER_PREFIX) :]
        if argument in _OWN_OPTIMIZER_ARGUMENTS:
            own = _OWN_OPTIMIZER_ARGUMENTS[argument]
            instead = f"set the estimator's {own} parameter instead" if own else "the estimator passes the network's"
            raise ValueError(f"{key} is not accepted: {instead}.")
        if not takes_any and argument not in accepted:
            known = sorted(set(accepted) - {"params", "lr", "weight_decay"})
            raise ValueError(f"{key}: the optimizer {name} has no argument {argument!r}; it takes {known}.")
    return arguments


# Validation rows scored by leave-one-out 1-NN each epoch (a sample of them if more).
MAX_RETRIEVAL_ROWS = 2000


@contextmanager
def forked_torch_rng(device):
    """Leave the caller's torch random state (CPU, and ``device`` if CUDA) as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


# An epoch of samples_per_epoch="auto" draws at least this many samples. On
# a few hundred samples one pass is a handful of optimiser steps, and
# max_epochs and the patience of early stopping, counted in epochs, then
# end training after about a hundred steps (issue 12: 300 face photos, 19
# epochs, 2 s), long before it stops improving.
MIN_SAMPLES_PER_EPOCH = 4096


def batches_per_epoch(estimator, n_rows):
    """Training batches in one epoch over ``n_rows`` rows, from ``samples_per_epoch``."""
    n_samples = estimator.samples_per_epoch
    if n_samples == "auto":
        n_samples = max(n_rows, MIN_SAMPLES_PER_EPOCH)
    return max(1, -(-n_samples // estimator.batch_size))


def make_sampler(estimator, y_codes, rng, n_batches=None):
    """Batches of ``P`` classes x ``K`` samples, or the subclass's random pairs or triplets.

    ``n_batches`` per epoch; None is one pass over ``y_codes``.
    """
    if estimator.mining == "random_pairs":
        return estimator._random_batch_sampler()(y_codes, estimator.batch_size, rng, n_batches)
    return PKSampler(y_codes, estimator.batch_size, estimator.samples_per_class, rng, n_batches)


def make_train_sampler(estimator, y_codes, rng):
    """This process's sampler of training batches.

    Under data parallelism (an accelerator with ``num_processes > 1``)
    every process runs ``fit`` on the same data with the same seed, so all
    start from the same weights and validation split. Each process then
    draws its own training batches, from a random stream seeded by the
    shared seed and its rank, and ``1/num_processes`` of an epoch's
    batches, so an epoch still draws ``samples_per_epoch`` samples in all.
    """
    accelerator = estimator.accelerator
    n_processes = getattr(accelerator, "num_processes", 1)
    n_batches = batches_per_epoch(estimator, len(y_codes))
    if n_processes <= 1:
        return make_sampler(estimator, y_codes, rng, n_batches)
    process_rng = np.random.default_rng([int(rng.integers(2**31)), accelerator.process_index])
    sampler = make_sampler(estimator, y_codes, process_rng, n_batches)
    return FirstBatches(sampler, -(-len(sampler) // n_processes))


def bind_estimator(callbacks, estimator):
    """Let callbacks that save the estimator (e.g. EstimatorCheckpoint) know it."""
    for _, cb in callbacks:
        if hasattr(cb, "_bind_estimator"):
            cb._bind_estimator(estimator)


def make_callbacks(estimator, valid_idx, rng):
    # The snapshot comes first: an epoch counts as finished before any later
    # on_epoch_end (early stopping, a user callback) may stop training.
    callbacks = [("epoch_snapshot", EpochSnapshot()), ("nonfinite_loss", NonFiniteLossGuard())]
    if len(valid_idx):
        rows = valid_idx
        if len(rows) > MAX_RETRIEVAL_ROWS:
            rows = np.sort(rng.choice(rows, size=MAX_RETRIEVAL_ROWS, replace=False))
        callbacks.append(("valid_precision_at_1", ValidationPrecisionAt1(rows, estimator.distance)))
    if len(valid_idx) and estimator.early_stopping:
        # Stop on how well held-out classes are recognised, not on their
        # pair loss: the loss of unseen classes rises from the first epochs
        # while their nearest-neighbour accuracy still improves.
        stop = EarlyStopping(
            monitor="valid_precision_at_1", lower_is_better=False, patience=estimator.n_iter_no_change, load_best=True
        )
        callbacks.append(("early_stopping", stop))
    if estimator.max_time is not None:
        callbacks.append(("time_budget", TimeBudget(estimator.max_time)))
    if estimator.verbose and estimator.verbose > 1:
        callbacks.append(("progress_bar", ProgressBar()))
    user = []
    for i, cb in enumerate(copy.deepcopy(estimator.callbacks or [])):
        user.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
    bind_estimator(user, estimator)
    return callbacks + user


def make_net(estimator, module, criterion, device, dataset, train_idx, valid_idx, rng):
    """A skorch net over the whole dataset; samplers pick the train or valid rows."""
    optimizer = OPTIMIZERS.get(estimator.optimizer, estimator.optimizer)
    y_codes = dataset.y.numpy()
    train_split, valid_sampler = None, None
    if len(valid_idx):
        valid_rng = np.random.default_rng(rng.integers(2**31))
        valid_sampler = FixedBatches(make_sampler(estimator, y_codes[valid_idx], valid_rng), valid_idx)
        train_split = predefined_split(dataset)
    train_sampler = make_train_sampler(estimator, y_codes[train_idx], rng)
    net_kwargs = optimizer_arguments(estimator, optimizer)
    if hasattr(criterion, "optimizer_param_groups"):
        net_kwargs["optimizer__param_groups"] = criterion.optimizer_param_groups(estimator.lr)
    net_class = SiameseNet
    net_device = device
    if estimator.accelerator is not None:
        from ._accelerate import AcceleratedNet as net_class

        net_kwargs["accelerator"] = estimator.accelerator
        if getattr(estimator.accelerator, "device_placement", False):
            net_device = None  # the accelerator places the module
    return net_class(
        module,
        criterion=criterion,
        optimizer=optimizer,
        optimizer__weight_decay=estimator.weight_decay,
        lr=estimator.lr,
        max_epochs=estimator.max_epochs,
        batch_size=estimator.batch_size,
        iterator_train=BatchIterator,
        iterator_train__sampler=SubsetSampler(train_sampler, train_idx),
        iterator_train__device=device,
        iterator_train__augment=estimator.augment_,
        iterator_train__views=2 if estimator.instance_weight else 1,
        instance_weight=estimator.instance_weight,
        iterator_valid=BatchIterator,
        iterator_valid__sampler=valid_sampler,
        iterator_valid__device=device,
        train_split=train_split,
        callbacks=make_callbacks(estimator, valid_idx, rng),
        device=net_device,
        verbose=int(bool(estimator.verbose)),
        **net_kwargs,
    )


def record_training(estimator, net, done=False):
    """Set the fitted attributes that describe training; ``done`` drops data references."""
    estimator.net_ = net
    estimator.history_ = net.history
    estimator.n_epochs_ = finished_epochs(net.history)
    snapshot = dict(net.callbacks_).get("epoch_snapshot")
    estimator.interrupted_ = bool(snapshot is not None and snapshot.interrupted_)
    if done:
        mark_restored_epoch(net)
        # The validation split keeps the training data alive; a fitted
        # estimator does not need it (warm_start rebuilds it) and should
        # not carry the data into its pickle.
        net.train_split = None
        if snapshot is not None:
            snapshot.compact()


def mark_restored_epoch(net):
    """Mark with ``restored=True`` the history row of the epoch whose weights early stopping kept.

    Early stopping (``load_best=True``) ends training with the weights of the
    epoch of best validation precision@1, which :func:`~sklearn_siamese.plotting.plot_history`
    marks; this records which one it was.
    """
    stop = dict(getattr(net, "callbacks_", [])).get("early_stopping")
    best = getattr(stop, "best_epoch_", None)
    if not best or not getattr(stop, "load_best", False):
        return
    for row in net.history:
        if row.get("epoch") == best:
            row["restored"] = True
        else:
            row.pop("restored", None)


def restore_net(estimator, device, module_state, criterion_state, history):
    """Rebuild ``net_`` (and ``augment_``) of an estimator whose other fitted attributes are set.

    The module and the augmentation are built from the estimator's
    parameters, and the module is given the saved weights; the net can predict but holds no training state. Raises
    ``RuntimeError`` when the weights do not fit the module.
    """
    X_probe = np.zeros((2, estimator.n_features_in_), dtype=np.float32)
    image_shape = getattr(estimator, "image_shape_", None)
    module, estimator.embedding_dim_ = build_module(estimator.get_params(deep=False), X_probe, device, image_shape)
    # The training augmentation, as fit built it (a weights file does not store code).
    estimator.augment_ = make_augment(estimator.augmentation, estimator.encoder, X_probe, device, image_shape)
    module.load_state_dict(module_state)
    net = NeuralNet(module, criterion=estimator._make_criterion(estimator.embedding_dim_), device=device)
    net.initialize()
    net.criterion_.load_state_dict(criterion_state)
    net.history = history
    record_training(estimator, net, done=True)
    return net
