"""Losses over a batch of embeddings and their class labels.

Each loss is a ``torch.nn.Module`` called as ``loss(embeddings, labels)``:
it mines pairs or triplets inside the batch (:mod:`sklearn_siamese.mining`)
and returns a scalar.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .distances import pairwise_distance
from .mining import mine_pairs, mine_triplets


def _balanced_mean(values, same, different=None):
    """Mean over same-class pairs plus mean over different-class pairs.

    In-batch pairs are mostly negatives (``(P - 1) / P`` of them); averaging
    each group on its own keeps positives from being swamped, as balanced
    pair sampling does. ``different`` defaults to ``~same``; an empty group
    adds nothing. Masked sums rather than boolean indexing keep the step
    free of host-device synchronisation.
    """
    total = values.new_zeros(())
    for group in (same, ~same if different is None else different):
        total = total + (values * group).sum() / group.sum().clamp_min(1)
    return total


class _MarginLoss(nn.Module):
    """A loss on the in-batch distances of mined pairs or triplets, with a margin."""

    def __init__(self, margin=1.0, distance="euclidean", mining="all"):
        super().__init__()
        self.margin = margin
        self.distance = distance
        self.mining = mining


class ContrastiveLoss(_MarginLoss):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006).

    For a pair at distance ``d``: ``d**2 / 2`` when both samples share a
    class, ``max(0, margin - d)**2 / 2`` otherwise. The mean over same-class
    pairs and the mean over different-class pairs are added.

    Parameters
    ----------
    margin : float
        Distance beyond which different-class pairs cost nothing.
    distance : {"euclidean", "cosine"}
        Distance between embeddings.
    mining : {"all", "semihard", "hard", "random_pairs"}
        Which in-batch pairs to use, see :mod:`sklearn_siamese.mining`.
    """

    def forward(self, embeddings, labels):
        dist = pairwise_distance(embeddings, self.distance)
        if self.mining == "all":
            # Every pair: the loss over the whole matrix, masked, costs less
            # than gathering the B(B-1)/2 pairs; each pair counts twice in
            # both sums and counts, so the means are the same.
            same = labels[:, None] == labels[None, :]
            positive = same.clone().fill_diagonal_(False)
            return _balanced_mean(self._per_pair(dist, same), positive, ~same)
        i, j, same = mine_pairs(dist.detach(), labels, self.mining)
        return _balanced_mean(self._per_pair(dist[i, j], same), same)

    def _per_pair(self, d, same):
        return torch.where(same, d * d, F.relu(self.margin - d) ** 2) / 2


class TripletLoss(_MarginLoss):
    """Triplet loss ``max(0, d(a, p) - d(a, n) + margin)`` (Schroff et al. 2015).

    With ``mining="all"`` the mean is taken over the triplets with a
    positive loss ("batch all", Hermans et al. 2017), since easy triplets
    would otherwise dilute the gradient as training progresses; with the
    other strategies over every mined triplet.
    """

    def __init__(self, margin=1.0, distance="euclidean", mining="semihard"):
        super().__init__(margin, distance, mining)

    def forward(self, embeddings, labels):
        dist = pairwise_distance(embeddings, self.distance)
        a, p, n = mine_triplets(dist.detach(), labels, self.mining)
        per_triplet = F.relu(dist[a, p] - dist[a, n] + self.margin)
        if self.mining == "all":
            per_triplet = per_triplet[per_triplet > 0]
        if per_triplet.numel() == 0:
            return dist.sum() * 0.0
        return per_triplet.mean()


class L1SimilarityHead(nn.Module):
    """Koch et al. (2015) head: ``logit = w @ |e1 - e2| + b``.

    With ``nonpositive=True`` the weights are kept at or below zero
    (``w = -softplus(v)`` for the trained ``v = linear.weight``), so the
    logit is ``b`` minus a weighted L1 distance: it can only fall as two
    embeddings move apart. Free weights can instead reward differences in
    some dimensions, which fits the training classes but transfers poorly
    to new ones.
    """

    def __init__(self, embedding_dim, nonpositive=False):
        super().__init__()
        self.linear = nn.Linear(embedding_dim, 1)
        self.nonpositive = nonpositive

    @property
    def weight(self):
        """The effective weights ``w``, shape ``(embedding_dim,)``."""
        w = self.linear.weight.squeeze(0)
        return -F.softplus(w) if self.nonpositive else w

    def forward(self, e1, e2):
        abs_diff = torch.abs(e1 - e2)
        if self.nonpositive:
            return abs_diff @ self.weight + self.linear.bias
        return self.linear(abs_diff).squeeze(-1)


class KochBCELoss(nn.Module):
    """Binary cross-entropy on the "same class" logits of an L1 head.

    The head (:class:`L1SimilarityHead`) is part of the loss module, so its
    weights are trained with the encoder (skorch optimises the criterion's
    parameters too) and are kept in the fitted net.
    ``nonpositive_weights`` is passed to the head as ``nonpositive``.
    """

    def __init__(self, embedding_dim, distance="euclidean", mining="all", nonpositive_weights=False):
        super().__init__()
        self.head = L1SimilarityHead(embedding_dim, nonpositive=nonpositive_weights)
        self.distance = distance
        self.mining = mining

    def forward(self, embeddings, labels):
        with torch.no_grad():
            dist = pairwise_distance(embeddings, self.distance)
        i, j, same = mine_pairs(dist, labels, self.mining)
        logits = self.head(embeddings[i], embeddings[j])
        per_pair = F.binary_cross_entropy_with_logits(logits, same.to(logits.dtype), reduction="none")
        return _balanced_mean(per_pair, same)


def nt_xent(first, second, temperature=0.2):
    """Normalised-temperature cross-entropy between two views (SimCLR, Chen et al. 2020).

    Row ``i`` of ``first`` and row ``i`` of ``second`` are two views of one
    sample; each view must pick its partner out of the other ``2B - 2``
    views by cosine similarity. Adding this term keeps embeddings
    informative about individual samples, not only about the training
    classes, which is what transfers to classes never seen in training.
    """
    z = F.normalize(torch.cat([first, second]), dim=1)
    n = len(first)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, partner)
