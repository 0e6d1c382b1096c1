"""Choosing which in-batch pairs and triplets contribute to the loss.

A miner is an object with one method to write, :meth:`Miner.mine`: it
takes a detached ``(B, B)`` distance matrix and the batch labels and
returns the index tensors ``(anchor, positive, negative)`` of the triplets
to use; the losses gather distances with gradients at those indices. Pair
losses use the positive pairs ``(a, p)`` and the negative pairs ``(a, n)``
(:meth:`Miner.pairs`). The estimators' and the losses' ``mining``
parameter takes a miner, or a name that resolves to a built-in one
(:func:`check_miner`):

``"all"``
    :class:`AllMiner`: every valid pair, or every valid triplet
    ``(a, p, n)`` in the batch.
``"semihard"``
    :class:`SemiHardMiner` (FaceNet, Schroff et al. 2015): for every
    positive pair ``(a, p)`` the closest negative that is still farther
    than ``p`` (``d(a, p) < d(a, n)``); when no such negative exists, the
    farthest negative.
``"hard"``
    :class:`HardMiner` (batch-hard, Hermans et al. 2017): for every anchor
    its farthest positive and its closest negative.
``"random_pairs"``
    :class:`SampledPairs`, whose batches are laid out by the sampler
    (``draws_pairs``): the estimators draw each batch as consecutive random
    pairs (or triplets) with
    :class:`~sklearn_siamese.sampling.RandomPairSampler`, half of them
    same-class, as Koch et al. (2015) trained, and the loss uses exactly
    those.
"""

from numbers import Integral

import torch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

__all__ = [
    "Miner",
    "AllMiner",
    "SemiHardMiner",
    "HardMiner",
    "SampledPairs",
    "check_miner",
    "check_mined",
    "mine_pairs",
    "mine_triplets",
]


def _masks(labels):
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


