"""Preparing the training data: validation classes, rotated classes, the dataset and its samplers.

Functions of arrays and plain values, called in turn by the estimators'
``_prepare_training_data``:

1. :func:`split_validation_classes` holds out whole classes for early
   stopping (:func:`choose_references` picks the verifier's references).
2. :func:`add_rotated_classes` appends rotations of the training rows as
   new classes (``rotation_classes=True``). A character rotated by 90
   degrees is, for a one-shot learner, a new character: Koch et al.
   (2015), Vinyals et al. (2016) and Snell et al. (2017) quadruple the
   Omniglot training classes this way. It changes ``y``, so a transformer
   in a Pipeline cannot do it; it is done here, on the training rows only
   (validation classes stay as they are, so early stopping still measures
   recognition of real unseen classes), and the estimators' ``classes_``
   stay the user's classes.
3. :func:`make_dataset` holds X and the label codes (a
   :class:`TensorDataset`, or a :class:`SparseDataset` for a sparse X);
   the samplers' batches of dataset rows come through :class:`SubsetSampler`,
   :class:`FixedBatches` (validation) and :class:`FirstBatches` (data
   parallelism); :func:`batches_per_epoch` sizes an epoch.
"""

import math

import numpy as np
import scipy.sparse as sp
import torch

from .out_of_core import MappedPages, as_tensor, dense_rows, float_batch

# validation_fraction="auto": hold out this fraction of the classes, but only
# when at least MIN_TRAINING_CLASSES classes remain for training.
AUTO_VALIDATION_FRACTION = 0.2
MIN_TRAINING_CLASSES = 8


def split_validation_classes(y_codes, validation_fraction, rng):
    """Hold out whole classes for validation (the real use is unseen classes).

    ``validation_fraction="auto"`` holds out 20% of the classes only when
    there is enough data: at least ``MIN_TRAINING_CLASSES`` classes remain
    for training (with fewer, every class is worth more for training than
    for early stopping; see README, "Defaults and the evidence behind
    them"). A number is used whenever at least 2 classes with 2+ samples can
    be held out and 2 classes remain. Returns ``(train_idx, valid_idx)``.
    """
    all_idx = np.arange(len(y_codes))
    if not validation_fraction:
        return all_idx, all_idx[:0]
    auto = validation_fraction == "auto"
    fraction = AUTO_VALIDATION_FRACTION if auto else validation_fraction
    min_training = MIN_TRAINING_CLASSES if auto else 2
    counts = np.bincount(y_codes)
    paired = np.flatnonzero(counts >= 2)
    n_valid = max(2, int(round(fraction * len(counts))))
    if len(paired) < n_valid + 1 or len(counts) - n_valid < min_training:
        return all_idx, all_idx[:0]
    valid_classes = rng.choice(paired, size=n_valid, replace=False)
    is_valid = np.isin(y_codes, valid_classes)
    return all_idx[~is_valid], all_idx[is_valid]


def choose_references(y_codes, cap, rng):
    """Rows kept as the verifier's references: at most ``cap`` of each class (None: all)."""
    chosen = []
    for c in np.unique(y_codes):
        members = np.flatnonzero(y_codes == c)
        if cap is not None and len(members) > cap:
            members = np.sort(rng.choice(members, size=cap, replace=False))
        chosen.append(members)
    return np.concatenate(chosen)


ROTATIONS = (1, 2, 3)  # quarter turns


def rotation_image_shape(n_features, image_shape=None):
    """``(channels, side, side)`` of a row, or a ``ValueError`` saying why there is none.

    ``image_shape`` is the shape the encoder reads a row as (None: a square
    number of features is read as one channel).
    """
    shape = image_shape
    if shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"rotation_classes=True needs each row of X to be a square image, but rows of "
                f"{n_features} features are not square and the encoder has no input_shape; "
                "use an image encoder such as ConvEncoder(input_shape=(height, width))."
            )
        shape = (side, side)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or math.prod(shape) != n_features or shape[1] != shape[2]:
        raise ValueError(
            f"rotation_classes=True needs square images (height == width) that fill the "
            f"{n_features} features of a row; the image shape is {shape}."
        )
    return shape


