"""A stand-in with SiameseVerifier's public surface, for testing evaluation and plotting without training."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics.pairwise import euclidean_distances


class ToyVerifier(ClassifierMixin, BaseEstimator):
    """``embed`` is the identity; probability of "same" = exp(-euclidean distance)."""

    def fit(self, X, y=None):
        self.threshold_ = 0.5
        return self

    def embed(self, X):
        return np.asarray(X, dtype=np.float64)

    def embedding_similarity(self, A, B):
        return np.exp(-euclidean_distances(A, B))

    def pair_score(self, pairs):
        pairs = np.asarray(pairs, dtype=np.float64)
        return np.exp(-np.linalg.norm(pairs[:, 0] - pairs[:, 1], axis=1))

