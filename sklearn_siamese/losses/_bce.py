"""Binary cross-entropy on a head's "same class" logits (Koch et al. 2015), alone or beside the contrastive loss."""

import torch
import torch.nn.functional as F
from torch import nn

from ..distances import check_distance
from ..mining import check_miner
from ._heads import DistanceSimilarityHead, L1SimilarityHead
from ._pair import ContrastiveLoss, _balanced_mean, _rows


class KochBCELoss(nn.Module):
    """Binary cross-entropy on the "same class" logits of a pair head.

    The head is part of the loss module, so its weights are trained with
    the encoder (skorch optimises the criterion's parameters too) and are
    kept in the fitted net. By default it is Koch's
    :class:`L1SimilarityHead`, built with ``nonpositive_weights`` and
    ``tied_weights`` as ``nonpositive`` and ``tied``; pass ``head`` (a
    module called as ``head(e1, e2)``, e.g. :class:`DistanceSimilarityHead`)
    to use another.
    """

    def __init__(
        self, embedding_dim, distance="euclidean", mining="all", nonpositive_weights=False, tied_weights=False, head=None
    ):
        super().__init__()
        if head is None:
            head = L1SimilarityHead(embedding_dim, nonpositive=nonpositive_weights, tied=tied_weights)
        self.head = head
        self.distance = distance
        self.mining = mining
        self._distance = check_distance(distance)
        self._miner = check_miner(mining)

    def forward(self, embeddings, labels):
        with torch.no_grad():
            dist = self._distance.pairwise(embeddings, embeddings)
        i, j, same = self._miner.mined("pairs", dist, labels)
        logits = self.head(_rows(embeddings, i), _rows(embeddings, j))
        per_pair = F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype), reduction="none")
        return _balanced_mean(per_pair, same)


def head_bce_loss(embedding_dim, head="koch", margin=1.0, distance="euclidean", mining="all"):
    """:class:`KochBCELoss` with the verifier's head by name.

    ``"distance"``: :class:`DistanceSimilarityHead` on ``distance``, starting
    at the contrastive map of ``margin``; ``"koch"``: Koch's per-dimension
    :class:`L1SimilarityHead` with weights kept at or below zero.
    """
    if head not in ("distance", "koch"):
        raise ValueError(f"head must be 'distance' or 'koch', got {head!r}.")
    module = DistanceSimilarityHead(distance, margin) if head == "distance" else None
    return KochBCELoss(embedding_dim, distance=distance, mining=mining, nonpositive_weights=True, head=module)


class ContrastiveKochLoss(nn.Module):
    """Contrastive loss on the embeddings plus a "same class" head fitted to them.

    The encoder learns from the contrastive loss alone, which keeps a
    metric that transfers to classes unseen in training; the head is
    trained with :class:`KochBCELoss` on detached embeddings, so it turns
    distances into calibrated "same" logits without pulling every training
    class into a point, as the BCE gradient on the encoder does (which
    costs one-shot accuracy on unseen classes: the user guide, "The
    verifier", has the measurement).

    Parameters
    ----------
    embedding_dim : int
        Size of the embeddings.
    margin, distance, mining
        As in :class:`ContrastiveLoss`; ``distance`` and ``mining`` also
        choose the pairs of the head's loss.
    head : {"distance", "koch"}, default="distance"
        ``"distance"``: :class:`DistanceSimilarityHead` on the contrastive
        loss's own distance, which ranks pairs as the trained metric does.
        ``"koch"``: Koch's per-dimension weighted L1 head
        (:class:`L1SimilarityHead`, weights kept at or below zero).
    """

    # The head is a logistic regression on a few numbers, but Adam moves each
    # weight by about ``lr`` per step whatever its gradient, so at the
    # encoder's lr it stays near its initial scale for many epochs; its
    # own, larger lr calibrates it in a few. It cannot change the encoder, which never sees its gradient.
    head_lr_factor = 30.0

    def __init__(self, embedding_dim, margin=1.0, distance="euclidean", mining="all", head="distance"):
        super().__init__()
        self.metric = ContrastiveLoss(margin=margin, distance=distance, mining=mining)
        self.bce = head_bce_loss(embedding_dim, head, margin=margin, distance=distance, mining=mining)

    @property
    def head(self):
        """The trained head (:class:`DistanceSimilarityHead` or :class:`L1SimilarityHead`)."""
        return self.bce.head

    def optimizer_param_groups(self, lr):
        """skorch ``optimizer__param_groups``: the head's parameters at ``head_lr_factor * lr``."""
        return [("bce.head.*", {"lr": self.head_lr_factor * lr})]

    def forward(self, embeddings, labels):
        return self.metric(embeddings, labels) + self.bce(embeddings.detach(), labels)


