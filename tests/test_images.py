"""Images as users hold them: stacks of shape (n, H, W) and (n, C, H, W), and square rows."""

import os

import numpy as np
import pytest
import torch

from _learning import LEARNED_MARGIN, untrained_twin

from sklearn_siamese import ConvEncoder, KochEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.persistence import load_weights, save_weights

FAST = dict(max_epochs=2, batch_size=32, random_state=0, samples_per_epoch=256)


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


@pytest.mark.learns
def test_verifier_pairs_and_references_as_images(images, digits):
    X, y = images
    ver = SiameseVerifier(ConvEncoder(channels=(4,)), **{**FAST, "samples_per_epoch": 1024}).fit(X, y)
    pairs = np.stack([X[:6], X[6:12]], axis=1)  # (n_pairs, 2, 8, 8)
    np.testing.assert_allclose(ver.pair_score(pairs), ver.pair_score(pairs.reshape(6, 2, 64)))
    # Held-out images (the references are the 300 training ones) against the fit with weights that never
    # move: 0.80 against 0.75.
    X_test, y_test = digits[0][300:700].reshape(-1, 8, 8), digits[1][300:700]
    untrained = untrained_twin(ver).fit(X, y)
    assert ver.score(X_test, y_test) > untrained.score(X_test, y_test) + LEARNED_MARGIN


def test_weights_round_trip_keeps_the_image_shape(images, tmp_path):
    X, y = images
    X2 = np.stack([X, X], axis=1)
    params = dict(encoder=ConvEncoder(channels=(4,)), **FAST)
    emb = SiameseEmbedder(**params).fit(X2, y)
    path = os.path.join(tmp_path, "emb.pt")
    save_weights(emb, path)
    loaded = load_weights(SiameseEmbedder(**params), path)
    assert tuple(loaded.image_shape_) == (2, 8, 8)
    # The module built anew gets the trained one's memory layout (channels_last),
    # so the CPU runs the same conv kernels: the same embeddings, bit for bit.
    np.testing.assert_array_equal(loaded.transform(X2[:4]), emb.transform(X2[:4]))


def _resolved(X, **params):
    """``(image_shape_, encoder_class_name, warned)`` that fit resolves for X."""
    import warnings

    from sklearn_siamese._training.checks import image_shape_of, is_data_frame, resolve_image_shape
    from sklearn_siamese._building import encoder_spec

    est = SiameseEmbedder(**params)
    n_features = int(np.prod(np.shape(X)[1:]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        shape = resolve_image_shape(
            est.image_shape, est.encoder, image_shape_of(X), is_data_frame(X), n_features, type(est).__name__
        )
    spec = encoder_spec(est.encoder, n_features, shape)
    return shape, type(spec).__name__, [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "shape, params, expected, warns",
    [
        ((300, 64), {}, ((1, 8, 8), "ConvEncoder"), True),  # a guess: said so
        ((300, 64), {"image_shape": (8, 8)}, ((1, 8, 8), "ConvEncoder"), False),
        ((300, 64), {"image_shape": None}, (None, "MLPEncoder"), False),
        ((300, 64), {"encoder": "mlp"}, (None, "MLPEncoder"), False),
        ((300, 8, 8), {}, ((1, 8, 8), "ConvEncoder"), False),
        ((300, 8, 8), {"image_shape": None}, (None, "MLPEncoder"), False),
        ((300, 2, 4, 8), {"image_shape": (2, 4, 8)}, ((2, 4, 8), "ConvEncoder"), False),
        ((300, 60), {}, (None, "MLPEncoder"), False),
        ((300, 16), {}, (None, "MLPEncoder"), False),
        ((300, 60), {"image_shape": (6, 10)}, ((1, 6, 10), "ConvEncoder"), False),
    ],
)
def test_auto_image_rule(shape, params, expected, warns):
    shape_, encoder, warnings_ = _resolved(np.zeros(shape), **params)
    assert (shape_, encoder) == expected
    assert bool(warnings_) == warns
    if warns:
        assert "reads the 64 columns of X as 8x8 images" in warnings_[0]
        assert "image_shape=(8, 8)" in warnings_[0] and "image_shape=None" in warnings_[0]


def test_data_frame_with_a_square_number_of_columns_is_tabular():
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=600, n_features=64, n_informative=20, n_classes=6, random_state=0)
    for columns in ([f"feature_{i}" for i in range(64)], range(64)):
        df = pd.DataFrame(X, columns=columns)
        assert _resolved(df) == (None, "MLPEncoder", [])
    emb = SiameseEmbedder(**FAST).fit(pd.DataFrame(X, columns=[f"f{i}" for i in range(64)]), y)  # no warning
    assert emb.image_shape_ is None and emb.augment_ is None
    assert type(emb.net_.module_.encoder[0]).__name__ == "Linear"


def test_square_rows_warn_and_keep_the_image_defaults(digits):
    X, y = digits
    with pytest.warns(UserWarning, match=r"reads the 64 columns of X as 8x8 images.*image_shape=\(8, 8\)"):
        guessed = SiameseEmbedder(**FAST).fit(X[:300], y[:300])
    confirmed = SiameseEmbedder(image_shape=(8, 8), **FAST).fit(X[:300], y[:300])
    assert guessed.image_shape_ == confirmed.image_shape_ == (1, 8, 8)
    np.testing.assert_array_equal(guessed.transform(X[:5]), confirmed.transform(X[:5]))


@pytest.mark.parametrize(
    "X_shape, image_shape, match",
    [
        ((100, 64), (7, 7), r"image_shape=\(7, 7\) holds 49 values but X has 64 features"),
        ((100, 64), (8,), r"image_shape must be \(height, width\) or \(channels, height, width\)"),
        ((100, 64), (0, 8, 8), "of positive sizes"),
        ((100, 8, 8), (1, 4, 16), r"X holds images of shape \(1, 8, 8\), but image_shape=\(1, 4, 16\)"),
    ],
)
def test_bad_image_shape(X_shape, image_shape, match):
    rng = np.random.default_rng(0)
    X, y = rng.random(X_shape), np.arange(X_shape[0]) % 4
    with pytest.raises(ValueError, match=match):
        SiameseEmbedder(image_shape=image_shape, **FAST).fit(X, y)


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
    # Widened by 28 / side (multiples of 8, at most 2x) below 28 pixels; (32, 64) from 28 up.
    [((8, 8), (64, 128)), ((14, 14), (64, 128)), ((20, 20), (48, 88)), ((28, 28), (32, 64)), ((112, 92), (32, 64)), ((4, 4), (64, 128))],
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
    assert conv_widths(SiameseEmbedder(**FAST).fit(X, y).net_.module_) == (64, 128)


@pytest.mark.parametrize("channels", [(), (0, 8), (4.5,), (True,)])
def test_bad_channels_name_the_problem(images, channels):
    X, y = images
    with pytest.raises(ValueError, match="ConvEncoder: channels must be 'auto' or a non-empty tuple of positive integers"):
        SiameseEmbedder(ConvEncoder(channels=channels), **FAST).fit(X, y)


class _SmallConvNet(torch.nn.Module):
    """A user's encoder written for images: it needs (batch, C, H, W)."""

    def __init__(self, channels=1):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 4, 3)
        self.head = torch.nn.Linear(4 * 6 * 6, 8)

    def forward(self, x):
        assert x.ndim == 4, x.shape
        return self.head(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
def test_user_conv_module_receives_images(cls, images):
    X, y = images
    module = _SmallConvNet()
    est = cls(module, **FAST).fit(X, y)  # (n, 8, 8)
    assert est.image_shape_ == (1, 8, 8) and est.embedding_dim_ == 8
    assert est.embed(X[:3]).shape == (3, 8)
    # Flat rows with the shape given as a parameter reach it as images too.
    flat = cls(module, image_shape=(8, 8), **FAST).fit(X.reshape(len(X), -1), y)
    np.testing.assert_allclose(flat.embed(X[:3].reshape(3, -1)), est.embed(X[:3]), atol=1e-6)
    # Two channels arrive as two channels.
    two = cls(_SmallConvNet(channels=2), **FAST).fit(np.stack([X, 1 - X], axis=1), y)
    assert two.embed(np.stack([X[:2], 1 - X[:2]], axis=1)).shape == (2, 8)


def test_user_module_without_image_shape_gets_rows(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"failed on a batch of shape \(2, 64\) \(n_samples, n_features\)"):
        SiameseEmbedder(_SmallConvNet(), **FAST).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match=r"_SmallConvNet failed on a batch of images of shape \(2, 2, 4, 8\)"):
        SiameseEmbedder(_SmallConvNet(), image_shape=(2, 4, 8), **FAST).fit(X[:100], y[:100])


