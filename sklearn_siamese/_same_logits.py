"""The verifier's logit of "same class" for pairs of embeddings, in float64.

A scorer's ``paired(A, B)`` scores matching rows of A and B; ``cross(A, B)``
every row of A against every row of B, as an ``(n_a, n_b)`` array.
"""

import numpy as np
import torch

from .distances import cross_distance, paired_distance
from .losses import DistanceSimilarityHead

# Slope of the contrastive distance-to-logit map, see ``SiameseVerifier``.
_CONTRASTIVE_LOGIT_SCALE = 4.0


class KochScorer:
    """Koch head ``w . |e1 - e2| + b`` of a trained :class:`~sklearn_siamese.losses.L1SimilarityHead`.

    With weights ``w <= 0`` (the verifier's head) the logit is ``b`` minus
    the L1 distance between ``|w| * e1`` and ``|w| * e2``, which
    ``torch.cdist`` computes without the ``(n_a, n_b, dim)`` difference
    tensor; each entry is summed over dimensions in the same order
    whatever the other rows, so a query's score does not depend on them.
    """

    def __init__(self, head):
        self.weight = head.weight.detach().cpu().numpy().astype(np.float64)
        self.bias = float(head.linear.bias.detach().cpu())

    def paired(self, A, B):
        return np.abs(A - B).astype(np.float64) @ self.weight + self.bias

    def cross(self, A, B):
        if (self.weight > 0).any():
            return np.stack([self.paired(a[None, :], B) for a in A]).reshape(len(A), len(B))
        scale = torch.from_numpy(-self.weight)
        a, b = (torch.from_numpy(np.asarray(M, dtype=np.float64)) * scale for M in (A, B))
        return self.bias - torch.cdist(a, b, p=1).numpy()


class DistanceScorer:
    """``bias - scale * d`` of the embedding distance ``d``.

    The verifier's :class:`~sklearn_siamese.losses.DistanceSimilarityHead`
    (:meth:`from_head`), or with ``loss="contrastive"`` the fixed map
    ``4 * (1 - 2 * d / margin)`` (:meth:`contrastive`).
    """

    def __init__(self, distance, scale, bias):
        self.distance = distance
        self.scale = float(scale)
        self.bias = float(bias)

    @classmethod
    def contrastive(cls, distance, margin):
        return cls(distance, 2.0 * _CONTRASTIVE_LOGIT_SCALE / margin, _CONTRASTIVE_LOGIT_SCALE)

    @classmethod
    def from_head(cls, head):
        return cls(head.distance, head.scale.detach().cpu(), head.bias.detach().cpu())

    def _logit(self, d):
        return self.bias - self.scale * np.asarray(d, dtype=np.float64)

    def paired(self, A, B):
        return self._logit(paired_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance).numpy())

    def cross(self, A, B):
        # The matrix-product form depends on the block shape, so a query's
        # scores would change with how the references are chunked.
        a, b = torch.from_numpy(A), torch.from_numpy(B)
        return self._logit(cross_distance(a, b, self.distance, batch_invariant=True).numpy())


def scorer_for(criterion, distance, margin):
    """The scorer of a fitted verifier's criterion: its head, or the contrastive map."""
    head = getattr(criterion, "head", None)
    if head is None:
        return DistanceScorer.contrastive(distance, margin)
    if isinstance(head, DistanceSimilarityHead):
        return DistanceScorer.from_head(head)
    return KochScorer(head)
