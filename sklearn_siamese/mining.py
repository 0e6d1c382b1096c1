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
    Not a miner but a choice of sampler: the estimators draw each batch
    as consecutive random pairs (or triplets) with
    :class:`~sklearn_siamese.sampling.RandomPairSampler`, half of them
    same-class, as Koch et al. (2015) trained, and the loss uses exactly
    those (:class:`SampledPairs`).
"""

import torch
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = [
    "Miner",
    "AllMiner",
    "SemiHardMiner",
    "HardMiner",
    "SampledPairs",
    "check_miner",
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
    different-class pair.
    """

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
        a, p, n = self.mine(dist, labels)
        first = torch.cat([a, a])
        second = torch.cat([p, n])
        same = torch.cat([torch.ones_like(a, dtype=torch.bool), torch.zeros_like(a, dtype=torch.bool)])
        return first, second, same

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
    ``RandomTripletSampler``) when ``mining="random_pairs"``.
    """

    def mine(self, dist, labels):
        idx = torch.arange(len(labels) - len(labels) % 3, device=labels.device).view(-1, 3)
        return idx[:, 0], idx[:, 1], idx[:, 2]

    def pairs(self, dist, labels):
        idx = torch.arange(len(labels) - len(labels) % 2, device=labels.device).view(-1, 2)
        i, j = idx[:, 0], idx[:, 1]
        return i, j, labels[i] == labels[j]


MINERS = {"all": AllMiner, "semihard": SemiHardMiner, "hard": HardMiner, "random_pairs": SampledPairs}


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
