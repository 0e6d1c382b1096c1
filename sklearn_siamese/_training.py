"""Glue between the estimators and skorch: datasets and batch iterators.

skorch runs the training loop (epochs, optimiser steps, callbacks,
history, progress display). We plug into its documented hooks: the data is
passed as a :class:`TensorDataset` and ``iterator_train``/``iterator_valid``
are :class:`BatchIterator`, which index whole batches of a tensor at once
(no per-sample ``__getitem__`` and collate) from a label-aware sampler.
"""

import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from .losses import nt_xent


class TensorDataset(torch.utils.data.Dataset):
    """Features and integer labels held as tensors, indexed a batch at a time."""

    def __init__(self, X, y):
        self.X = X
        self.y = y

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
        for idx in self.sampler:
            idx = torch.as_tensor(idx)
            Xb = X[idx].to(self.device, non_blocking=True)
            yb = y[idx].to(self.device, non_blocking=True)
            if self.views > 1:
                Xb, yb = Xb.repeat(self.views, 1), yb.repeat(self.views)
            if self.augment is not None:
                Xb = self.augment(Xb)
            yield Xb, yb


class SiameseNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss can add an instance-discrimination term.

    With ``instance_weight > 0`` the training iterator yields two views of
    every sampled row (``[view1; view2]``); the criterion sees the first
    view with its class labels, and ``instance_weight`` times
    :func:`~sklearn_siamese.losses.nt_xent` ties each row's two views
    together against every other row. Validation batches hold one view and
    get the criterion alone, so validation losses compare across settings.
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
    """Stop training with a clear error when a batch loss is NaN or infinite."""

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is not None and not torch.isfinite(loss).all():
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {loss.item()} in epoch {epoch}. "
                f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )


def as_tensor(X):
    """Share a numpy array's memory as a tensor (read-only arrays too: we never write)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))
