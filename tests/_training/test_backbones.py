"""BackboneEncoder: torchvision and timm backbones, with no network.

Weights come from nowhere (``weights=None``) or from a state dict the test
writes; a download is never attempted (``_Torchvision.create`` refuses it
here, so a test that would download fails instead of hanging).
"""

import pickle
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn

from sklearn_siamese import SiameseEmbedder, SiameseVerifier
from sklearn_siamese._training.backbones import InputAdapter, blocks
from sklearn_siamese.encoders import BackboneEncoder
from sklearn_siamese.persistence import load_weights, save_weights

torchvision = pytest.importorskip("torchvision")

SIDE = 32
# samples_per_epoch: an epoch of "auto" draws at least 4,096 samples, minutes of ResNet-18
# on a CPU without bfloat16 units; 64 are 4 steps, enough for what these tests check.
FAST = dict(max_epochs=1, batch_size=16, samples_per_epoch=64, validation_fraction=None, random_state=0)


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    from sklearn_siamese._training import backbones as _backbones

    def create(self, model, weights):
        if weights is not None:
            raise AssertionError(f"the test tried to download {model} weights {weights!r}")
        return self.models.get_model(model, weights=None)

    monkeypatch.setattr(_backbones._Torchvision, "create", create)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 6)
    # Each class a brightness pattern plus noise, so training has something to learn.
    X = 0.5 * rng.random((8, 1, SIDE, SIDE), dtype=np.float32)[y] + 0.5 * rng.random((len(y), 1, SIDE, SIDE), dtype=np.float32)
    return X[:, 0], y  # (n, H, W): grey images


@pytest.fixture(scope="module")
def resnet_state(tmp_path_factory):
    """A state dict of torchvision's resnet18 (random weights, 10 classes), written to a file."""
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=10)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


@pytest.fixture(scope="module")
def fitted(images, resnet_state):
    """Fitted from the local weights with only layer4 and the head training; the weights before fit too."""
    X, y = images
    encoder = BackboneEncoder("resnet18", weights=str(resnet_state[0]), trainable=1)
    emb = SiameseEmbedder(encoder, embedding_dim=8, **FAST).fit(X, y)
    return emb


# ---------------------------------------------------------------- building
def test_builds_without_weights_and_from_a_local_state_dict(resnet_state):
    path, state = resnet_state
    fresh = BackboneEncoder(weights=None).build(SIDE * SIDE, 8)
    loaded = BackboneEncoder(weights=path).build(SIDE * SIDE, 8)
    assert isinstance(loaded.backbone.fc, nn.Identity)  # the classifier (of 10 classes here) is replaced
    for name, value in loaded.backbone.state_dict().items():
        torch.testing.assert_close(value, state[name])
    assert not torch.equal(fresh.backbone.conv1.weight, state["conv1.weight"])
    assert fresh.head[0].in_features == 512 and fresh.head[-1].out_features == 8


def test_head_hidden_sizes():
    module = BackboneEncoder(weights=None, head_hidden_sizes=(64,)).build(SIDE * SIDE, 8)
    assert [m.out_features for m in module.head if isinstance(m, nn.Linear)] == [64, 8]


def test_timm_backbone_from_a_local_state_dict(tmp_path):
    timm = pytest.importorskip("timm")
    torch.manual_seed(2)
    path = tmp_path / "resnet18_timm.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    module = BackboneEncoder("resnet18", source="timm", weights=path, trainable=2).build(SIDE * SIDE, 8)
    torch.testing.assert_close(module.backbone.conv1.weight, torch.load(path)["conv1.weight"])
    assert module.trainable_blocks == ("layer3", "layer4")


def test_timm_vit_is_resized_to_its_fixed_size():
    pytest.importorskip("timm")
    module = BackboneEncoder("vit_tiny_patch16_224", source="timm", weights=None, trainable=1).build(SIDE * SIDE, 8)
    assert module.adapter.size == (224, 224) and module.adapter.channels == 3
    assert module.trainable_blocks == ("norm",)
    assert module(torch.rand(2, SIDE * SIDE)).shape == (2, 8)


