"""A stand-in with SiameseVerifier's hooks, for testing evaluation and plotting without training."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from sklearn_siamese.metrics import _negative_euclidean


class ToyVerifier(ClassifierMixin, BaseEstimator):
    """The verifier's hooks, with probability of "same" = exp(-euclidean distance)."""

    def fit(self, X, y=None):
        self.threshold_ = 0.5
        return self

    def _embed(self, X):
        return np.asarray(X, dtype=np.float64)

    def _similarity_from_embeddings(self, A, B):
        return np.exp(_negative_euclidean(A, B))

    def pair_score(self, pairs):
        pairs = np.asarray(pairs, dtype=np.float64)
        return np.exp(-np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1))
