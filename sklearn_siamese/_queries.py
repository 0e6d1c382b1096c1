"""What a fitted estimator answers: embeddings, similarities and pair distances.

The query side of :class:`~sklearn_siamese._base._BaseSiamese`, apart from
training: every method reads the fitted ``net_`` and changes nothing. The
verifier's reference scoring (:mod:`sklearn_siamese._reference_scoring`)
builds on these, as evaluation and plotting do through :meth:`embed` and
:meth:`embedding_similarity`.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._training.checks import validate_input, validate_pairs
from ._training.inference import embed_rows
from .distances import check_distance


class EmbeddingQueriesMixin:
    """``embed``, ``similarity``, ``embedding_similarity`` and ``pair_distance`` of a fitted estimator."""

    # Float type of the embeddings at inference; the verifier uses float64.
    _inference_dtype = np.float32

    def _embed(self, X, validate=True):
        """Embeddings of X as an array ``(n_samples, embedding_dim_)`` of ``_inference_dtype``."""
        check_is_fitted(self)
        if validate:
            X = validate_input(self, X, reset=False)
        return embed_rows(self.net_.module_, X, self.embedding_dim_, self._inference_dtype)

    def _pair_embeddings(self, pairs):
        check_is_fitted(self)
        a, b = validate_pairs(self, pairs)
        return self._embed(a, validate=False), self._embed(b, validate=False)

    def _pairwise_distance(self, A, B):
        """Distances between two sets of embeddings, as a numpy array (each independent of the other rows)."""
        return check_distance(self.distance).cross(torch.from_numpy(A), torch.from_numpy(B)).numpy()

    def _similarity_from_embeddings(self, A, B):
        """Similarity (higher = more alike) of every row of A to every row of B.

        The hook that one-shot evaluation and reference-based prediction use;
        the embedder's similarity is the negated distance.
        """
        return -self._pairwise_distance(A, B)

    def embed(self, X):
        """Embed the rows of X with the trained encoder.

        The public "embed these rows" entry point that evaluation
        (:mod:`sklearn_siamese.metrics`), plotting, persistence and users'
        own code use.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, scaled as the training data was.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, `embedding_dim_`)
            One embedding per row.
        """
        return self._embed(X)

    def embedding_similarity(self, A, B):
        """Similarity of every embedding in A to every embedding in B.

        Higher means more alike. For :class:`SiameseEmbedder` it is the
        negated distance (``distance`` parameter); for
        :class:`SiameseVerifier` the probability that the two samples share
        a class. Use it with embeddings from :meth:`embed` to score many
        comparisons without embedding a sample twice.

        Parameters
        ----------
        A : ndarray of shape (n_a, `embedding_dim_`)
            Embeddings returned by :meth:`embed`.
        B : ndarray of shape (n_b, `embedding_dim_`)
            Embeddings returned by :meth:`embed`.

        Returns
        -------
        similarity : ndarray of shape (n_a, n_b)
        """
        check_is_fitted(self)
        return self._similarity_from_embeddings(A, B)

    def similarity(self, X, Y=None):
        """Similarity of every row of X to every row of Y (higher = more alike).

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Samples.
        Y : array-like of shape (n_samples_Y, n_features), default=None
            Samples to compare with; ``None`` compares X with itself.

        Returns
        -------
        similarity : ndarray of shape (n_samples_X, n_samples_Y)
            See :meth:`embedding_similarity`.
        """
        A = self.embed(X)
        B = A if Y is None else self.embed(Y)
        return self.embedding_similarity(A, B)

    def pair_distance(self, pairs):
        """Distance between the two samples of each pair, in the embedding space.

        Parameters
        ----------
        pairs : array-like of shape (n_pairs, 2, n_features)
            The pairs; ``pairs[:, 0]`` and ``pairs[:, 1]`` are the two sides.

        Returns
        -------
        distances : ndarray of shape (n_pairs,)
            Distance (``distance`` parameter) between the embeddings.
        """
        a, b = self._pair_embeddings(pairs)
        return check_distance(self.distance).paired(torch.from_numpy(a), torch.from_numpy(b)).numpy()

