"""``rotation_classes``: rotated training images as new classes, inside fit."""

import numpy as np
import pytest
from _learning import LEARNED_MARGIN, untrained_twin
from sklearn.datasets import load_digits

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese._training.data import add_rotated_classes, rotation_image_shape
from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.encoders import MLPEncoder


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


def _small(**params):
    base = dict(encoder=MLPEncoder(hidden_sizes=(16,)), embedding_dim=8, max_epochs=1, instance_weight=0.0, random_state=0)
    return {**base, **params}


def test_rotated_rows_are_appended_as_new_classes():
    X = np.arange(3 * 9, dtype=np.float32).reshape(3, 9)
    y = np.array([0, 1, 1])
    train = np.array([0, 2])  # row 1 is a validation row: never rotated
    X_all, y_all, train_all = add_rotated_classes(X, y, train, (1, 3, 3))
    assert X_all.dtype == np.float32 and X_all.shape == (3 + 3 * 2, 9)
    np.testing.assert_array_equal(X_all[:3], X)
    for k in (1, 2, 3):
        block = slice(3 + 2 * (k - 1), 3 + 2 * k)
        expected = np.rot90(X[train].reshape(2, 3, 3), k, axes=(1, 2)).reshape(2, 9)
        np.testing.assert_array_equal(X_all[block], expected)
        # Class c turned k quarter turns is c + k * n_classes: no collisions.
        assert y_all[block].tolist() == [0 + 2 * k, 1 + 2 * k]
    assert y_all[:3].tolist() == [0, 1, 1]
    assert train_all.tolist() == [0, 2, 3, 4, 5, 6, 7, 8]
    assert not np.array_equal(X_all[3], X_all[0])  # a real rotation, not a copy


def test_image_shape_from_encoder_augmentation_or_square_rows():
    def shape(emb, n_features):
        return rotation_image_shape(n_features, emb._encoder_image_shape())

    assert shape(SiameseEmbedder(), 64) == (1, 8, 8)
    assert shape(SiameseEmbedder(encoder=ConvEncoder(input_shape=(2, 4, 4))), 32) == (2, 4, 4)
    emb = SiameseEmbedder(augmentation=RandomAffine(image_shape=(3, 5, 5)))
    assert shape(emb, 75) == (3, 5, 5)


def test_rotation_classes_refuses_rows_that_are_not_square_images(digits):
    X, y = digits
    with pytest.raises(ValueError, match="rotation_classes=True needs each row of X to be a square image.*63"):
        SiameseEmbedder(**_small(rotation_classes=True)).fit(X[:, :63], y)
    with pytest.raises(ValueError, match=r"square images \(height == width\).*\(1, 4, 16\)"):
        SiameseEmbedder(**_small(encoder=ConvEncoder(input_shape=(4, 16)), rotation_classes=True)).fit(X, y)


@pytest.mark.parametrize("bad", ["yes", 1, None])
@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
def test_bad_rotation_classes(Estimator, bad, digits):
    X, y = digits
    with pytest.raises(ValueError, match="rotation_classes"):
        Estimator(rotation_classes=bad).fit(X, y)


def test_embedder_trains_on_four_times_the_training_classes(digits):
    X, y = digits
    emb = SiameseEmbedder(**_small(rotation_classes=True, validation_fraction=0.2, refit=False)).fit(X, y)
    sampler = emb.net_.iterator_train__sampler
    rows = sampler.rows
    n_valid = np.isin(y, emb.validation_classes_).sum()
    assert 0 < n_valid and len(rows) == 4 * (len(X) - n_valid)
    assert len(sampler.sampler.index.classes) == 4 * (10 - len(emb.validation_classes_))
    # The user's classes are unchanged; the validation rows were not rotated.
    np.testing.assert_array_equal(emb.classes_, np.arange(10))
    assert rows.max() >= len(X) and not np.isin(np.flatnonzero(np.isin(y, emb.validation_classes_)), rows).any()
    plain = SiameseEmbedder(**_small(validation_fraction=0.2, refit=False)).fit(X, y)
    assert len(plain.net_.iterator_train__sampler.rows) == len(X) - n_valid


@pytest.mark.learns
def test_verifier_with_rotation_classes_predicts_the_users_classes(digits):
    X, y = digits
    train, test = slice(0, 250), slice(250, None)
    ver = SiameseVerifier(**_small(rotation_classes=True, max_epochs=3)).fit(X[train], y[train])
    np.testing.assert_array_equal(ver.classes_, np.arange(10))
    assert set(ver.predict(X[test])) <= set(range(10))
    # Held-out samples (never references) against the same fit with weights that never move.
    untrained = untrained_twin(ver).fit(X[train], y[train])
    assert ver.score(X[test], y[test]) > untrained.score(X[test], y[test]) + LEARNED_MARGIN


def test_warm_start_continues_on_the_rotated_data(digits):
    X, y = digits
    params = _small(rotation_classes=True, validation_fraction=None)
    straight = SiameseEmbedder(**{**params, "max_epochs": 2}).fit(X, y)
    resumed = SiameseEmbedder(**params, warm_start=True).fit(X, y)
    resumed.set_params(max_epochs=2).fit(X, y)
    assert resumed.n_epochs_ == 2
    np.testing.assert_allclose(resumed.transform(X[:20]), straight.transform(X[:20]), atol=1e-6)