def test_blocks_of_common_families():
    def named(model):
        backbone = torchvision.models.get_model(model)
        backbone.fc = nn.Identity() if hasattr(backbone, "fc") else None
        return blocks(backbone)

    assert named("resnet18") == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    assert named("efficientnet_b0")[:2] == ["features.0", "features.1"]


# ----------------------------------------------------------------- freezing
def test_frozen_blocks_keep_their_weights_statistics_and_stay_out_of_the_optimiser(fitted, resnet_state):
    _, state = resnet_state
    module = fitted.net_.module_.encoder
    backbone = module.backbone
    assert module.trainable_blocks == ("layer4",)
    trainable = {f"backbone.{n}" for n, _ in backbone.layer4.named_parameters(prefix="layer4")}
    for name, param in module.named_parameters():
        if name.startswith("backbone."):
            assert param.requires_grad == (name in trainable), name
    # Weights and batch-norm buffers of the frozen blocks are the loaded ones; layer4's moved.
    after = backbone.state_dict()
    for name in ("conv1.weight", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                 "layer3.1.bn2.running_mean", "layer3.1.conv2.weight"):  # fmt: skip
        torch.testing.assert_close(after[name], state[name])
    assert not torch.equal(after["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert not torch.equal(after["layer4.1.bn2.running_mean"], state["layer4.1.bn2.running_mean"])
    assert backbone.layer4[1].bn2.weight.grad is not None and backbone.layer3[1].bn2.weight.grad is None


def test_optimiser_groups_hold_the_trainable_parameters_only(fitted):
    module = fitted.net_.module_
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    groups = fitted.net_.optimizer_.param_groups
    in_optimizer = [id(p) for g in groups for p in g["params"]]
    assert sorted(in_optimizer) == sorted(trainable)
    backbone_group, head_group = groups
    # backbone_lr_factor="auto" with loaded weights: 0.1 of lr.
    assert backbone_group["lr"] == pytest.approx(0.1 * fitted.lr) and head_group["lr"] == fitted.lr
    assert {id(p) for p in module.encoder.backbone.layer4.parameters()} == {id(p) for p in backbone_group["params"]}


def test_frozen_blocks_stay_in_eval_mode(fitted):
    module = fitted.net_.module_
    module.train()
    backbone = module.encoder.backbone
    assert not backbone.training and not backbone.layer3.training and not backbone.bn1.training
    assert backbone.layer4.training and module.encoder.head.training
    module.eval()
    assert not backbone.layer4.training


def test_trainable_head_freezes_the_whole_backbone(images):
    X, y = images
    emb = SiameseEmbedder(BackboneEncoder(weights=None, trainable="head"), embedding_dim=8, **FAST).fit(X, y)
    module = emb.net_.module_.encoder
    assert not any(p.requires_grad for p in module.backbone.parameters())
    (group,) = emb.net_.optimizer_.param_groups
    assert {id(p) for p in group["params"]} == {id(p) for p in module.head.parameters()}
    module.train()
    assert not any(m.training for m in module.backbone.modules())


def test_all_trainable_from_scratch_has_one_learning_rate():
    module = BackboneEncoder(weights=None).build(SIDE * SIDE, 8)
    assert module.trainable_blocks is None and module.optimizer_param_groups(1e-3) == []
    assert all(p.requires_grad for p in module.parameters())
    factor = BackboneEncoder(weights=None, backbone_lr_factor=0.5).build(SIDE * SIDE, 8)
    assert factor.optimizer_param_groups(1e-3) == [("backbone.*", {"lr": 5e-4})]


# ---------------------------------------------------------- input adaptation
@pytest.mark.parametrize("shape", [(SIDE, SIDE), (3, SIDE, SIDE)], ids=["grey", "colour"])
def test_grey_and_colour_images(images, shape):
    X, y = images
    rng = np.random.default_rng(0)
    X = X if len(shape) == 2 else np.repeat(X[:, None], 3, axis=1) * rng.random((1, 3, 1, 1), dtype=np.float32)
    emb = SiameseEmbedder(BackboneEncoder(weights=None, trainable="head"), embedding_dim=8, **FAST).fit(X, y)
    adapter = emb.net_.module_.encoder.adapter
    assert adapter.input_shape == (1, SIDE, SIDE) if len(shape) == 2 else (3, SIDE, SIDE)
    assert adapter.channels == 3 and adapter.size == (SIDE, SIDE)
    E = emb.transform(X[:5])
    assert E.shape == (5, 8) and np.isfinite(E).all()
    np.testing.assert_allclose(emb.transform(X.reshape(len(X), -1)[:5]), E, rtol=1e-5, atol=1e-6)


def test_adapter_normalises_as_the_weights_were_trained():
    module = BackboneEncoder(weights=None, image_size=64, value_range=(0, 255)).build(SIDE * SIDE, 8)
    out = module.adapter(torch.full((1, SIDE * SIDE), 255.0))
    assert out.shape == (1, 3, 64, 64)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(out[0, :, 10, 10], (1 - mean) / std)
    plain = InputAdapter((1, 4, 4), 3, (4, 4), (0.0,) * 3, (1.0,) * 3, (0.0, 1.0))
    x = torch.rand(2, 16)
    torch.testing.assert_close(plain(x), x.reshape(2, 1, 4, 4).expand(-1, 3, -1, -1))
    none = BackboneEncoder(weights=None, normalization=None).build(SIDE * SIDE, 8).adapter
    torch.testing.assert_close(none(torch.full((1, SIDE * SIDE), 0.25)), torch.full((1, 3, SIDE, SIDE), 0.25))


def test_image_size_auto_keeps_a_size_the_backbone_takes():
    assert BackboneEncoder(weights=None).build(SIDE * SIDE, 8).adapter.size == (SIDE, SIDE)
    assert BackboneEncoder(weights=None, image_size=(40, 48)).build(SIDE * SIDE, 8).adapter.size == (40, 48)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"model": "resnt18"}, r"torchvision has no model 'resnt18'\. Close matches: resnet18"),
        ({"model": "resnet18", "weights": "IMAGENET9K"}, r"no weights 'IMAGENET9K' for resnet18.*IMAGENET1K_V1"),
        ({"weights": "/no/such/file.pth"}, r"weights='/no/such/file.pth' is no file"),
        ({"trainable": 7}, r"trainable=7, but resnet18 has 6 blocks \(conv1, bn1, layer1"),
        ({"input_shape": (4, SIDE, SIDE // 4)}, r"takes images of 3 channels, or grey ones"),
        ({"value_range": (1, 0)}, r"value_range must be \(low, high\) with low < high"),
        ({"normalization": ((0.5,), (0.0,))}, r"std of normalization must be positive"),
        ({"normalization": ((0.5, 0.5), (1.0, 1.0))}, r"normalization must be 'auto', None or \(mean, std\)"),
    ],
)
def test_bad_parameters_are_clear_value_errors(params, match):
    with pytest.raises(ValueError, match=match):
        BackboneEncoder(**{"weights": None, **params}).build(SIDE * SIDE, 8)


def test_weights_of_another_architecture(tmp_path):
    path = tmp_path / "squeezenet.pth"
    torch.save(torchvision.models.squeezenet1_0().state_dict(), path)
    with pytest.raises(ValueError, match=r"do not fit resnet18 \(wrong architecture\?\): \d+ missing keys"):
        BackboneEncoder(weights=path).build(SIDE * SIDE, 8)
    state = torchvision.models.resnet18().state_dict()
    state["conv1.weight"] = state["conv1.weight"][:, :1]  # a one-channel stem
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"(?s)do not fit resnet18 .*size mismatch for conv1\.weight"):
        BackboneEncoder(weights=path).build(SIDE * SIDE, 8)
    torch.save({"not": "tensors"}, path)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        BackboneEncoder(weights=path).build(SIDE * SIDE, 8)


