"""Losses over a batch of embeddings and their class labels.

Each loss is a ``torch.nn.Module`` called as ``loss(embeddings, labels)``:
it mines pairs or triplets inside the batch (:mod:`sklearn_siamese.mining`)
and returns a scalar.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .distances import paired_distance, pairwise_distance
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


def _rows(embeddings, index):
    """``embeddings[index]``, with a backward pass that does not depend on the thread count.

    Mined indices repeat; the backward of advanced indexing accumulates the
    repeats with ``index_put_``, whose order on CPU varies with the number
    of threads (torch documents it as nondeterministic), so two fits with
    the same seed differed. ``index_select`` backpropagates with
    ``index_add_``, deterministic on CPU.
    """
    return embeddings.index_select(0, index)


def _entries(matrix, i, j):
    """``matrix[i, j]`` for index tensors i, j, deterministic as :func:`_rows`."""
    return _rows(matrix.reshape(-1, 1), i * matrix.shape[1] + j).squeeze(1)


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
        return _balanced_mean(self._per_pair(_entries(dist, i, j), same), same)

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
        per_triplet = F.relu(_entries(dist, a, p) - _entries(dist, a, n) + self.margin)
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
    to new ones. With ``tied=True`` every dimension shares one weight, so
    the head only scales and shifts the L1 distance: per-dimension weights
    learned on the training classes lowered one-shot accuracy on unseen
    digits from 0.66 to 0.60 (the user guide, "The verifier").
    """

    def __init__(self, embedding_dim, nonpositive=False, tied=False):
        super().__init__()
        self.linear = nn.Linear(1 if tied else embedding_dim, 1)
        self.nonpositive = nonpositive
        self.embedding_dim = embedding_dim

    @property
    def weight(self):
        """The effective weights ``w``, shape ``(embedding_dim,)``."""
        w = self.linear.weight.reshape(-1).expand(self.embedding_dim)
        return -F.softplus(w) if self.nonpositive else w

    def forward(self, e1, e2):
        abs_diff = torch.abs(e1 - e2)
        if self.nonpositive or self.linear.in_features != self.embedding_dim:
            return abs_diff @ self.weight + self.linear.bias
        return self.linear(abs_diff).squeeze(-1)


class DistanceSimilarityHead(nn.Module):
    """Logistic "same class" head on an embedding distance: ``logit = b - a * d(e1, e2)``.

    ``d`` is the distance the encoder is trained on (``"euclidean"`` or
    ``"cosine"``) and ``a = softplus(raw_scale) > 0``, so the logit falls as
    two embeddings move apart and ranks pairs exactly as the distance
    does: classification by the most probable reference is then the
    1-nearest-neighbour rule in the learned metric, the rule that transfers
    to classes unseen in training. The head only calibrates the distance
    into a probability. It starts as the contrastive map
    ``4 * (1 - 2 * d / margin)`` (probability 0.5 half way to the margin),
    with no random initialisation.

    Parameters
    ----------
    distance : {"euclidean", "cosine"}, default="euclidean"
        Distance between the two embeddings.
    margin : float, default=1.0
        Margin of the contrastive loss; sets the initial map.
    """

    def __init__(self, distance="euclidean", margin=1.0):
        super().__init__()
        self.distance = distance
        scale = 8.0 / margin
        # Inverse of softplus, so that ``scale`` starts at 8 / margin.
        self.raw_scale = nn.Parameter(torch.tensor(scale + math.log(-math.expm1(-scale))))
        self.bias = nn.Parameter(torch.tensor(4.0))

    @property
    def scale(self):
        """The effective slope ``a > 0`` of the logit in the distance."""
        return F.softplus(self.raw_scale)

    def forward(self, e1, e2):
        return self.bias - self.scale * paired_distance(e1, e2, self.distance)


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

    def forward(self, embeddings, labels):
        with torch.no_grad():
            dist = pairwise_distance(embeddings, self.distance)
        i, j, same = mine_pairs(dist, labels, self.mining)
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
    class into a point, as the BCE gradient on the encoder does (its
    one-shot accuracy on unseen digits fell from 0.66 to 0.48, measured in
    the user guide, "The verifier").

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
    # encoder's lr it stays near its initial scale (p("same") ~ 0.02 for
    # every pair after 2 epochs on digits); its own, larger lr calibrates it
    # in a few epochs. It cannot change the encoder, which never sees its gradient.
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
