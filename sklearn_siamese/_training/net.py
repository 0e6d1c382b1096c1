"""The skorch net the estimators train, and its batch iterator.

skorch runs the training loop (epochs, optimiser steps, callbacks,
history, progress display). We plug into its documented hooks: the data is
passed as a :class:`~sklearn_siamese._training.data.TensorDataset` and
``iterator_train``/``iterator_valid`` are :class:`BatchIterator`, which
index whole batches of a tensor at once (no per-sample ``__getitem__`` and
collate) from a label-aware sampler.
"""

import inspect
import math
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PrintLog

from .instance import instance_loss

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

OPTIMIZER_PREFIX = "optimizer__"

# Names of the callbacks every net starts with (``sklearn_siamese._assembly``),
# by which the estimators and these helpers find them in ``net.callbacks_``.
EPOCH_SNAPSHOT = "epoch_snapshot"
NONFINITE_LOSS = "nonfinite_loss"
# Also the history key of the validation classes' leave-one-out precision@1.
VALID_PRECISION_AT_1 = "valid_precision_at_1"
EARLY_STOPPING = "early_stopping"
TIME_BUDGET = "time_budget"
REMAINING_TIME = "remaining_time"
LR_SCHEDULE = "lr_schedule"
PROGRESS_BAR = "progress_bar"
RECORD_TRAINING = "record_training"

# Optimizer arguments the estimators set themselves, from their own parameters.
_OWN_OPTIMIZER_ARGUMENTS = {"lr": "lr", "weight_decay": "weight_decay", "params": None, "param_groups": None}


def optimizer_arguments(arguments, optimizer):
    """``optimizer__<name>`` arguments, checked against ``optimizer``'s signature.

    Returns them as skorch net keyword arguments (``optimizer__<name>``).
    """
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


@contextmanager
def forked_torch_rng(device):
    """Leave the caller's torch random state (CPU, and ``device`` if CUDA) as it was."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        yield


def mark_restored_epoch(net):
    """Mark with ``restored=True`` the history row of the epoch whose weights early stopping kept.

    Early stopping (``load_best=True``) ends training with the weights of the
    epoch of best validation precision@1, which :func:`~sklearn_siamese.plotting.plot_history`
    marks; this records which one it was.
    """
    stop = dict(getattr(net, "callbacks_", [])).get(EARLY_STOPPING)
    best = getattr(stop, "best_epoch_", None)
    if not best or not getattr(stop, "load_best", False):
        return
    for row in net.history:
        if row.get("epoch") == best:
            row["restored"] = True
        else:
            row.pop("restored", None)


def set_torch_rng_state(state):
    """Restore a state saved by :class:`EpochSnapshot` (CUDA part only where CUDA exists)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def finished_epochs(history):
    """Number of history rows of epochs that ran to the end (not marked ``interrupted``)."""
    return sum(1 for row in history if not row.get("interrupted", False))


def second_views(n, views):
    """Rows of a batch of ``n`` that get a second view when ``views`` is 1 + the fraction that does."""
    return min(n, math.ceil(n * (views - 1) - 1e-9))


def first_views(total, fraction):
    """The sampled rows ``n`` of a training batch of ``total`` rows, ``n + second_views(n, 1 + fraction)``."""
    n = int(total / (1 + fraction))
    while n + second_views(n, 1 + fraction) < total:
        n += 1
    return n


class BatchIterator:
    """skorch iterator: each ``iter()`` is one epoch of sampler batches.

    Parameters
    ----------
    dataset : TensorDataset or SparseDataset
        Data to index (its ``batch`` method gives float32 batches).
    batch_size : int
        Passed by skorch; the sampler already decides the batch layout.
    sampler : iterable of index arrays
        One epoch of batches per ``iter()``.
    device : str or torch.device
        Batches are moved there before augmentation.
    augment : callable or None
        ``augment(X_batch)`` returns an augmented batch (training only).
    views : {1, 2}
        With 2, each batch is two independently augmented copies of the
        sampled rows stacked (``[view1; view2]``), for the instance term of
        :class:`SiameseNet`.
    """

    def __init__(self, dataset, batch_size=None, sampler=None, device="cpu", augment=None, views=1):
        self.dataset = dataset
        self.sampler = sampler
        self.device = device
        self.augment = augment
        self.views = views

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        move = torch.device(self.device) != self.dataset.device
        for idx in self.sampler:
            Xb, yb = self.dataset.batch(torch.from_numpy(np.asarray(idx, dtype=np.int64)))
            if move:
                Xb, yb = Xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            if self.views > 1:
                # The second view of the first second_views(n, views) rows.
                m = second_views(len(Xb), self.views)
                Xb, yb = torch.cat([Xb, Xb[:m]]), torch.cat([yb, yb[:m]])
            if self.augment is not None:
                Xb = self.augment(Xb)
            yield Xb, yb