def test_unknown_timm_model_lists_close_matches():
    pytest.importorskip("timm")
    with pytest.raises(ValueError, match=r"timm has no model 'resnet_18'\. Close matches: .*resnet18"):
        BackboneEncoder("resnet_18", source="timm", weights=None).build(SIDE * SIDE, 8)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision now raises ImportError
    with pytest.raises(ImportError, match=r"needs torchvision.*pip install 'sklearn-siamese\[backbones\]'"):
        BackboneEncoder(weights=None).build(SIDE * SIDE, 8)


def test_invalid_parameter_types_are_refused_at_build():
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'trainable' parameter"):
        BackboneEncoder(trainable="some").build(SIDE * SIDE, 8)
    with pytest.raises(InvalidParameterError, match="'source' parameter"):
        BackboneEncoder(source="keras").build(SIDE * SIDE, 8)


# ------------------------------------------- scikit-learn integration, saving
def test_clone_get_params_and_grid_search_names(images):
    spec = BackboneEncoder("resnet18", weights=None, trainable=2, head_hidden_sizes=(32,))
    cloned = clone(spec)
    assert cloned is not spec and cloned.get_params() == spec.get_params()
    emb = SiameseEmbedder(spec)
    assert emb.get_params()["encoder__trainable"] == 2
    emb.set_params(encoder__trainable="head", encoder__backbone_lr_factor=0.01)
    assert emb.encoder.trainable == "head" and emb.encoder.backbone_lr_factor == 0.01
    X, y = images
    search = GridSearchCV(
        SiameseEmbedder(BackboneEncoder(weights=None), embedding_dim=8, **FAST),
        {"encoder__trainable": ["head", 1]},
        cv=2,
    ).fit(X, y)
    assert search.best_params_["encoder__trainable"] in ("head", 1)


