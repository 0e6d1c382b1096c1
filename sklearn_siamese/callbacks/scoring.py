"""Callbacks that score the embedding during training."""

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics.pairwise import euclidean_distances
from skorch.callbacks import Callback

from .._training.inference import embed_rows
from .._training.net import VALID_PRECISION_AT_1
from .._training.out_of_core import MappedPages
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
        net.history.record(VALID_PRECISION_AT_1, self.score(net.module_, X, y.cpu().numpy()))

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

    def score_with_baseline(self, module, X, y):
        """``(score, baseline)``: :meth:`score` on the monitored rows of X, and the same for X's own features.

        The estimators' ``validation_score_`` and ``baseline_score_``: of the
        trained embedding, and of the input features themselves (Euclidean),
        on the rows this callback monitors.

        Parameters
        ----------
        module : torch.nn.Module
            The trained embedding module (``net_.module_``).
        X : ndarray, memmap or sparse matrix of shape (n_samples, n_features)
            Every training row, of which ``rows`` are scored.
        y : ndarray of shape (n_samples,)
            Their labels.

        Returns
        -------
        score, baseline : float
        """
        rows, y_rows = self.rows, y[self.rows]
        if sp.issparse(X):
            # Dense, the rows of a wide sparse X would be large: the baseline ranks
            # them by their distances, computed sparse, through their positions.
            X_rows, distances = X[rows], euclidean_distances(X[rows])
            inputs, similarity = np.arange(len(rows))[:, None], lambda A, B: -distances[A[:, 0]][:, B[:, 0]]
        else:
            X_rows = np.asarray(X[rows], dtype=np.float32).reshape(len(rows), -1)
            MappedPages(X).read(X_rows.nbytes, n_reads=len(rows))  # rows gathered from all over a memmap
            # Input rows may be wide: the matrix-product form, a diagnostic needs no bitwise invariance.
            inputs, similarity = X_rows, lambda A, B: -torch.cdist(torch.from_numpy(A), torch.from_numpy(B)).numpy()
        return self.score(module, X_rows, y_rows), embedding_precision_at_1(inputs, y_rows, similarity=similarity)
