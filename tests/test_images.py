"""Images as users hold them: stacks of shape (n, H, W) and (n, C, H, W), and square rows."""

import os

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.persistence import load_weights, save_weights

FAST = dict(max_epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="module")
def images(digits):
    X, y = digits
    return X[:300].reshape(-1, 8, 8), y[:300]


def reshape_of(estimator):
    """The (C, H, W) the fitted conv encoder reads each row as."""
    return estimator.net_.module_.encoder[0].shape


def test_image_stack_equals_its_flattened_rows(images):
    X, y = images
    conv = ConvEncoder(channels=(4,))
    from_images = SiameseEmbedder(conv, **FAST).fit(X, y)
    from_rows = SiameseEmbedder(conv, **FAST).fit(X.reshape(len(X), -1), y)
    assert from_images.n_features_in_ == 64
    assert from_images.image_shape_ == (1, 8, 8)
    assert from_rows.image_shape_ is None
    assert reshape_of(from_images) == reshape_of(from_rows) == (1, 8, 8)
    E = from_images.transform(X[:5])
    np.testing.assert_array_equal(E, from_rows.transform(X[:5]))
    # Fitted on images, it embeds flattened rows (and the reverse) identically.
    np.testing.assert_array_equal(E, from_images.transform(X[:5].reshape(5, -1)))


def test_channels_first_stack_keeps_its_channels(images):
    X, y = images
    X2 = np.stack([X, 1 - X], axis=1)  # (n, 2, 8, 8)
    emb = SiameseEmbedder(ConvEncoder(channels=(4,)), augmentation="affine", **FAST).fit(X2, y)
    assert emb.image_shape_ == (2, 8, 8)
    assert emb.n_features_in_ == 128
    assert reshape_of(emb) == (2, 8, 8)
    assert emb.augment_.image_shape == (2, 8, 8)
    assert emb.transform(X2[:3]).shape == (3, 32)


def test_non_square_rows_need_an_input_shape(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"rows of 60 features are not square images.*set input_shape"):
        SiameseEmbedder("conv", **FAST).fit(X[:100, :60], y[:100])
    emb = SiameseEmbedder(ConvEncoder(input_shape=(6, 10), channels=(4,)), **FAST).fit(X[:100, :60], y[:100])
    assert reshape_of(emb) == (1, 6, 10)


def test_wrong_image_size_at_transform(images):
    X, y = images
    emb = SiameseEmbedder(ConvEncoder(channels=(4,)), **FAST).fit(X, y)
    with pytest.raises(ValueError, match="expecting 64 features"):
        emb.transform(np.zeros((2, 7, 7)))


def test_verifier_pairs_and_references_as_images(images):
    X, y = images
    ver = SiameseVerifier(ConvEncoder(channels=(4,)), **FAST).fit(X, y)
    pairs = np.stack([X[:6], X[6:12]], axis=1)  # (n_pairs, 2, 8, 8)
    np.testing.assert_allclose(ver.pair_score(pairs), ver.pair_score(pairs.reshape(6, 2, 64)))
    assert np.mean(ver.predict(X) == y) > 0.5


def test_weights_round_trip_keeps_the_image_shape(images, tmp_path):
    X, y = images
    X2 = np.stack([X, X], axis=1)
    params = dict(encoder=ConvEncoder(channels=(4,)), **FAST)
    emb = SiameseEmbedder(**params).fit(X2, y)
    path = os.path.join(tmp_path, "emb.pt")
    save_weights(emb, path)
    loaded = load_weights(SiameseEmbedder(**params), path)
    assert tuple(loaded.image_shape_) == (2, 8, 8)
    np.testing.assert_array_equal(loaded.transform(X2[:4]), emb.transform(X2[:4]))


@pytest.mark.parametrize(
    "shape, expected",
    [((300, 64), "ConvEncoder"), ((300, 8, 8), "ConvEncoder"), ((300, 60), "MLPEncoder"), ((300, 16), "MLPEncoder")],
)
def test_auto_encoder_rule(shape, expected):
    from sklearn_siamese._encoder_build import encoder_spec
    from sklearn_siamese._checks import image_shape_of

    X = np.zeros(shape)
    n_features = int(np.prod(shape[1:]))
    assert type(encoder_spec("auto", n_features, image_shape_of(X))).__name__ == expected


def test_auto_defaults_on_images_and_rows(images):
    X, y = images
    on_images = SiameseEmbedder(**FAST).fit(X, y)
    assert reshape_of(on_images) == (1, 8, 8)
    assert on_images.augment_.image_shape == (1, 8, 8)
    assert on_images.augment_.translate == 1.0  # +-1 pixel on 8x8, not Koch's +-2
    on_rows = SiameseEmbedder(**FAST).fit(X.reshape(len(X), -1)[:, :60], y)
    assert type(on_rows.net_.module_.encoder[0]).__name__ == "Linear"
    assert on_rows.augment_ is None
    # An explicit encoder turns the automatic augmentation off.
    assert SiameseEmbedder(ConvEncoder(channels=(4,)), **FAST).fit(X, y).augment_ is None


@pytest.mark.parametrize("param, value", [("encoder", "convolutional"), ("augmentation", "affine2")])
def test_bad_auto_options(images, param, value):
    X, y = images
    with pytest.raises(ValueError, match=f"The '{param}' parameter of SiameseEmbedder must be"):
        SiameseEmbedder(**{param: value}, **FAST).fit(X, y)


def conv_widths(module):
    return tuple(layer.out_channels for layer in module.modules() if isinstance(layer, torch.nn.Conv2d))


@pytest.mark.parametrize(
    "shape, expected",
    # Widened by 28 / side (multiples of 8, at most 4x) below 28 pixels; (32, 64) from 28 up.
    [((8, 8), (112, 224)), ((14, 14), (64, 128)), ((28, 28), (32, 64)), ((112, 92), (32, 64)), ((4, 4), (128, 256))],
)
def test_auto_channels_widen_small_images(shape, expected):
    module = ConvEncoder(input_shape=shape).build(int(np.prod(shape)), 8)
    assert conv_widths(module) == expected
    # The widths are resolved at build: the parameter stays "auto" for clone and get_params.
    assert ConvEncoder().get_params()["channels"] == "auto"


def test_explicit_channels_are_kept(images):
    X, y = images
    emb = SiameseEmbedder(ConvEncoder(channels=(4, 8)), **FAST).fit(X, y)
    assert conv_widths(emb.net_.module_) == (4, 8)
    assert conv_widths(SiameseEmbedder(**FAST).fit(X, y).net_.module_) == (112, 224)


@pytest.mark.parametrize("channels", [(), (0, 8), (4.5,), (True,)])
def test_bad_channels_name_the_problem(images, channels):
    X, y = images
    with pytest.raises(ValueError, match="ConvEncoder: channels must be 'auto' or a non-empty tuple of positive integers"):
        SiameseEmbedder(ConvEncoder(channels=channels), **FAST).fit(X, y)
