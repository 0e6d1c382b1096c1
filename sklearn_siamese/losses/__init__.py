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
- :class:`NormFaceLoss`, :class:`CosFaceLoss`, :class:`ArcFaceLoss`,
  :class:`ProxyAnchorLoss`: losses with one learned weight vector per
  training class, given to ``SiameseEmbedder(loss=...)`` as
  specifications (:class:`ClassWeightLoss`) that build the trained
  :class:`ClassWeightCriterion` (``_class_weights``).
- :func:`nt_xent`: the instance term of ``instance_weight``.
- ``resolve_loss``: what ``SiameseEmbedder(loss="auto")`` trains with
  (``_auto``).
"""

from ._auto import AUTO_INSTANCE_WEIGHT, AUTO_TRIPLET_MIN_CLASSES, resolve_loss
from ._bce import ContrastiveKochLoss, KochBCELoss, head_bce_loss
from ._class_weights import (
    CLASS_WEIGHT_LOSSES,
    ArcFaceLoss,
    ClassWeightCriterion,
    ClassWeightLoss,
    CosFaceLoss,
    NormFaceLoss,
    ProxyAnchorLoss,
    check_class_weight_loss,
)
from ._heads import ContrastiveLogitMap, DistanceSimilarityHead, L1SimilarityHead
from ._pair import ContrastiveLoss, TripletLoss, nt_xent

__all__ = [
    "ContrastiveLoss",
    "TripletLoss",
    "NormFaceLoss",
    "CosFaceLoss",
    "ArcFaceLoss",
    "ProxyAnchorLoss",
    "ClassWeightLoss",
    "ClassWeightCriterion",
    "KochBCELoss",
    "ContrastiveKochLoss",
    "L1SimilarityHead",
    "DistanceSimilarityHead",
    "ContrastiveLogitMap",
    "nt_xent",
]