class Miner:
    """Base class of a miner: subclass it and write :meth:`mine`.

    :meth:`pairs` derives the pairs of a pair loss from the triplets:
    every mined ``(a, p)`` as a same-class pair and every ``(a, n)`` as a
    different-class pair. The losses call :meth:`mine` and :meth:`pairs`
    whatever the miner's class, and check what a miner of the user's
    returns (:func:`check_mined`).

    Attributes
    ----------
    averages_active_triplets : bool
        Whether the triplet loss averages over the triplets with a positive
        loss only ("batch all", Hermans et al. 2017), rather than over
        every mined triplet. False here; True for :class:`AllMiner`.
    draws_pairs : bool
        Whether the batches must be laid out as consecutive random pairs or
        triplets (the estimators then draw them with
        :class:`~sklearn_siamese.sampling.RandomPairSampler`) rather than as
        P classes x K samples. False here; True for :class:`SampledPairs`.
    """

    averages_active_triplets = False
    draws_pairs = False

    def mine(self, dist, labels):
        """The triplets of a batch to train on.

        Parameters
        ----------
        dist : torch.Tensor of shape (B, B)
            Detached distances between the batch's embeddings.
        labels : torch.Tensor of shape (B,)
            Integer class labels.

        Returns
        -------
        anchor, positive, negative : tuple of torch.Tensor of shape (n_triplets,)
            Row indices: ``labels[anchor] == labels[positive] != labels[negative]``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement mine(dist, labels).")

    def pairs(self, dist, labels):
        """``(first, second, same)``: index tensors of the pairs of a pair loss and whether each is same-class."""
        a, p, n = self.mined("mine", dist, labels)
        first = torch.cat([a, a])
        second = torch.cat([p, n])
        same = torch.cat([torch.ones_like(a, dtype=torch.bool), torch.zeros_like(a, dtype=torch.bool)])
        return first, second, same

    def mined(self, method, dist, labels):
        """``self.<method>(dist, labels)``, what the losses call; a miner of the user's has its output checked.

        Parameters
        ----------
        method : {"mine", "pairs"}
            Which of the two to call.
        dist, labels : torch.Tensor
            As for :meth:`mine`.

        Returns
        -------
        indices : tuple of torch.Tensor
            What the method returned, checked by :func:`check_mined` unless
            this miner is of one of the built-in classes (a subclass of one
            is checked).
        """
        indices = getattr(self, method)(dist, labels)
        return indices if type(self) in MINERS.values() else check_mined(indices, len(labels), self, method)

    def pair_masks(self, dist, labels):
        """``(same, different)`` ``(B, B)`` masks of every pair to use, or None to use :meth:`pairs`.

        A loss over every pair of the batch computes faster on the whole
        masked matrix than on gathered pairs; a miner that uses every pair
        says so by returning the masks (:class:`AllMiner` does, unless a
        subclass of it overrides :meth:`pairs`).
        """
        return None

    def __repr__(self):
        return f"{type(self).__name__}()"


class AllMiner(Miner):
    """Every valid triplet of the batch, and every pair.

    The triplet loss averages over the triplets with a positive loss
    ("batch all", Hermans et al. 2017); the contrastive loss takes every
    pair of the batch.
    """

    def mine(self, dist, labels):
        pos, neg = _masks(labels)
        valid = pos[:, :, None] & neg[:, None, :]
        return valid.nonzero(as_tuple=True)

    averages_active_triplets = True

    def pair_masks(self, dist, labels):
        if type(self).pairs is not AllMiner.pairs:  # a subclass chose its own pairs
            return None
        same = labels[:, None] == labels[None, :]
        return same.clone().fill_diagonal_(False), ~same

    def pairs(self, dist, labels):
        pos, neg = _masks(labels)
        upper = torch.ones_like(pos).triu(diagonal=1)
        i, j = ((pos | neg) & upper).nonzero(as_tuple=True)
        return i, j, labels[i] == labels[j]


class SemiHardMiner(Miner):
    """For every positive pair ``(a, p)`` the FaceNet semi-hard negative (Schroff et al. 2015)."""

    def mine(self, dist, labels):
        pos, neg = _masks(labels)
        a, p = pos.nonzero(as_tuple=True)
        d_ap = dist[a, p][:, None]
        d_an = dist[a]
        is_neg = neg[a]
        farther = is_neg & (d_an > d_ap)
        inf = torch.tensor(float("inf"), device=dist.device, dtype=dist.dtype)
        closest_farther = torch.where(farther, d_an, inf).argmin(dim=1)
        farthest = torch.where(is_neg, d_an, -inf).argmax(dim=1)
        n = torch.where(farther.any(dim=1), closest_farther, farthest)
        keep = is_neg.any(dim=1)
        return a[keep], p[keep], n[keep]


class HardMiner(Miner):
    """Batch-hard (Hermans et al. 2017): for every anchor its farthest positive and closest negative."""

    def mine(self, dist, labels):
        pos, neg = _masks(labels)
        inf = torch.tensor(float("inf"), device=dist.device, dtype=dist.dtype)
        hardest_pos = torch.where(pos, dist, -inf).argmax(dim=1)
        hardest_neg = torch.where(neg, dist, inf).argmin(dim=1)
        anchors = torch.nonzero(pos.any(dim=1) & neg.any(dim=1), as_tuple=True)[0]
        return anchors, hardest_pos[anchors], hardest_neg[anchors]


class SampledPairs(Miner):
    """The pairs or triplets the sampler laid the batch out as, consecutive rows; ``mining="random_pairs"``.

    It selects nothing: the estimators draw such batches with
    :class:`~sklearn_siamese.sampling.RandomPairSampler` (or
    ``RandomTripletSampler``) when ``sampler="random_pairs"``, which
    ``sampler="auto"`` chooses for this miner (``draws_pairs``).
    """

    draws_pairs = True

    def mine(self, dist, labels):
        idx = torch.arange(len(labels) - len(labels) % 3, device=labels.device).view(-1, 3)
        return idx[:, 0], idx[:, 1], idx[:, 2]

    def pairs(self, dist, labels):
        idx = torch.arange(len(labels) - len(labels) % 2, device=labels.device).view(-1, 2)
        i, j = idx[:, 0], idx[:, 1]
        return i, j, labels[i] == labels[j]


MINERS = {"all": AllMiner, "semihard": SemiHardMiner, "hard": HardMiner, "random_pairs": SampledPairs}


@validate_params(
    {
        "indices": "no_validation",  # checked in the body, with messages naming the miner
        "n_rows": [Interval(Integral, 0, None, closed="left")],
        "miner": [Miner],
        "method": [StrOptions({"mine", "pairs"})],
    },
    prefer_skip_nested_validation=True,
)
def check_mined(indices, n_rows, miner, method="mine"):
    """What ``miner.<method>`` returned, checked: equal-length 1-D integer index tensors within the batch.

    ``mine`` returns ``(anchor, positive, negative)`` and ``pairs``
    ``(first, second, same)``, ``same`` boolean. The package's own miners
    are trusted (the losses check a miner of any other class, subclasses
    of ours included); a user's gets a ``ValueError`` naming what is wrong,
    instead of an indexing error deep in the loss.

    Parameters
    ----------
    indices : tuple
        What the method returned.
    n_rows : int
        Rows in the batch.
    miner : Miner
        The miner, for the message.
    method : {"mine", "pairs"}, default="mine"
        Which method returned ``indices``.

    Returns
    -------
    indices : tuple of torch.Tensor

    Examples
    --------
    >>> import torch
    >>> first, second, same = check_mined(AllMiner().pairs(None, torch.tensor([0, 0, 1])), 3, AllMiner(), "pairs")
    >>> same.tolist()
    [True, False, False]
    """
    name = f"{type(miner).__name__}.{method}"
    if not isinstance(indices, (tuple, list)) or len(indices) != 3:
        what = f"{len(indices)} items" if isinstance(indices, (tuple, list)) else type(indices).__name__
        raise ValueError(f"{name} must return a tuple of 3 index tensors, got {what}.")
    if not all(isinstance(t, torch.Tensor) and t.ndim == 1 for t in indices):
        raise ValueError(f"{name} must return 1-D torch tensors, got {[getattr(t, 'shape', type(t).__name__) for t in indices]}.")
    if len({len(t) for t in indices}) != 1:
        raise ValueError(f"{name} must return 3 tensors of one length, got lengths {[len(t) for t in indices]}.")
    index_tensors = indices[:2] if method == "pairs" else indices
    for t in index_tensors:
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise ValueError(f"{name} must return integer row indices, got dtype {t.dtype}.")
        if len(t) and (int(t.min()) < 0 or int(t.max()) >= n_rows):
            raise ValueError(f"{name} returned row indices outside the batch of {n_rows} rows.")
    if method == "pairs" and indices[2].dtype != torch.bool:
        raise ValueError(f"{name} must return a boolean tensor 'same' as its third item, got dtype {indices[2].dtype}.")
    return tuple(indices)


def check_miner(mining):
    """The :class:`Miner` that ``mining`` names, or ``mining`` itself.

    Parameters
    ----------
    mining : {"all", "semihard", "hard", "random_pairs"} or Miner
        A name of a built-in miner, or a miner object.

    Returns
    -------
    miner : Miner
    """
    if isinstance(mining, Miner):
        return mining
    if isinstance(mining, str) and mining in MINERS:
        return MINERS[mining]()
    raise ValueError(f"mining must be one of {sorted(MINERS)} or a sklearn_siamese.mining.Miner, got {mining!r}.")


_MINING = [StrOptions(set(MINERS)), Miner]


@validate_params({"dist": [torch.Tensor], "labels": [torch.Tensor], "mining": _MINING}, prefer_skip_nested_validation=True)
def mine_triplets(dist, labels, mining):
    """Index tensors ``(a, p, n)`` of the triplets ``mining`` chooses: ``check_miner(mining).mine(dist, labels)``.

    ``dist`` (a detached ``(B, B)`` distance matrix) and ``labels`` (the
    batch's integer labels) are those of :meth:`Miner.mine`, and so are the
    returned ``(anchor, positive, negative)`` row indices.

    Parameters
    ----------
    mining : {"all", "semihard", "hard", "random_pairs"} or Miner
        The miner, see :func:`check_miner`.
    """
    return check_miner(mining).mine(dist, labels)


@validate_params({"dist": [torch.Tensor], "labels": [torch.Tensor], "mining": _MINING}, prefer_skip_nested_validation=True)
def mine_pairs(dist, labels, mining):
    """``(first, second, same)``: the pairs ``mining`` chooses, ``check_miner(mining).pairs(dist, labels)``.

    The arguments are those of :func:`mine_triplets`.

    Returns
    -------
    first, second : torch.Tensor of shape (n_pairs,)
        Row indices of each pair.
    same : torch.Tensor of bool, shape (n_pairs,)
        Whether the pair shares a class.
    """
    return check_miner(mining).pairs(dist, labels)
