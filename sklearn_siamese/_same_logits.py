"""The verifier's logit of "same class" for pairs of embeddings, in float64.

A scorer's ``paired(A, B)`` scores matching rows of A and B; ``cross(A, B)``
every row of A against every row of B, as an ``(n_a, n_b)`` array.
"""

import numpy as np
import torch

from .distances import cross_distance, paired_distance

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
    """``4 * (1 - 2 * d / margin)`` of the embedding distance ``d`` (contrastive training)."""

    def __init__(self, distance, margin):
        self.distance = distance
        self.margin = margin

    def _logit(self, d):
        return _CONTRASTIVE_LOGIT_SCALE * (1.0 - 2.0 * np.asarray(d, dtype=np.float64) / self.margin)

    def paired(self, A, B):
        return self._logit(paired_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance).numpy())

    def cross(self, A, B):
        a, b = torch.from_numpy(A), torch.from_numpy(B)
        if self.distance == "euclidean":
            # The matrix-product form depends on the block shape, so a query's
            # scores would change with how the references are chunked.
            return self._logit(torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").numpy())
        return self._logit(cross_distance(a, b, self.distance).numpy())

