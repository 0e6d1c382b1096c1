"""Callbacks that score the embedding during training."""

import torch
from skorch.callbacks import Callback

from .._training.inference import embed_rows
from ..distances import check_distance
from ..metrics import embedding_precision_at_1

__all__ = ["ValidationPrecisionAt1"]


class ValidationPrecisionAt1(Callback):
    """Record ``valid_precision_at_1``: leave-one-out precision@1 on validation rows.

    The rows are samples of the held-out validation classes; each is
    matched to its most similar other row in the embedding (negated
    ``distance``). This measures what the estimators are for, recognising
    classes unseen in training, and is what early stopping monitors. The
    score is :func:`~sklearn_siamese.metrics.embedding_precision_at_1`, the
    definition ``SiameseEmbedder.score`` and
    :func:`~sklearn_siamese.metrics.precision_at_1` use, so the number
    early stopping picks is the number a user measures afterwards.

    Parameters
    ----------
    rows : ndarray of int
        Rows of the net's validation dataset to score.
    distance : {"euclidean", "cosine"} or Distance, default="euclidean"
        Distance between embeddings, see :mod:`sklearn_siamese.distances`.
    """

    def __init__(self, rows, distance="euclidean"):
        self.rows = rows
        self.distance = distance

    def _similarity(self, A, B):
        return -check_distance(self.distance).cross(torch.from_numpy(A), torch.from_numpy(B)).numpy()

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        # Embedded as inference embeds (fixed blocks sized by the encoder's
        # activations), so the score is the one a user measures afterwards.
        rows = torch.as_tensor(self.rows)
        X, y = dataset_valid.rows(rows), dataset_valid.y.index_select(0, rows)
        net.history.record("valid_precision_at_1", self.score(net.module_, X, y.cpu().numpy()))

    def score(self, module, X, y):
        """Leave-one-out precision@1 of ``module``'s embeddings of the rows X with labels y.

        Parameters
        ----------
        module : torch.nn.Module
            The trained embedding module (``net_.module_``).
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            Rows to embed.
        y : ndarray of shape (n_samples,)
            Their labels.

        Returns
        -------
        score : float
        """
        return embedding_precision_at_1(embed_rows(module, X), y, similarity=self._similarity)
