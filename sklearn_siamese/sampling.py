"""Batch samplers that turn per-sample labels into training batches.

Pairs and triplets are never materialised: a sampler yields batches of
sample indices, and the loss forms pairs or triplets inside each batch
(see :mod:`sklearn_siamese.mining`).

* :class:`PKSampler` draws ``P`` classes and ``K`` samples of each, so a
  batch of ``B = P * K`` encoder passes holds ``O(B^2)`` pairs.
* :class:`RandomPairSampler` / :class:`RandomTripletSampler` lay out
  balanced random pairs (or triplets) one after another in the batch, as
  most hand-written siamese code does; kept for comparison.

Every call to ``iter(sampler)`` is a new epoch with fresh random draws.
"""

import numpy as np

__all__ = ["PKSampler", "RandomPairSampler", "RandomTripletSampler"]


class _ClassIndex:
    """Sample indices grouped by integer class code."""

    def __init__(self, y_codes):
        y_codes = np.asarray(y_codes)
        order = np.argsort(y_codes, kind="stable")
        classes, starts, counts = np.unique(
            y_codes[order], return_index=True, return_counts=True
        )
        self.classes = classes
        self.order, self.starts = order, starts
        self.members = [order[s : s + c] for s, c in zip(starts, counts)]
        self.counts = counts
        self.n_samples = len(y_codes)
        self.y = y_codes
        # Classes that can provide a positive pair.
        self.paired = np.flatnonzero(counts >= 2)


class PKSampler:
    """Yield batches of ``n_classes`` classes x ``samples_per_class`` samples.

    Parameters
    ----------
    y_codes : array-like of shape (n_samples,)
        Integer class codes.
    batch_size : int
        Target number of samples per batch.
    samples_per_class : int
        ``K``, the number of samples drawn from each class in a batch
        (fewer for a class that has fewer samples; a class with one sample
        still serves as a negative). When there are fewer than
        ``batch_size // K`` classes, ``K`` grows so that batches keep their
        size.
    rng : numpy.random.Generator
        Source of randomness; advanced by every epoch.
    n_batches : int, default=None
        Batches per epoch; by default one pass over the data
        (``ceil(n_samples / batch_size)``).
    """

    def __init__(self, y_codes, batch_size, samples_per_class, rng, n_batches=None):
        self.index = _ClassIndex(y_codes)
        n_classes = len(self.index.classes)
        self.n_classes_per_batch = max(2, min(batch_size // samples_per_class, n_classes))
        self.samples_per_class = max(samples_per_class, batch_size // self.n_classes_per_batch)
        self.rng = rng
        self.n_batches = n_batches or int(np.ceil(self.index.n_samples / batch_size))

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        index, rng = self.index, self.rng
        n_classes = len(index.classes)
        P = min(self.n_classes_per_batch, n_classes)
        k = np.minimum(self.samples_per_class, index.counts)
        # Classes are drawn in proportion to their size so each sample is
        # seen about once per epoch; one class with a positive pair is
        # always included so every batch has positives.
        log_weights = np.log(index.counts / index.counts.sum())
        for _ in range(self.n_batches):
            first = index.paired[rng.integers(len(index.paired))]
            # Weighted draw without replacement in one vectorised step
            # (Efraimidis and Spirakis 2006: the P - 1 largest log(u) / w);
            # rng.choice(p=...) loops in Python and cost more than a small
            # encoder's training step.
            keys = np.log(rng.random(n_classes)) / np.exp(log_weights)
            keys[first] = -np.inf
            others = np.argpartition(keys, n_classes - P + 1)[n_classes - P + 1 :] if P > 1 else []
            chosen = np.concatenate([[first], np.sort(others)]).astype(np.intp)
            yield np.concatenate(self._members(chosen, k[chosen]))

    def _members(self, chosen, k):
        """``k[i]`` distinct members of each class ``chosen[i]``, drawn at random.

        Positions are drawn with replacement for all classes at once; the
        few classes that drew a position twice, or give all their members,
        are drawn again one by one.
        """
        index, rng = self.index, self.rng
        counts = index.counts[chosen]
        width = int(k.max())
        in_row = np.arange(width)[None, :] < k[:, None]
        pos = (rng.random((len(chosen), width)) * counts[:, None]).astype(np.intp)
        # Unused slots get distinct negative values so they never look repeated.
        ordered = np.sort(np.where(in_row, pos, -1 - np.arange(width)), axis=1)
        redraw = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1) | (k == counts)
        rows = index.order[index.starts[chosen][:, None] + np.where(in_row, pos, 0)]
        parts = [rows[i, : k[i]] for i in range(len(chosen))]
        for i in np.flatnonzero(redraw):
            parts[i] = rng.choice(index.members[chosen[i]], size=k[i], replace=False)
        return parts


class RandomPairSampler:
    """Yield batches of balanced random pairs laid out as ``[a0, b0, a1, b1, ...]``.

    Half of the pairs are same-class, half different-class. The batch
    holds ``batch_size // 2`` pairs, so ``B`` encoder passes give ``B / 2``
    comparisons.
    """

    group_size = 2

    def __init__(self, y_codes, batch_size, rng, n_batches=None):
        self.index = _ClassIndex(y_codes)
        self.n_groups = max(1, batch_size // self.group_size)
        self.rng = rng
        self.n_batches = n_batches or int(np.ceil(self.index.n_samples / batch_size))

    def __len__(self):
        return self.n_batches

    def _two_from(self, classes):
        """Two distinct members of each class in ``classes``."""
        rng, index = self.rng, self.index
        counts = index.counts[classes]
        first = (rng.random(len(classes)) * counts).astype(int)
        # Offset in [1, count) so the second member differs from the first.
        second = (first + 1 + (rng.random(len(classes)) * (counts - 1)).astype(int)) % counts
        pick = lambda pos: np.array(  # noqa: E731
            [index.members[c][p] for c, p in zip(classes, pos)], dtype=np.int64
        )
        return pick(first), pick(second)

    def _one_from(self, classes):
        rng, index = self.rng, self.index
        pos = (rng.random(len(classes)) * index.counts[classes]).astype(int)
        return np.array([index.members[c][p] for c, p in zip(classes, pos)], dtype=np.int64)

    def _other_classes(self, classes):
        n_classes = len(self.index.classes)
        shift = self.rng.integers(1, n_classes, size=len(classes))
        return (classes + shift) % n_classes

    def _groups(self, n):
        """Return an ``(n, 2)`` array of pair indices, the first half positive."""
        rng, index = self.rng, self.index
        n_pos = n // 2 + n % 2
        pos_classes = rng.choice(index.paired, size=n_pos)
        a, b = self._two_from(pos_classes)
        neg_a_classes = rng.integers(0, len(index.classes), size=n - n_pos)
        na = self._one_from(neg_a_classes)
        nb = self._one_from(self._other_classes(neg_a_classes))
        return np.stack([np.concatenate([a, na]), np.concatenate([b, nb])], axis=1)

    def __iter__(self):
        for _ in range(self.n_batches):
            groups = self._groups(self.n_groups)
            self.rng.shuffle(groups)
            yield groups.reshape(-1)


class RandomTripletSampler(RandomPairSampler):
    """Yield batches of random triplets laid out as ``[a0, p0, n0, a1, ...]``."""

    group_size = 3

    def _groups(self, n):
        rng, index = self.rng, self.index
        anchor_classes = rng.choice(index.paired, size=n)
        a, p = self._two_from(anchor_classes)
        neg = self._one_from(self._other_classes(anchor_classes))
        return np.stack([a, p, neg], axis=1)
