"""Glue between the estimators and skorch: datasets and batch iterators.

skorch runs the training loop (epochs, optimiser steps, callbacks,
history, progress display). We plug into its documented hooks: the data is
passed as a :class:`TensorDataset` and ``iterator_train``/``iterator_valid``
are :class:`BatchIterator`, which index whole batches of a tensor at once
(no per-sample ``__getitem__`` and collate) from a label-aware sampler.
"""

import copy
import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PrintLog

from ._inference import embed_rows
from ._out_of_core import float_batch
from .distances import cross_distance
from .losses import nt_xent
from .metrics import embedding_precision_at_1


class TensorDataset(torch.utils.data.Dataset):
    """Features and integer labels held as tensors, indexed a batch at a time.

    ``pages`` (an ``_out_of_core.MappedPages`` of the array X shares memory with)
    releases a memory-mapped X's pages as batches read it.
    """

    def __init__(self, X, y, pages=None):
        self.X = X
        self.y = y
        self.pages = pages

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.y[index]


class BatchIterator:
    """skorch iterator: each ``iter()`` is one epoch of sampler batches.

    Parameters
    ----------
    dataset : TensorDataset
        Data to index.
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
        X, y = self.dataset.X, self.dataset.y
        pages = getattr(self.dataset, "pages", None)
        row_bytes = X[0].numel() * X.element_size() if len(X) else 0
        move = torch.device(self.device) != X.device
        for idx in self.sampler:
            # index_select on a whole batch is several times faster than
            # advanced indexing (X[idx]) for a 1-D index on CPU.
            idx = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            Xb, yb = float_batch(X.index_select(0, idx)), y.index_select(0, idx)
            if pages is not None:
                pages.read(len(idx) * row_bytes, n_reads=len(idx))
            if move:
                Xb, yb = Xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            if self.views > 1:
                Xb, yb = Xb.repeat(self.views, 1), yb.repeat(self.views)
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

    def __init__(self, *args, instance_weight=0.0, instance_temperature=0.2, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance_weight = instance_weight
        self.instance_temperature = instance_temperature

    def get_loss(self, y_pred, y_true, X=None, training=False):
        if not (training and self.instance_weight):
            return super().get_loss(y_pred, y_true, X=X, training=training)
        first, second = y_pred.chunk(2)
        loss = super().get_loss(first, y_true[: len(first)], X=X, training=training)
        return loss + self.instance_weight * nt_xent(first, second, self.instance_temperature)

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


class SubsetSampler:
    """Map a sampler's batches over a subset of rows back to dataset rows."""

    def __init__(self, sampler, rows):
        self.sampler = sampler
        self.rows = rows

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for idx in self.sampler:
            yield self.rows[idx]


class FixedBatches:
    """The same batches every epoch, so validation losses compare across epochs."""

    def __init__(self, sampler, rows):
        self.batches = list(SubsetSampler(sampler, rows))

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


class FirstBatches:
    """Only the first ``n_batches`` batches of each of the sampler's epochs.

    Used under data parallelism: each of ``N`` processes draws ``1/N`` of an
    epoch's batches, so an epoch is still about one pass over the data.
    """

    def __init__(self, sampler, n_batches):
        self.sampler = sampler
        self.n_batches = n_batches

    def __len__(self):
        return min(self.n_batches, len(self.sampler))

    def __iter__(self):
        for _, idx in zip(range(self.n_batches), self.sampler):
            yield idx


