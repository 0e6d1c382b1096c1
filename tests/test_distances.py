"""Distance objects, their string aliases, and a distance of the user's in a grid search."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from _learning import LEARNED_MARGIN, untrained_twin
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.distances import (
    CosineDistance,
    Distance,
    EuclideanDistance,
    check_distance,
    cross_distance,
    paired_distance,
    pairwise_distance,
)
from sklearn_siamese.mining import AllMiner, Miner


class ManhattanDistance(Distance):
    """A distance of the user's: only ``pairwise`` written."""

    def pairwise(self, a, b):
        return torch.cdist(a, b, p=1)


class HardestNegativeOnly(Miner):
    """A miner of the user's: every positive pair with the closest negative of its anchor."""

    def mine(self, dist, labels):
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool)
        a, p = (same & ~eye).nonzero(as_tuple=True)
        negatives = torch.where(same, torch.inf, dist)
        return a, p, negatives[a].argmin(dim=1)


@pytest.fixture(scope="module")
def small_digits():
    X, y = load_digits(return_X_y=True)
    keep = y < 5
    return (X[keep] / 16).astype(np.float32)[:300], y[keep][:300]


@pytest.mark.parametrize("name, cls", [("euclidean", EuclideanDistance), ("cosine", CosineDistance)])
def test_names_resolve_to_the_builtin_objects(name, cls):
    assert type(check_distance(name)) is cls
    obj = cls()
    assert check_distance(obj) is obj


@pytest.mark.parametrize("distance", [EuclideanDistance(), CosineDistance(), ManhattanDistance()])
def test_paired_and_cross_agree_with_pairwise(distance):
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 5, generator=gen), torch.randn(300, 5, generator=gen)
    full = distance.pairwise(a, b)
    assert full.shape == (300, 300)
    # float32 sums in different orders (cdist's two compute modes): a few ulps of values near 1.
    torch.testing.assert_close(distance.paired(a, b), full.diagonal(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(distance.cross(a, b), full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(paired_distance(a, b, distance), full.diagonal(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cross_distance(a, b, distance, batch_invariant=True), distance.cross(a, b))
    torch.testing.assert_close(pairwise_distance(a, distance), distance.pairwise(a, a))


def test_cross_of_a_row_does_not_depend_on_the_other_rows():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(64, 16, generator=gen), torch.randn(50, 16, generator=gen)
    for distance in (EuclideanDistance(), CosineDistance()):
        alone = distance.cross(a[:1], b)
        assert torch.equal(alone[0], distance.cross(a, b)[0])


def test_base_class_says_what_to_write_and_bad_names_are_refused():
    with pytest.raises(NotImplementedError, match="must implement pairwise"):
        Distance().pairwise(torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="distance must be one of"):
        check_distance("manhattan")
    with pytest.raises(ValueError, match="'distance' parameter of SiameseEmbedder"):
        SiameseEmbedder(distance="manhattan").fit(np.zeros((4, 3)), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="'distance' parameter of pairwise_distance"):
        pairwise_distance(torch.zeros(2, 2), "manhattan")


@pytest.mark.learns
@pytest.mark.slow
def test_a_users_distance_and_miner_in_a_grid_search(small_digits):
    """The user's distance and miner are parameters like any other: cloned, searched, refitted."""
    X, y = small_digits
    pipe = Pipeline(
        [
            ("embed", SiameseEmbedder(image_shape=None, embedding_dim=8, max_epochs=2, validation_fraction=None, random_state=0)),
            ("knn", KNeighborsClassifier(1)),
        ]
    )
    grid = {"embed__distance": [ManhattanDistance(), "euclidean"], "embed__mining": [HardestNegativeOnly(), "all"]}
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    params = search.cv_results_["params"]
    assert len(params) == 4
    assert any(isinstance(p["embed__distance"], ManhattanDistance) for p in params)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # The best candidate's held-out-fold 1-NN accuracy, against the same pipeline untrained on the same folds.
    untrained = cross_val_score(untrained_twin(search.best_estimator_), X, y, cv=2)
    assert search.best_score_ > untrained.mean() + LEARNED_MARGIN
    # The fitted criterion uses the user's objects, not a built-in stand-in.
    best = search.best_estimator_.named_steps["embed"]
    criterion = best.net_.criterion_
    assert type(criterion._distance) is type(check_distance(best.distance))
    assert isinstance(criterion._miner, (HardestNegativeOnly, AllMiner))


def test_a_users_distance_scores_inference_with_its_own_pairwise(small_digits):
    X, y = small_digits
    emb = SiameseEmbedder(
        image_shape=None, embedding_dim=8, max_epochs=1, validation_fraction=None, distance=ManhattanDistance(),
        random_state=0,
    ).fit(X, y)
    E = emb.transform(X[:10])
    expected = -torch.cdist(torch.from_numpy(E), torch.from_numpy(E), p=1).numpy()
    np.testing.assert_allclose(emb.similarity(X[:10]), expected, rtol=1e-6, atol=1e-6)


def test_a_users_distance_in_the_verifiers_distance_head(small_digits):
    from sklearn_siamese import SiameseVerifier

    X, y = small_digits
    ver = SiameseVerifier(
        image_shape=None, embedding_dim=8, max_epochs=1, samples_per_epoch=256, validation_fraction=None,
        distance=ManhattanDistance(), random_state=0,
    ).fit(X, y)
    head = ver.net_.criterion_.head
    assert isinstance(head._distance, ManhattanDistance)
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    E1, E2 = ver.embed(X[:10]), ver.embed(X[10:20])
    # Pair scores and cross scores come from the user's distance, in float64.
    np.testing.assert_allclose(ver.pair_score(pairs), np.diag(ver.embedding_similarity(E1, E2)), rtol=1e-6)
    d = torch.cdist(torch.from_numpy(E1), torch.from_numpy(E2), p=1).numpy()
    order = np.argsort(-ver.embedding_similarity(E1, E2), axis=1)
    np.testing.assert_array_equal(order, np.argsort(d, axis=1, kind="stable"))
