"""identify: top-k gallery matches with scores, chunked, for both estimators."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.gallery import identify

FAST = dict(encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=2, batch_size=32, random_state=0, samples_per_epoch=256)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return X[:300], y[:300], X[300:400]


def _brute_force_top_k(S, k):
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


@pytest.mark.parametrize("estimator", [SiameseEmbedder, SiameseVerifier])
def test_matches_full_similarity_matrix_in_any_chunking(digits, estimator):
    X, y, probes = digits
    model = estimator(**FAST).fit(X, y)
    expected_idx, expected_scores = _brute_force_top_k(model.similarity(probes, X), 5)
    for chunk_size in (None, 7):  # 7 probes per block: 15 blocks, the last one short
        result = identify(model, probes, X, y, k=5, chunk_size=chunk_size)
        np.testing.assert_array_equal(result.indices, expected_idx)
        # The same float32 embeddings, scored in float32 blocks of other shapes:
        # a few ulps apart at most (rtol), and near-zero scores on the scale of
        # the unit-norm embeddings (atol).
        np.testing.assert_allclose(result.scores, expected_scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(result.labels, y[expected_idx])
    assert np.all(np.diff(result.scores, axis=1) <= 0)  # best first
    if estimator is SiameseVerifier:
        assert 0 <= result.scores.min() and result.scores.max() <= 1  # probabilities of "same"
    else:
        assert result.scores.max() <= 0  # negated distances


def test_embedder_scores_are_negated_distances(digits):
    X, y, probes = digits
    emb = SiameseEmbedder(**FAST).fit(X, y)
    result = identify(emb, probes[:3], X, k=2)
    assert "labels" not in result
    distances = np.linalg.norm(emb.transform(probes[:3])[:, None] - emb.transform(X)[result.indices], axis=2)
    np.testing.assert_allclose(-result.scores, distances, atol=1e-5)


def test_k_equal_to_gallery_size_ranks_everything():
    result = identify(None, [[0.0], [10.0]], [[3.0], [1.0], [9.0]], k=3)
    np.testing.assert_array_equal(result.indices, [[1, 0, 2], [2, 0, 1]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "k must be a positive integer"),
        ({"k": 4}, "k=4 must be <= the 3 gallery samples"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"y_gallery": [1, 2], "k": 1}, "y_gallery must hold one label per gallery sample"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        identify(None, [[0.0]], [[1.0], [2.0], [3.0]], **kwargs)