def test_pickle_round_trip(fitted, images):
    X, _ = images
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))
    assert restored.net_.module_.encoder.trainable_blocks == ("layer4",)


def test_save_weights_and_load_weights_read_no_pretrained_weights(fitted, images, tmp_path, monkeypatch):
    X, _ = images
    path = tmp_path / "emb.pt"
    save_weights(fitted, path)
    # The state dict the estimator was fitted from is gone, and a weight name would need a
    # download: load_weights reads neither, it only builds the architecture.
    params = fitted.get_params(deep=False)
    for weights in (str(tmp_path / "gone.pth"), "IMAGENET1K_V1"):
        params["encoder"] = clone(fitted.encoder).set_params(weights=weights)
        loaded = load_weights(SiameseEmbedder(**params), path)
        # Equal up to rounding: fit trained the convolutions channels_last, load_weights builds them plain.
        np.testing.assert_allclose(loaded.transform(X), fitted.transform(X), atol=1e-5)


@pytest.mark.slow
def test_onnx_export_round_trip(fitted, images):
    ort = pytest.importorskip("onnxruntime")
    from sklearn_siamese.export import export_encoder

    X, _ = images
    rows = X.reshape(len(X), -1)[:5]
    session = ort.InferenceSession(export_encoder(fitted).SerializeToString())
    (onnx_out,) = session.run(None, {"X": rows})
    np.testing.assert_allclose(onnx_out, fitted.transform(rows), rtol=1e-4, atol=1e-5)


def test_verifier_with_a_backbone_and_bfloat16(images):
    X, y = images
    ver = SiameseVerifier(
        BackboneEncoder(weights=None, trainable=1), embedding_dim=8, precision="bfloat16", **FAST
    ).fit(X, y)
    assert ver.predict(X[:4]).shape == (4,)
    assert ver.net_.module_.autocast_dtype == torch.bfloat16