def add_rotated_classes(X, y_codes, train_idx, image_shape):
    """Append the training rows rotated by 90/180/270 degrees, each rotation a new class.

    Returns ``(X_all, y_all, train_all)``: X with the rotated rows after its
    own (so every original row keeps its index), their labels (rotation
    ``r`` of class ``c`` is ``c + r * n_classes``, with ``n_classes``
    covering all of ``y_codes``, so no code collides), and the training
    rows including the new ones.
    """
    n_classes = int(y_codes.max()) + 1
    images = X[train_idx].reshape(len(train_idx), *image_shape)
    rotated = [np.rot90(images, k, axes=(2, 3)).reshape(len(train_idx), -1) for k in ROTATIONS]
    X_all = np.concatenate([X, *rotated]).astype(X.dtype, copy=False)
    y_all = np.concatenate([y_codes, *(y_codes[train_idx] + k * n_classes for k in ROTATIONS)])
    train_all = np.concatenate([train_idx, len(X) + np.arange(len(ROTATIONS) * len(train_idx))])
    return X_all, y_all, train_all


# An epoch of samples_per_epoch="auto" draws at least this many samples. On
# a few hundred samples one pass is a handful of optimiser steps, and
# max_epochs and the patience of early stopping, counted in epochs, would
# then end training long before it stops improving.
MIN_SAMPLES_PER_EPOCH = 4096
# ... but no more passes over the training rows than this. Below 205 rows
# the 4,096-sample floor alone made every fit the same 1,920 steps of 64
# samples: more than a thousand passes over 110 face photos in 30 epochs,
# which fitted the training people better and new people worse (the
# defaults page, "Training length on small data sets").
MAX_PASSES_PER_EPOCH = 20


def auto_samples_per_epoch(n_rows):
    """Samples an epoch of ``samples_per_epoch="auto"`` draws from ``n_rows`` training rows."""
    return max(n_rows, min(MIN_SAMPLES_PER_EPOCH, MAX_PASSES_PER_EPOCH * n_rows))


def batches_per_epoch(samples_per_epoch, batch_size, n_rows):
    """Training batches in one epoch over ``n_rows`` rows."""
    if samples_per_epoch == "auto":
        samples_per_epoch = auto_samples_per_epoch(n_rows)
    return max(1, -(-samples_per_epoch // batch_size))


def make_dataset(X, y_codes):
    """The dataset of the validated X and its label codes: X shared, not copied."""
    if sp.issparse(X):
        return SparseDataset(X, torch.as_tensor(y_codes))
    return TensorDataset(as_tensor(X), torch.as_tensor(y_codes), MappedPages(X))


class TensorDataset(torch.utils.data.Dataset):
    """Features and integer labels held as tensors, indexed a batch at a time.

    ``pages`` (an ``out_of_core.MappedPages`` of the array X shares memory with)
    releases a memory-mapped X's pages as batches read it.
    """

    def __init__(self, X, y, pages=None):
        self.X = X
        self.y = y
        self.pages = pages

    @property
    def device(self):
        return self.X.device

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        return self.X[index], self.y[index]

    def rows(self, idx):
        """Rows ``idx`` (a 1-D ``LongTensor``) of X in X's own dtype, as an ndarray (to embed them)."""
        X = self.X.index_select(0, idx).cpu().numpy()
        if self.pages is not None:  # the rows were gathered from all over a memory-mapped X
            self.pages.read(X.nbytes, n_reads=len(idx))
        return X

    def batch(self, idx):
        """Rows ``idx`` (a 1-D ``LongTensor``) as a float32 tensor, and their labels (a training batch)."""
        # index_select on a whole batch is several times faster than
        # advanced indexing (X[idx]) for a 1-D index on CPU.
        Xb = self.X.index_select(0, idx)
        if self.pages is not None:
            self.pages.read(Xb.numel() * Xb.element_size(), n_reads=len(idx))
        return float_batch(Xb), self.y.index_select(0, idx)


class SparseDataset(TensorDataset):
    """A sparse X (CSR) and integer labels; rows are densified one batch at a time, X never whole."""

    device = torch.device("cpu")

    def __len__(self):
        return self.X.shape[0]

    def rows(self, idx):
        return self.X[idx.numpy()]

    def batch(self, idx):
        return torch.from_numpy(dense_rows(self.X[idx.numpy()])), self.y.index_select(0, idx)


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


def training_dataset(X, y_codes, train_idx, rotation_shape=None):
    """The dataset a net trains on, and its training rows.

    With a ``rotation_shape`` (``rotation_classes=True``) the training rows'
    rotations are appended as new classes (:func:`add_rotated_classes`);
    otherwise X is shared, not copied.
    """
    if rotation_shape is not None:
        X, y_codes, train_idx = add_rotated_classes(X, y_codes, train_idx, rotation_shape)
    return make_dataset(X, y_codes), train_idx