class NonFiniteLossGuard(Callback):
    """Stop training with a clear error when the loss is NaN, infinite or diverging.

    Divergence: a training batch loss more than ``divergence_factor`` times
    the first one. Bounded losses (BCE on logits) do not become NaN when
    the weights explode; they grow by orders of magnitude instead.
    """

    def __init__(self, divergence_factor=1e6):
        self.divergence_factor = divergence_factor

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is None or not training:
            return
        value = loss.item()
        epoch = len(net.history)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"The training loss became {value} in epoch {epoch}. "
                f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )
        if self.first_loss_ is None:
            self.first_loss_ = max(value, 1e-3)
        elif value > self.divergence_factor * self.first_loss_:
            raise FloatingPointError(
                f"The training loss became {value:.3g} in epoch {epoch}, over "
                f"{self.divergence_factor:.0e} times its first value ({self.first_loss_:.3g}): "
                f"training diverged. The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )

    def on_epoch_end(self, net, **kwargs):
        # A finite last loss does not prove the last optimiser step kept the weights finite.
        for name, param in net.get_all_learnable_params():
            if not torch.isfinite(param).all():
                raise FloatingPointError(
                    f"The encoder weight {name} became NaN or infinite in epoch {len(net.history)}. "
                    f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
                )


class ValidationPrecisionAt1(Callback):
    """Record ``valid_precision_at_1``: leave-one-out precision@1 on validation rows.

    The rows are samples of the held-out validation classes; each is
    matched to its most similar other row in the embedding (negated
    ``distance``). This measures what the estimators are for, recognising
    classes unseen in training, and is what early stopping monitors. The
    score is :func:`~sklearn_siamese.metrics.embedding_precision_at_1`, the
    definition ``SiameseEmbedder.score`` and
    :func:`~sklearn_siamese.metrics.precision_at_1` use, so the number
    early stopping picks is the number a user measures afterwards.
    """

    def __init__(self, rows, distance="euclidean"):
        self.rows = rows
        self.distance = distance

    def _similarity(self, A, B):
        return -cross_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance, batch_invariant=True).numpy()

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        # Embedded as inference embeds (fixed blocks sized by the encoder's
        # activations), so the score is the one a user measures afterwards.
        rows = torch.as_tensor(self.rows)
        X, y = dataset_valid.X.index_select(0, rows).cpu().numpy(), dataset_valid.y.index_select(0, rows)
        pages = getattr(dataset_valid, "pages", None)
        if pages is not None:  # the rows were gathered from all over a memory-mapped X
            pages.read(X.nbytes, n_reads=len(rows))
        net.history.record("valid_precision_at_1", self.score(net.module_, X, y.cpu().numpy()))

    def score(self, module, X, y):
        """Leave-one-out precision@1 of ``module``'s embeddings of the rows X with labels y."""
        return embedding_precision_at_1(embed_rows(module, X), y, similarity=self._similarity)


def _train_rng(net):
    """The numpy Generator of the training sampler, if any (``SubsetSampler.sampler.rng``)."""
    sampler = getattr(net, "iterator_train__sampler", None)
    return getattr(getattr(sampler, "sampler", sampler), "rng", None)


def _torch_rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    # device is None when an accelerator places the module: then use CUDA's state if any.
    on_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if on_cuda:
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_torch_rng_state(state):
    """Restore a state saved by :class:`EpochSnapshot` (CUDA part only where CUDA exists)."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochSnapshot(Callback):
    """Keep the training state of the last finished epoch; fall back to it on interruption.

    At the start of training and at the end of every epoch it copies the
    module and optimiser state dicts and the random states (torch and the
    training sampler's numpy Generator). skorch ends ``fit`` quietly on
    ``KeyboardInterrupt``; when that happens in the middle of an epoch, this
    callback restores the copied state in ``on_train_end``, so the net holds
    the weights of the last finished epoch, and marks the unfinished epoch's
    history row with ``interrupted=True``. The saved random states also let
    training continue exactly where the last finished epoch left it (the
    estimators' ``warm_start``). It must come before other callbacks so that
    an epoch counts as finished before any later ``on_epoch_end`` raises.
    """

    def initialize(self):
        self.in_epoch_ = False
        self.interrupted_ = False
        self.state_ = None
        return self

    def _snapshot(self, net):
        rng = _train_rng(net)
        self.state_ = {
            "module": copy.deepcopy(net.module_.state_dict()),
            "criterion": copy.deepcopy(net.criterion_.state_dict()),
            "optimizer": copy.deepcopy(net.optimizer_.state_dict()),
            "torch_rng": _torch_rng_state(net.device),
            "sampler_rng": copy.deepcopy(rng.bit_generator.state) if rng is not None else None,
        }

    def on_train_begin(self, net, **kwargs):
        # The state now is where this run starts (a warm start has restored
        # the random states already), so it is the fallback for its first epoch.
        self.in_epoch_ = False
        self.interrupted_ = False
        self._snapshot(net)

    def compact(self):
        """After training: the net holds the snapshot's weights; keep only the random states."""
        if self.state_ is not None:
            self.state_ = {k: self.state_[k] for k in ("torch_rng", "sampler_rng")}

    def on_epoch_begin(self, net, **kwargs):
        self.in_epoch_ = True

    def on_epoch_end(self, net, **kwargs):
        self.in_epoch_ = False
        self._snapshot(net)

    def on_train_end(self, net, **kwargs):
        if not self.in_epoch_:
            return
        # Interrupted inside an epoch: back to the end of the last finished one.
        self.in_epoch_ = False
        self.interrupted_ = True
        state = self.state_
        net.module_.load_state_dict(state["module"])
        net.criterion_.load_state_dict(state["criterion"])
        net.optimizer_.load_state_dict(copy.deepcopy(state["optimizer"]))
        rng = _train_rng(net)
        if rng is not None and state["sampler_rng"] is not None:
            rng.bit_generator.state = copy.deepcopy(state["sampler_rng"])
        if len(net.history):
            net.history.record("interrupted", True)


def finished_epochs(history):
    """Number of history rows of epochs that ran to the end (not marked ``interrupted``)."""
    return sum(1 for row in history if not row.get("interrupted", False))
