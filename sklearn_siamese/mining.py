"""Choosing which in-batch pairs and triplets contribute to the loss.

Every function takes a detached ``(B, B)`` distance matrix and the batch
labels and returns index tensors; the losses gather distances with
gradients at those indices.

Mining strategies (the ``mining`` parameter of the estimators):

``"all"``
    Every valid pair, or every valid triplet ``(a, p, n)`` in the batch.
``"semihard"``
    FaceNet (Schroff et al. 2015): for every positive pair ``(a, p)`` the
    closest negative that is still farther than ``p``
    (``d(a, p) < d(a, n)``); when no such negative exists, the farthest
    negative. Pair losses use the positive pairs and these ``(a, n)`` pairs.
``"hard"``
    Batch-hard (Hermans et al. 2017): for every anchor its farthest positive
    and its closest negative.
``"random_pairs"``
    The batch is laid out as consecutive random pairs (or triplets) by
    :class:`~sklearn_siamese.sampling.RandomPairSampler`; only those are used.
"""

import torch

MINING = ("all", "semihard", "hard", "random_pairs")


def _masks(labels):
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def _semihard_negatives(dist, labels):
    """For every positive pair ``(a, p)`` the FaceNet semi-hard negative."""
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


def _batch_hard(dist, labels):
    pos, neg = _masks(labels)
    inf = torch.tensor(float("inf"), device=dist.device, dtype=dist.dtype)
    hardest_pos = torch.where(pos, dist, -inf).argmax(dim=1)
    hardest_neg = torch.where(neg, dist, inf).argmin(dim=1)
    anchors = torch.nonzero(pos.any(dim=1) & neg.any(dim=1), as_tuple=True)[0]
    return anchors, hardest_pos[anchors], hardest_neg[anchors]


def mine_triplets(dist, labels, mining):
    """Return index tensors ``(a, p, n)`` of the triplets to use."""
    if mining == "random_pairs":
        idx = torch.arange(len(labels) - len(labels) % 3, device=labels.device).view(-1, 3)
        return idx[:, 0], idx[:, 1], idx[:, 2]
    if mining == "semihard":
        return _semihard_negatives(dist, labels)
    if mining == "hard":
        return _batch_hard(dist, labels)
    pos, neg = _masks(labels)
    valid = pos[:, :, None] & neg[:, None, :]
    return valid.nonzero(as_tuple=True)


def mine_pairs(dist, labels, mining):
    """Return ``(first, second, same)`` index/label tensors of the pairs to use."""
    if mining == "random_pairs":
        idx = torch.arange(len(labels) - len(labels) % 2, device=labels.device).view(-1, 2)
        i, j = idx[:, 0], idx[:, 1]
        return i, j, labels[i] == labels[j]
    if mining in ("semihard", "hard"):
        a, p, n = mine_triplets(dist, labels, mining)
        first = torch.cat([a, a])
        second = torch.cat([p, n])
        same = torch.cat([torch.ones_like(a, dtype=torch.bool), torch.zeros_like(a, dtype=torch.bool)])
        return first, second, same
    pos, neg = _masks(labels)
    upper = torch.ones_like(pos).triu(diagonal=1)
    i, j = ((pos | neg) & upper).nonzero(as_tuple=True)
    return i, j, labels[i] == labels[j]
