"""The verifier's heads score arrays of embeddings in float64, as they score pairs in training."""

import numpy as np
import pytest
import torch

from sklearn_siamese.losses import ContrastiveLogitMap, DistanceSimilarityHead, L1SimilarityHead


def _embeddings(seed, n, dim=6):
    return np.random.default_rng(seed).normal(size=(n, dim))


@pytest.mark.parametrize(
    "head",
    [
        DistanceSimilarityHead("euclidean", margin=1.0),
        DistanceSimilarityHead("cosine", margin=0.5),
        L1SimilarityHead(6, nonpositive=True),
        L1SimilarityHead(6),
        ContrastiveLogitMap("euclidean", margin=2.0),
    ],
    ids=["distance", "distance-cosine", "koch-nonpositive", "koch-free", "contrastive-map"],
)
def test_cross_logits_match_paired_logits_and_the_training_forward(head):
    A, B = _embeddings(0, 7), _embeddings(1, 5)
    cross = head.cross_logits(A, B)
    assert cross.shape == (7, 5) and cross.dtype == np.float64
    for i in range(len(A)):
        paired = head.paired_logits(np.repeat(A[i : i + 1], len(B), axis=0), B)
        np.testing.assert_allclose(cross[i], paired, rtol=1e-10, atol=1e-10)
    if isinstance(head, torch.nn.Module):
        with torch.no_grad():
            forward = head(torch.from_numpy(A[:5]).float(), torch.from_numpy(B).float()).double().numpy()
        # The training forward runs in float32.
        np.testing.assert_allclose(head.paired_logits(A[:5], B), forward, rtol=1e-4, atol=1e-4)


def test_a_querys_logits_do_not_depend_on_the_other_rows():
    A, B = _embeddings(2, 40), _embeddings(3, 30)
    for head in (DistanceSimilarityHead(), L1SimilarityHead(6, nonpositive=True)):
        assert np.array_equal(head.cross_logits(A[:1], B)[0], head.cross_logits(A, B)[0])


def test_contrastive_map_is_where_the_distance_head_starts():
    A, B = _embeddings(4, 6), _embeddings(5, 6)
    start = DistanceSimilarityHead("euclidean", margin=1.5)
    fixed = ContrastiveLogitMap("euclidean", margin=1.5)
    # softplus of the stored float32 parameter returns 8 / margin to float32 precision.
    np.testing.assert_allclose(start.cross_logits(A, B), fixed.cross_logits(A, B), rtol=1e-5, atol=1e-5)
    d = np.linalg.norm(A - B, axis=1)
    np.testing.assert_allclose(fixed.paired_logits(A, B), 4 * (1 - 2 * d / 1.5), rtol=1e-12)
