"""Losses over a batch of embeddings and their class labels, and the verifier's heads.

Each loss is a ``torch.nn.Module`` called as ``loss(embeddings, labels)``:
it measures the batch with a distance (:mod:`sklearn_siamese.distances`),
mines pairs or triplets inside it (:mod:`sklearn_siamese.mining`) and
returns a scalar. The heads turn two embeddings into the logit that they
share a class; each also scores arrays of embeddings in float64 at
inference (``paired_logits``, ``cross_logits``).

- :class:`ContrastiveLoss`, :class:`TripletLoss`: margin losses (``_pair``).
- :class:`L1SimilarityHead`, :class:`DistanceSimilarityHead`,
  :class:`ContrastiveLogitMap`: "same class" logits (``_heads``).
- :class:`KochBCELoss`, :class:`ContrastiveKochLoss`: binary cross-entropy
  on a head's logits (``_bce``).
- :func:`nt_xent`: the instance term of ``instance_weight``.
"""

from ._bce import ContrastiveKochLoss, KochBCELoss, head_bce_loss
from ._heads import ContrastiveLogitMap, DistanceSimilarityHead, L1SimilarityHead
from ._pair import ContrastiveLoss, TripletLoss, nt_xent

__all__ = [
    "ContrastiveLoss",
    "TripletLoss",
    "KochBCELoss",
    "ContrastiveKochLoss",
    "L1SimilarityHead",
    "DistanceSimilarityHead",
    "ContrastiveLogitMap",
    "nt_xent",
]
