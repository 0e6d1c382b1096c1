"""Margin losses on mined in-batch pairs and triplets, and the instance term."""

from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, validate_params
from torch import nn

from .._training.instance import instance_loss
from ..distances import check_distance
from ..mining import check_miner


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
    of threads (torch documents it as nondeterministic), which would make
    two fits with the same seed differ. ``index_select`` backpropagates with
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
        self._distance = check_distance(distance)
        self._miner = check_miner(mining)

    def _batch_distances(self, embeddings):
        return self._distance.pairwise(embeddings, embeddings)


class ContrastiveLoss(_MarginLoss):
    """Contrastive loss of Hadsell, Chopra and LeCun (2006).

    For a pair at distance ``d``: ``d**2 / 2`` when both samples share a
    class, ``max(0, margin - d)**2 / 2`` otherwise. The mean over same-class
    pairs and the mean over different-class pairs are added.

    Parameters
    ----------
    margin : float
        Distance beyond which different-class pairs cost nothing.
    distance : {"euclidean", "cosine"} or Distance
        Distance between embeddings, see :mod:`sklearn_siamese.distances`.
    mining : {"all", "semihard", "hard", "random_pairs"} or Miner
        Which in-batch pairs to use, see :mod:`sklearn_siamese.mining`.
    """

    def forward(self, embeddings, labels):
        dist = self._batch_distances(embeddings)
        masks = self._miner.pair_masks(dist.detach(), labels)
        if masks is not None:
            # Every pair: the loss over the whole matrix, masked, costs less
            # than gathering the B(B-1)/2 pairs; each pair counts twice in
            # both sums and counts, so the means are the same.
            positive, negative = masks
            return _balanced_mean(self._per_pair(dist, ~negative), positive, negative)
        i, j, same = self._miner.mined("pairs", dist.detach(), labels)
        return _balanced_mean(self._per_pair(_entries(dist, i, j), same), same)

    def _per_pair(self, d, same):
        return torch.where(same, d * d, F.relu(self.margin - d) ** 2) / 2


class TripletLoss(_MarginLoss):
    """Triplet loss ``max(0, d(a, p) - d(a, n) + margin)`` (Schroff et al. 2015).

    With ``mining="all"`` the mean is taken over the triplets with a
    positive loss ("batch all", Hermans et al. 2017), since easy triplets
    would otherwise dilute the gradient as training progresses; with the
    other strategies over every mined triplet.

    Parameters
    ----------
    margin : float
        How much farther than the positive the negative must be.
    distance : {"euclidean", "cosine"} or Distance
        Distance between embeddings, see :mod:`sklearn_siamese.distances`.
    mining : {"all", "semihard", "hard", "random_pairs"} or Miner
        Which in-batch triplets to use, see :mod:`sklearn_siamese.mining`.
    """

    def __init__(self, margin=1.0, distance="euclidean", mining="semihard"):
        super().__init__(margin, distance, mining)

    def forward(self, embeddings, labels):
        dist = self._batch_distances(embeddings)
        a, p, n = self._miner.mined("mine", dist.detach(), labels)
        per_triplet = F.relu(_entries(dist, a, p) - _entries(dist, a, n) + self.margin)
        if self._miner.averages_active_triplets:
            per_triplet = per_triplet[per_triplet > 0]
        if per_triplet.numel() == 0:
            return dist.sum() * 0.0
        return per_triplet.mean()


@validate_params(
    {"first": [torch.Tensor], "second": [torch.Tensor], "temperature": [Interval(Real, 0, None, closed="neither")]},
    prefer_skip_nested_validation=True,
)
def nt_xent(first, second, temperature=0.2):
    """Normalised-temperature cross-entropy between two views (SimCLR, Chen et al. 2020).

    Row ``i`` of ``first`` and row ``i`` of ``second`` are two views of one
    sample; each view must pick its partner out of the other ``2B - 2``
    views by cosine similarity. Adding this term keeps embeddings
    informative about individual samples, not only about the training
    classes, which is what transfers to classes never seen in training.

    Parameters
    ----------
    first, second : torch.Tensor of shape (B, embedding_dim)
        The two views' embeddings, row by row.
    temperature : float, default=0.2
        Divides the cosine similarities before the softmax.

    Returns
    -------
    loss : torch.Tensor
        A scalar.
    """
    return instance_loss(first, second, temperature)
