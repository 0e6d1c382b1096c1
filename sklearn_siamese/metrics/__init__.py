"""Evaluation of similarity models.

Every function takes the model first and accepts a fitted
:class:`~sklearn_siamese.SiameseEmbedder`, a fitted ``SiameseVerifier``, a
:class:`~sklearn.pipeline.Pipeline` ending in one of them, any fitted
transformer (e.g. a PCA, compared by euclidean distance of its output) or
None (raw features, euclidean distance), so a learned model and its
baselines are measured the same way; :func:`embed_with` is that adapter.

* One-shot classification: :func:`one_shot_accuracy`.
* Pair verification: :func:`pair_scores`, :func:`verification_accuracy`,
  :func:`verification_roc_auc`, and the seen / unseen / mixed protocol
  :func:`seen_unseen_verification`.
* Open set, at a chosen false-accept rate: :func:`tar_at_far` (pairs),
  :func:`dir_at_far` and :func:`open_set_curve` (identification against a
  gallery, with probes of classes not enrolled).
* Retrieval: :func:`precision_at_1`, :func:`mean_average_precision_at_r`,
  and :func:`embedding_precision_at_1` on embeddings already computed.
* Scorers for ``GridSearchCV(scoring=...)``: :func:`make_one_shot_scorer`,
  :func:`make_verification_scorer`, :func:`make_retrieval_scorer`,
  :func:`make_tar_at_far_scorer`, :func:`make_dir_at_far_scorer`.

Similarities and pair scores always mean "higher = more alike": the
verifier's probability of "same", the embedder's negated distance.
"""

from ._adapter import embed_with, negative_euclidean
from ._one_shot import one_shot_accuracy
from ._retrieval import embedding_precision_at_1, mean_average_precision_at_r, precision_at_1
from ._open_set import dir_at_far, open_set_curve, tar_at_far
from ._scorers import (
    make_dir_at_far_scorer,
    make_one_shot_scorer,
    make_retrieval_scorer,
    make_tar_at_far_scorer,
    make_verification_scorer,
)
from ._verification import pair_scores, seen_unseen_verification, verification_accuracy, verification_roc_auc


__all__ = [
    "dir_at_far",
    "embed_with",
    "embedding_precision_at_1",
    "make_dir_at_far_scorer",
    "make_one_shot_scorer",
    "make_retrieval_scorer",
    "make_tar_at_far_scorer",
    "make_verification_scorer",
    "mean_average_precision_at_r",
    "negative_euclidean",
    "one_shot_accuracy",
    "open_set_curve",
    "pair_scores",
    "precision_at_1",
    "seen_unseen_verification",
    "tar_at_far",
    "verification_accuracy",
    "verification_roc_auc",
]