def test_encoder_builder_is_offered_the_image_shape(images):
    X, y = images
    seen = {}

    def build(input_shape, embedding_dim):
        seen["input_shape"] = input_shape
        return _SmallConvNet(channels=input_shape[0])

    SiameseEmbedder(build, embedding_dim=8, **FAST).fit(X, y)
    assert seen["input_shape"] == (1, 8, 8)


def _relu_before_pool(module):
    """The textbook block order (conv -> BN -> ReLU -> pool) with module's own layers."""
    layers, out = list(module), []
    for i, layer in enumerate(layers):
        if isinstance(layer, torch.nn.ReLU) and i and isinstance(layers[i - 1], torch.nn.MaxPool2d):
            out.insert(len(out) - 1, layer)
        else:
            out.append(layer)
    return torch.nn.Sequential(*out)


@pytest.mark.parametrize("spec, shape", [(ConvEncoder(input_shape=(2, 9, 7), channels=(8, 16, 8)), (2, 9, 7)), (KochEncoder(), (1, 105, 105))])
def test_pooling_before_relu_is_the_textbook_block(spec, shape):
    # The built-in encoders pool before the ReLU, which is the same function
    # as ReLU then pooling (ReLU is monotone): outputs and gradients are equal
    # exactly, and the weights keep their state_dict keys.
    torch.manual_seed(0)
    module = spec.build(int(np.prod(shape)), 6)
    features = module[1]
    pools = [i for i, layer in enumerate(features) if isinstance(layer, torch.nn.MaxPool2d)]
    assert pools and all(isinstance(features[i + 1], torch.nn.ReLU) for i in pools)
    textbook = _relu_before_pool(features)
    assert list(features.state_dict()) == list(textbook.state_dict())  # same keys as the textbook order
    x = torch.randn(4, *shape)
    x[:, :, :2] = 0.0  # ties at zero inside pooling windows
    grads = []
    for net in (features, textbook):
        net.train()
        inp = x.clone().requires_grad_(True)
        out = net(inp)
        out.square().sum().backward()
        grads.append((out.detach(), inp.grad, [p.grad.clone() for p in net.parameters()]))
        net.zero_grad()
    (out_a, gin_a, gp_a), (out_b, gin_b, gp_b) = grads
    assert torch.equal(out_a, out_b)
    assert torch.equal(gin_a, gin_b)
    assert all(torch.equal(a, b) for a, b in zip(gp_a, gp_b))
