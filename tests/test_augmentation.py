"""RandomAffine and the estimators' augmentation parameter."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder
from sklearn_siamese.augmentation import RandomAffine


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


def test_identity_when_nothing_is_applied():
    x = torch.rand(6, 64)
    assert torch.equal(RandomAffine(image_shape=(8, 8), p=0.0)(x), x)


def test_pure_translation_moves_the_image():
    img = torch.zeros(1, 1, 8, 8)
    img[0, 0, 3, 3] = 1.0
    aug = RandomAffine(image_shape=(8, 8), rotation=0, shear=0, scale=(1, 1), translate=1.0, p=1.0)
    torch.manual_seed(0)
    out = aug(img.reshape(1, 64)).reshape(8, 8)
    assert out.sum() == pytest.approx(1.0, abs=1e-4)  # mass kept, only moved
    assert not torch.allclose(out, img.reshape(8, 8))


def test_same_seed_same_batch():
    x = torch.rand(4, 64)
    torch.manual_seed(1)
    a = RandomAffine(image_shape=(8, 8))(x)
    torch.manual_seed(1)
    b = RandomAffine(image_shape=(8, 8))(x)
    assert torch.equal(a, b) and not torch.equal(a, x)


def test_shape_errors():
    with pytest.raises(ValueError, match="not square images"):
        RandomAffine()(torch.rand(2, 10))
    with pytest.raises(ValueError, match="holds 64 values"):
        RandomAffine(image_shape=(8, 8))(torch.rand(2, 10))


def test_estimator_resolves_affine_from_the_encoder_and_is_reproducible(digits):
    X, y = digits
    params = dict(
        encoder=ConvEncoder(input_shape=(8, 8), channels=(4,)), augmentation="affine", max_epochs=2, samples_per_epoch=300,
        random_state=0,
    )
    a = SiameseEmbedder(**params).fit(X, y)
    assert a.augment_.image_shape == (8, 8)
    b = SiameseEmbedder(**params).fit(X, y)
    np.testing.assert_array_equal(a.transform(X[:5]), b.transform(X[:5]))
    plain = SiameseEmbedder(**{**params, "augmentation": None}).fit(X, y)
    assert not np.allclose(plain.transform(X[:5]), a.transform(X[:5]))


def test_user_callable_and_bad_augmentation(digits):
    X, y = digits
    calls = []

    def flip(batch):
        calls.append(batch.shape)
        return batch.flip(1)

    SiameseEmbedder(MLPEncoder(hidden_sizes=(8,)), augmentation=flip, max_epochs=1, random_state=0).fit(X, y)
    assert len(calls) > 1 and all(shape[1] == 64 for shape in calls)
    with pytest.raises(ValueError, match="must return a tensor of the batch's shape"):
        SiameseEmbedder(augmentation=lambda b: b[:, :3], image_shape=(8, 8), max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="not square images"):
        SiameseEmbedder(augmentation="affine", max_epochs=1).fit(np.hstack([X, X[:, :1]]), y)


def test_affine_parameter_is_not_mutated(digits):
    X, y = digits
    aug = RandomAffine()
    emb = SiameseEmbedder(ConvEncoder(input_shape=(8, 8), channels=(4,)), augmentation=aug, max_epochs=1, random_state=0)
    emb.fit(X, y)
    assert aug.image_shape is None and emb.augment_.image_shape == (8, 8)
