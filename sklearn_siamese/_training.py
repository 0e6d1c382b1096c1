"""Glue between the estimators and skorch: datasets and batch iterators.

skorch runs the training loop (epochs, optimiser steps, callbacks,
history, progress display). We plug into its documented hooks: the data is
passed as a :class:`TensorDataset` and ``iterator_train``/``iterator_valid``
are :class:`BatchIterator`, which index whole batches of a tensor at once
(no per-sample ``__getitem__`` and collate) from a label-aware sampler.
"""

import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback


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
    """

    def __init__(self, dataset, batch_size=None, sampler=None, device="cpu", augment=None):
        self.dataset = dataset
        self.sampler = sampler
        self.device = device
        self.augment = augment

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        X, y = self.dataset.X, self.dataset.y
        move = torch.device(self.device) != X.device
        for idx in self.sampler:
            # index_select on a whole batch is several times faster than
            # advanced indexing (X[idx]) for a 1-D index on CPU.
            idx = torch.from_numpy(np.asarray(idx, dtype=np.int64))
            Xb, yb = X.index_select(0, idx), y.index_select(0, idx)
            if move:
                Xb, yb = Xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            if self.augment is not None:
                Xb = self.augment(Xb)
            yield Xb, yb


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


class SiameseNet(NeuralNet):
    """skorch ``NeuralNet`` that skips redundant train/eval switches.

    skorch calls ``module.train(training)`` before every batch, which walks
    the whole module tree in Python; for small encoders that costs a few
    percent of the training time. The switch is skipped when the modules
    are already in the requested mode.
    """

    def _set_training(self, training=True):
        modules = [getattr(self, name + "_", None) for name in self._modules + self._criteria]
        if all(not isinstance(m, torch.nn.Module) or m.training == training for m in modules):
            return
        super()._set_training(training)


class NonFiniteLossGuard(Callback):
    """Stop training with a clear error when a batch loss is NaN or infinite."""

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        # skorch has already synchronised on loss.item(); reading the float
        # again is cheaper than a torch.isfinite kernel per batch.
        value = loss.item() if loss is not None else 0.0
        if not math.isfinite(value):
            epoch = len(net.history)
            raise FloatingPointError(
                f"The training loss became {value} in epoch {epoch}. "
                f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )


def as_tensor(X):
    """Share a numpy array's memory as a tensor (read-only arrays too: we never write)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))
