"""The ``precision`` parameter: bfloat16 autocast in training, float32 inference."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese._training.encoder import EmbeddingModule
from sklearn_siamese._training.precision import fast_bfloat16, prepare_for_precision, resolve_precision


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16.0).astype(np.float32), y[:300]


def _fit(Estimator, X, y, **params):
    params = {
        "max_epochs": 2, "validation_fraction": None, "instance_weight": 0.0, "random_state": 0, "image_shape": (8, 8),
        "samples_per_epoch": 300, **params,
    }
    return Estimator(**params).fit(X, y)


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_precision_trains_and_infers_in_float32(Estimator, precision, digits):
    X, y = digits
    est = _fit(Estimator, X, y, precision=precision)
    assert est.precision_ == precision
    assert est.net_.module_.autocast_dtype == (torch.bfloat16 if precision == "bfloat16" else None)
    assert all(p.dtype == torch.float32 for p in est.net_.module_.parameters())
    E = est.embed(X[:20])
    assert E.dtype == est._inference_dtype and np.isfinite(E).all()
    # Inference is float32 whatever the training precision: deterministic, call after call.
    np.testing.assert_array_equal(E, est.embed(X[:20]))


def test_transform_returns_float32_after_bfloat16_training(digits):
    X, y = digits
    Z = _fit(SiameseEmbedder, X, y, precision="bfloat16").transform(X)
    assert Z.dtype == np.float32


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_same_random_state_gives_the_same_model(precision, digits):
    X, y = digits
    a = _fit(SiameseEmbedder, X, y, precision=precision).transform(X)
    b = _fit(SiameseEmbedder, X, y, precision=precision).transform(X)
    np.testing.assert_array_equal(a, b)


def test_bfloat16_changes_training_but_not_much(digits):
    """The bfloat16 path really runs (other weights than float32), and learns as well."""
    X, y = digits
    fp32 = _fit(SiameseEmbedder, X, y, precision="float32", max_epochs=5)
    bf16 = _fit(SiameseEmbedder, X, y, precision="bfloat16", max_epochs=5)
    assert not np.array_equal(fp32.transform(X), bf16.transform(X))
    assert bf16.score(X, y) > 0.9 and abs(bf16.score(X, y) - fp32.score(X, y)) < 0.05


def test_bfloat16_autocast_is_on_in_training_only():
    module = EmbeddingModule(torch.nn.Linear(4, 3), normalize=False)
    module.autocast_dtype = torch.bfloat16
    seen = []
    module.encoder.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    x = torch.randn(5, 4)
    assert module.train()(x).dtype == torch.float32  # cast back before the loss
    module.eval()(x)
    assert seen == [torch.bfloat16, torch.float32]


def test_built_in_conv_encoder_trains_channels_last():
    module = EmbeddingModule(ConvEncoder(input_shape=(8, 8), channels=(4,)).build(64, 2), normalize=True)
    prepare_for_precision(module, "float32", built_in=True)
    conv = module.encoder[1][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    user = EmbeddingModule(ConvEncoder(input_shape=(8, 8), channels=(4,)).build(64, 2), normalize=True)
    prepare_for_precision(user, "float32", built_in=False)
    assert user.encoder[1][0].weight.is_contiguous()


def test_conv_encoder_fits_in_bfloat16(digits):
    X, y = digits
    est = _fit(SiameseEmbedder, X, y, encoder=ConvEncoder(input_shape=(8, 8), channels=(8,)), precision="bfloat16")
    assert est.transform(X[:5]).dtype == np.float32


def test_auto_follows_the_hardware(digits, monkeypatch):
    assert resolve_precision("float32", "cpu") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"
    expected = "bfloat16" if fast_bfloat16("cpu") else "float32"
    assert resolve_precision("auto", "cpu") == expected
    monkeypatch.setattr("sklearn_siamese._training.precision._cpu_flags", lambda: {"avx2"})
    assert resolve_precision("auto", "cpu") == "float32"
    monkeypatch.setattr("sklearn_siamese._training.precision._cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert resolve_precision("auto", "cpu") == "bfloat16"
    assert resolve_precision("auto", "meta") == "float32"
    X, y = digits
    assert _fit(SiameseEmbedder, X, y, max_epochs=1).precision_ == "bfloat16"


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier])
@pytest.mark.parametrize("bad", ["fp16", "float16", 16, None])
def test_bad_precision_is_a_clear_error(Estimator, bad, digits):
    X, y = digits
    with pytest.raises(ValueError, match="'precision' parameter"):
        Estimator(precision=bad).fit(X, y)
