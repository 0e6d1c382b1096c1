"""Heads that turn two embeddings into the logit of "same class", for the verifier.

Each head scores pairs twice: ``forward(e1, e2)`` in training, with
gradients, and :meth:`paired_logits`/:meth:`cross_logits` at inference, in
float64 on numpy arrays (a query's scores independent of the other rows).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..distances import check_distance

# Slope of the contrastive distance-to-logit map at d = margin / 2: the map is
# 4 * (1 - 2 * d / margin), probability 0.5 half way to the margin.
_CONTRASTIVE_LOGIT_SCALE = 4.0

class L1SimilarityHead(nn.Module):
    """Koch et al. (2015) head: ``logit = w @ |e1 - e2| + b``.

    With ``nonpositive=True`` the weights are kept at or below zero
    (``w = -softplus(v)`` for the trained ``v = linear.weight``), so the
    logit is ``b`` minus a weighted L1 distance: it can only fall as two
    embeddings move apart. Free weights can instead reward differences in
    some dimensions, which fits the training classes but transfers poorly
    to new ones. With ``tied=True`` every dimension shares one weight, so
    the head only scales and shifts the L1 distance: per-dimension weights
    learned on the training classes transfer worse to unseen classes (the
    user guide, "The verifier", has the measurement).
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

    def _float64_weights(self):
        return self.weight.detach().cpu().numpy().astype(np.float64), float(self.linear.bias.detach().cpu())

    def paired_logits(self, A, B):
        """Logits of matching rows of two float arrays of embeddings, in float64."""
        weight, bias = self._float64_weights()
        return np.abs(A - B).astype(np.float64) @ weight + bias

    def cross_logits(self, A, B):
        """Logits of every row of A against every row of B, ``(n_a, n_b)`` in float64.

        With weights ``w <= 0`` the logit is ``b`` minus the L1 distance
        between ``|w| * a`` and ``|w| * b``, which ``torch.cdist`` sums
        without the ``(n_a, n_b, dim)`` difference tensor, each entry in the
        same order whatever the other rows.
        """
        weight, bias = self._float64_weights()
        if (weight > 0).any():
            return np.stack([self.paired_logits(a[None, :], B) for a in A]).reshape(len(A), len(B))
        scale = torch.from_numpy(-weight)
        a, b = (torch.from_numpy(np.asarray(M, dtype=np.float64)) * scale for M in (A, B))
        return bias - torch.cdist(a, b, p=1).numpy()


class _DistanceLogits:
    """``bias - scale * d`` of an embedding distance ``d``, at inference in float64."""

    def _scale_and_bias(self):
        raise NotImplementedError

    def _logits(self, d):
        scale, bias = self._scale_and_bias()
        return bias - scale * np.asarray(d, dtype=np.float64)

    def paired_logits(self, A, B):
        """Logits of matching rows of two float arrays of embeddings, in float64."""
        return self._logits(self._distance.paired(torch.from_numpy(A), torch.from_numpy(B)).numpy())

    def cross_logits(self, A, B):
        """Logits of every row of A against every row of B, ``(n_a, n_b)`` in float64.

        Distances from :meth:`~sklearn_siamese.distances.Distance.cross`:
        a query's scores do not change with how the references are chunked.
        """
        return self._logits(self._distance.cross(torch.from_numpy(A), torch.from_numpy(B)).numpy())


class DistanceSimilarityHead(_DistanceLogits, nn.Module):
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
    distance : {"euclidean", "cosine"} or Distance, default="euclidean"
        Distance between the two embeddings.
    margin : float, default=1.0
        Margin of the contrastive loss; sets the initial map.
    """

    def __init__(self, distance="euclidean", margin=1.0):
        super().__init__()
        self.distance = distance
        self._distance = check_distance(distance)
        # It starts as the contrastive map: slope 2 * 4 / margin, intercept 4.
        scale = 2.0 * _CONTRASTIVE_LOGIT_SCALE / margin
        # Inverse of softplus, so that ``scale`` starts at that slope.
        self.raw_scale = nn.Parameter(torch.tensor(scale + math.log(-math.expm1(-scale))))
        self.bias = nn.Parameter(torch.tensor(_CONTRASTIVE_LOGIT_SCALE))

    @property
    def scale(self):
        """The effective slope ``a > 0`` of the logit in the distance."""
        return F.softplus(self.raw_scale)

    def forward(self, e1, e2):
        return self.bias - self.scale * self._distance.paired(e1, e2)

    def _scale_and_bias(self):
        return float(self.scale.detach().cpu()), float(self.bias.detach().cpu())


class ContrastiveLogitMap(_DistanceLogits):
    """The fixed map ``4 * (1 - 2 * d / margin)`` of a verifier trained with the contrastive loss alone.

    Probability 0.5 half way to the margin; no parameters. It is the
    starting point of :class:`DistanceSimilarityHead`.

    Parameters
    ----------
    distance : {"euclidean", "cosine"} or Distance
        Distance between the two embeddings.
    margin : float
        Margin of the contrastive loss.
    """

    def __init__(self, distance, margin):
        self.distance = distance
        self.margin = margin
        self._distance = check_distance(distance)

    def _scale_and_bias(self):
        return 2.0 * _CONTRASTIVE_LOGIT_SCALE / self.margin, _CONTRASTIVE_LOGIT_SCALE


