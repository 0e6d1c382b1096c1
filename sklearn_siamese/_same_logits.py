"""The verifier's logit of "same class" for pairs of embeddings, in float64.

A scorer's ``paired(A, B)`` scores matching rows of A and B; ``cross(A, B)``
every row of A against every row of B, as an ``(n_a, n_b)`` array.
"""

import numpy as np
import torch

from .distances import cross_distance, paired_distance

# Elements of the (queries x references x embedding_dim) difference tensor
# built at once when scoring every query against every reference.
_SCORE_CHUNK_ELEMENTS = 2**22

# Slope of the contrastive distance-to-logit map, see ``SiameseVerifier``.
_CONTRASTIVE_LOGIT_SCALE = 4.0


class KochScorer:
    """Koch head ``w . |e1 - e2| + b`` of a trained :class:`~sklearn_siamese.losses.L1SimilarityHead`."""

    def __init__(self, head):
        self.weight = head.weight.detach().cpu().numpy().astype(np.float64)
        self.bias = float(head.linear.bias.detach().cpu())

    def _logits(self, abs_diff):
        flat = abs_diff.reshape(-1, abs_diff.shape[-1]).astype(np.float64)
        return (flat @ self.weight + self.bias).reshape(abs_diff.shape[:-1])

    def paired(self, A, B):
        return self._logits(np.abs(A - B))

    def cross(self, A, B):
        out = np.empty((len(A), len(B)), dtype=np.float64)
        rows = max(1, _SCORE_CHUNK_ELEMENTS // max(1, len(B) * A.shape[1]))
        for start in range(0, len(A), rows):
            out[start : start + rows] = self._logits(np.abs(A[start : start + rows, None, :] - B[None]))
        return out


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
        return self._logit(cross_distance(torch.from_numpy(A), torch.from_numpy(B), self.distance).numpy())