class SiameseNet(NeuralNet):
    """skorch ``NeuralNet`` with an optional instance term and cheaper mode switches.

    With ``instance_weight > 0`` the training iterator yields two views of
    every sampled row (``[view1; view2]``); the criterion sees the first
    view with its class labels, and ``instance_weight`` times
    :func:`~sklearn_siamese.losses.nt_xent` ties each row's two views
    together against every other row. Validation batches hold one view and
    get the criterion alone, so validation losses compare across settings.

    skorch calls ``module.train(training)`` before every batch, which walks
    the whole module tree in Python; for small encoders that costs a few
    percent of the training time, so the switch is skipped when the modules
    are already in the requested mode.
    """

    def __init__(self, *args, instance_weight=0.0, instance_temperature=0.2, instance_fraction=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance_weight = instance_weight
        self.instance_temperature = instance_temperature
        self.instance_fraction = instance_fraction

    def get_all_learnable_params(self):
        # Frozen parameters (requires_grad=False, e.g. a BackboneEncoder's
        # frozen blocks) stay out of the optimiser: weight decay and
        # momentum must not move them.
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not (training and self.instance_weight):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        n = first_views(len(y_pred), self.instance_fraction)
        first, second = y_pred[:n], y_pred[n:]
        loss = super().get_loss(first, y_true[:n], X=X, training=training)
        return loss + self.instance_weight * instance_loss(first[: len(second)], second, self.instance_temperature)

    def notify(self, method_name, **cb_kwargs):
        # skorch calls every callback's hook on every batch; most callbacks
        # (the epoch timer, the loss scorers, the print log) inherit the
        # no-op, and calling them costs a few percent of a small encoder's
        # step. The net's own hook (it opens the history's rows) and the
        # callback hooks that a class overrides are called, in order.
        getattr(self, method_name)(self, **cb_kwargs)
        hooks = self._overridden_hooks(method_name)
        for i, hook in enumerate(hooks):
            try:
                hook(self, **cb_kwargs)
            except KeyboardInterrupt:
                if method_name == "on_epoch_end":
                    # A callback that ends training after a finished epoch
                    # (max_time, early stopping) must not hide that epoch's
                    # row: the print log, last in line, would never run.
                    for later in hooks[i + 1 :]:
                        if isinstance(getattr(later, "__self__", None), PrintLog):
                            later(self, **cb_kwargs)
                raise

    def _overridden_hooks(self, method_name):
        # Only the callbacks' bound methods are cached: one of the net's own
        # would be a reference cycle that keeps a replaced net alive until
        # the garbage collector runs.
        callbacks = self.callbacks_
        cache = self.__dict__.get("_hook_cache")
        if cache is None or cache[0] is not callbacks:
            cache = self.__dict__["_hook_cache"] = (callbacks, {})
        hooks = cache[1].get(method_name)
        if hooks is None:
            hooks = cache[1][method_name] = [
                getattr(cb, method_name)
                for _, cb in callbacks
                if method_name in vars(cb) or getattr(type(cb), method_name) is not getattr(Callback, method_name)
            ]
        return hooks

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_hook_cache", None)
        return state

    def _set_training(self, training=True):
        modules = [getattr(self, name + "_", None) for name in self._modules + self._criteria]
        if all(not isinstance(m, torch.nn.Module) or m.training == training for m in modules):
            return
        super()._set_training(training)
