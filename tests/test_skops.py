"""skops round trips of the estimators, pipelines and searches; damaged and tampered skops files."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, RadiusNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.exceptions import DeviceWarning

from sklearn_siamese import BackboneEncoder, ConvEncoder, KochEncoder, MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.callbacks import (
    CosineLR,
    EpochSnapshot,
    EstimatorCheckpoint,
    NonFiniteLossGuard,
    TimeBudget,
    ValidationPrecisionAt1,
)
from sklearn_siamese.distances import CosineDistance, EuclideanDistance
from sklearn_siamese.mining import AllMiner, HardMiner, SampledPairs, SemiHardMiner
from sklearn_siamese.neighbors import calibrate_radius
from sklearn_siamese.persistence import TRUSTED_TYPES

sio = pytest.importorskip("skops.io")
from skops.io.exceptions import UntrustedTypesFoundException  # noqa: E402

FAST = dict(encoder=MLPEncoder(hidden_sizes=(16,)), max_epochs=2, samples_per_epoch=128, random_state=0)
# Every class trains, the open-set verifier's strangers are digits 8 and 9.
KNOWN = 8


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    known = y < KNOWN
    return X[known][:600], y[known][:600], X[~known][:100]


def round_trip(obj):
    """``obj`` through skops, trusting only the package's own types; also the untrusted types listed."""
    data = sio.dumps(obj)
    untrusted = sio.get_untrusted_types(data=data)
    return sio.loads(data, trusted=TRUSTED_TYPES), untrusted


def outputs(est, X):
    """Everything a fitted estimator computes from X."""
    out = {"embed": est.embed(X), "pair_distance": est.pair_distance(np.stack([X, X[::-1]], axis=1))}
    for method in ("transform", "predict", "predict_proba", "decision_function", "match_proba", "predict_pairs"):
        if hasattr(est, method):
            arg = np.stack([X, X[::-1]], axis=1) if method == "predict_pairs" else X
            out[method] = getattr(est, method)(arg)
    return out


def assert_same_outputs(loaded, fitted, X):
    expected, got = outputs(fitted, X), outputs(loaded, X)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def assert_same_fitted_attributes(loaded, fitted):
    """Every public fitted attribute back with its type and value; histories as skorch Histories."""
    names = {k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")}
    assert names <= set(vars(loaded)), names - set(vars(loaded))
    for name in sorted(names - {"net_", "augment_"}):
        a, b = getattr(loaded, name), getattr(fitted, name)
        assert type(a) is type(b), (name, type(a), type(b))
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert (list(a) if name.endswith("history_") else a) == (list(b) if name.endswith("history_") else b), name


def described(value):
    """A comparable description of a parameter value (callbacks have no repr of their parameters)."""
    if isinstance(value, dict):
        return {k: described(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [described(v) for v in value]
    if isinstance(value, np.ndarray):
        return "ndarray", value.dtype.str, value.tolist()
    if not hasattr(value, "__dict__") or isinstance(value, type):
        return type(value).__name__, repr(value)
    return type(value).__name__, described(vars(value))


def assert_same_params(loaded, est):
    assert described(loaded.get_params()) == described(est.get_params())


def assert_only_own_types(untrusted):
    assert untrusted, "the estimators are the package's own types"
    assert set(untrusted) <= set(TRUSTED_TYPES), set(untrusted) - set(TRUSTED_TYPES)


# ------------------------------------------------------------------ estimators
@pytest.fixture(scope="module", params=["embedder", "verifier", "open-set verifier"])
def fitted(request, data):
    X, y, strangers = data
    if request.param == "embedder":
        # Classes held out and refitted: validation_history_ and the scores travel too.
        return SiameseEmbedder(**FAST, validation_fraction=0.25).fit(X, y)
    if request.param == "verifier":
        return SiameseVerifier(**FAST, validation_fraction=0.25).fit(X, y)
    verifier = SiameseVerifier(**FAST, outlier_label=-1).fit(X, y)
    # Strangers other than those the tests query with (strangers[50:]).
    return verifier.calibrate_rejection(np.vstack([X[1::3], strangers[:50]]), np.r_[y[1::3], [-2] * 50], far=0.2)


def test_fitted_estimator_round_trip(fitted, data):
    X, _, strangers = data
    loaded, untrusted = round_trip(fitted)
    assert_only_own_types(untrusted)
    assert type(loaded) is type(fitted)
    Q = np.vstack([X[::7], strangers])
    assert_same_outputs(loaded, fitted, Q)
    assert_same_fitted_attributes(loaded, fitted)
    assert_same_params(loaded, fitted)
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    if getattr(fitted, "outlier_label", None) is not None:
        rejected = fitted.predict(strangers[50:]) == -1
        assert rejected.any()
        np.testing.assert_array_equal(loaded.predict(strangers[50:]) == -1, rejected)


def test_skops_file_holds_arrays_and_versions_not_pickles(fitted):
    data = sio.dumps(fitted)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        schema = archive.read("schema.json").decode()
    assert all(name == "schema.json" or name.endswith(".npy") for name in names), names
    assert '"__module__": "torch' not in schema and '"__module__": "skorch' not in schema
    for key in ("sklearn_siamese.portable", '"format_version"', '"sklearn_siamese"', '"torch"'):
        assert key in schema, key


def test_loaded_estimator_cannot_continue_training(fitted, data):
    X, y, _ = data
    loaded, _ = round_trip(fitted)
    # No optimiser or random states in the file: training cannot continue from it.
    with pytest.raises(ValueError, match="warm_start=True cannot continue"):
        loaded.set_params(warm_start=True).fit(X, y)
    # A clone trains afresh as usual.
    assert clone(loaded).get_params()["warm_start"] is True


def test_pickle_still_keeps_the_whole_net(fitted):
    # pickle keeps the skorch net (optimiser, random states), not the portable state.
    copy = pickle.loads(pickle.dumps(fitted))
    assert type(copy.net_) is type(fitted.net_) and hasattr(copy.net_, "optimizer_")
    assert hasattr(copy, "_fit_y_codes")


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
def test_unfitted_estimator_round_trip(cls):
    est = cls(**FAST, optimizer__betas=(0.8, 0.9))
    loaded, untrusted = round_trip(est)
    assert_only_own_types(untrusted)
    assert_same_params(loaded, est)
    assert type(loaded.get_params()["optimizer__betas"]) is tuple
    assert not any(k.endswith("_") for k in vars(loaded))


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests loading on a machine without CUDA")
def test_estimator_saved_for_cuda_loads_on_the_cpu(data):
    X, y, _ = data
    est = SiameseEmbedder(**FAST).fit(X, y)
    # As if fitted with device="cuda": the file holds arrays, the device is only a parameter.
    data_ = sio.dumps(est.set_params(device="cuda"))
    with pytest.warns(DeviceWarning, match="device='cuda', which this machine does not have; it is loaded on the CPU"):
        loaded = sio.loads(data_, trusted=TRUSTED_TYPES)
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


# ------------------------------------------------- every built-in building block
BUILDING_BLOCKS = {
    "MLPEncoder": dict(encoder=MLPEncoder(hidden_sizes=(16, 8), activation="tanh", dropout=0.1, batch_norm=True)),
    "ConvEncoder": dict(encoder=ConvEncoder(input_shape=(8, 8), channels=(4, 8))),
    "KochEncoder": dict(encoder=KochEncoder(input_shape=(1, 105, 105))),
    "BackboneEncoder": dict(encoder=BackboneEncoder("resnet18", weights=None, trainable="head", input_shape=(1, 8, 8))),
    "distances": dict(distance=CosineDistance()),
    "miners": dict(mining=SemiHardMiner()),
    "callbacks": dict(
        callbacks=[
            TimeBudget(60.0),
            CosineLR(max_steps=10),
            EpochSnapshot(),
            NonFiniteLossGuard(),
            ValidationPrecisionAt1(np.arange(4)),
            EstimatorCheckpoint("ckpt.joblib", every=2),
        ]
    ),
    "augmentation": dict(augmentation=RandomAffine(image_shape=(8, 8), scale=(0.9, 1.1))),
}


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
@pytest.mark.parametrize("params", BUILDING_BLOCKS.values(), ids=BUILDING_BLOCKS.keys())
def test_every_built_in_building_block_round_trips_as_a_parameter(cls, params):
    est = cls(**params)
    loaded, untrusted = round_trip(est)
    assert_only_own_types(untrusted)
    assert_same_params(loaded, est)


@pytest.mark.parametrize(
    "objects",
    [
        [EuclideanDistance(), CosineDistance()],
        [AllMiner(), SemiHardMiner(), HardMiner(), SampledPairs()],
    ],
    ids=["distances", "miners"],
)
def test_distances_and_miners_round_trip_alone(objects):
    loaded, untrusted = round_trip(objects)
    assert_only_own_types(untrusted)
    assert [type(o) for o in loaded] == [type(o) for o in objects]


@pytest.mark.parametrize(
    "params",
    [
        dict(encoder="conv", image_shape=(8, 8), distance=CosineDistance(), mining=HardMiner()),
        dict(loss="triplet", mining="semihard", lr_schedule="cosine", callbacks=[NonFiniteLossGuard()]),
    ],
    ids=["conv, cosine, hard", "triplet, semihard, cosine lr"],
)
def test_fitted_with_other_building_blocks(data, params):
    X, y, _ = data
    est = SiameseEmbedder(**{**FAST, **params, "max_epochs": 1}).fit(X, y)
    loaded, untrusted = round_trip(est)
    assert_only_own_types(untrusted)
    assert_same_outputs(loaded, est, X[:50])
    assert_same_fitted_attributes(loaded, est)


def test_fitted_backbone_encoder_round_trip():
    pytest.importorskip("torchvision")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 6)
    X = (0.5 * rng.random((6, 16, 16), dtype=np.float32)[y] + 0.5 * rng.random((len(y), 16, 16), dtype=np.float32))
    encoder = BackboneEncoder("resnet18", weights=None, trainable="head")
    est = SiameseEmbedder(encoder, embedding_dim=8, max_epochs=1, batch_size=12, samples_per_class=2,
                          samples_per_epoch=24, random_state=0).fit(X, y)
    loaded, untrusted = round_trip(est)
    assert_only_own_types(untrusted)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


# ---------------------------------------------------------- pipelines, searches
def test_readme_one_shot_pipeline_round_trip(data):
    X, y, _ = data
    model = make_pipeline(StandardScaler(), SiameseEmbedder(**FAST), KNeighborsClassifier(1)).fit(X, y)
    loaded, untrusted = round_trip(model)
    assert_only_own_types(untrusted)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_open_set_pipeline_round_trip_rejects_the_same_strangers(data):
    X, y, strangers = data
    model = make_pipeline(StandardScaler(), SiameseEmbedder(**FAST), RadiusNeighborsClassifier(outlier_label=-1))
    model.fit(X[::2], y[::2])
    radius = calibrate_radius(model, np.vstack([X[1::2], strangers[:50]]), np.r_[y[1::2], [-2] * 50], far=0.1)
    model.set_params(radiusneighborsclassifier__radius=radius)
    loaded, untrusted = round_trip(model)
    assert_only_own_types(untrusted)
    Q = np.vstack([X[1::2], strangers[50:]])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Outlier label -1 is not in training classes")
        expected = model.predict(Q)
        np.testing.assert_array_equal(loaded.predict(Q), expected)
    assert (expected[-50:] == -1).any()


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
def test_pipeline_holding_a_verifier_or_embedder_round_trip(data, cls):
    X, y, _ = data
    model = make_pipeline(StandardScaler(), cls(**FAST)).fit(X, y)
    loaded, untrusted = round_trip(model)
    assert_only_own_types(untrusted)
    method = "transform" if cls is SiameseEmbedder else "predict_proba"
    np.testing.assert_array_equal(getattr(loaded, method)(X), getattr(model, method)(X))


def test_grid_search_round_trip(data):
    X, y, _ = data
    pipe = make_pipeline(SiameseEmbedder(**{**FAST, "max_epochs": 1}), KNeighborsClassifier(1))
    search = GridSearchCV(pipe, {"siameseembedder__margin": [0.5, 1.0]}, cv=2).fit(X, y)
    # skops lists scikit-learn's splitter and scorer of any GridSearchCV (skops 0.16, scikit-learn
    # 1.9): those of a search without the package are no concern of ours.
    plain = GridSearchCV(KNeighborsClassifier(), {"n_neighbors": [1, 3]}, cv=2).fit(X, y)
    of_any_search = sio.get_untrusted_types(data=sio.dumps(plain))
    data_ = sio.dumps(search)
    untrusted = sio.get_untrusted_types(data=data_)
    assert_only_own_types(sorted(set(untrusted) - set(of_any_search)))
    loaded = sio.loads(data_, trusted=[*TRUSTED_TYPES, *of_any_search])
    np.testing.assert_array_equal(loaded.predict(X), search.predict(X))
    assert loaded.best_params_ == search.best_params_
    np.testing.assert_array_equal(loaded.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"])


# ------------------------------------------------------ damaged and tampered files
def _edit_schema(data, edit):
    """``data`` (a skops file) with its schema.json changed by ``edit(schema)``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                schema = json.loads(content)
                edit(schema)
                content = json.dumps(schema)
            target.writestr(name, content)
    return out.getvalue()


def _state(schema):
    """The content of the estimator's state (the dict its __setstate__ receives), in a skops schema."""
    return schema["content"]["content"]


def _portable(schema):
    return _state(schema)["_sklearn_siamese_portable"]["content"]


@pytest.fixture(scope="module")
def saved(data):
    X, y, _ = data
    return sio.dumps(SiameseEmbedder(**FAST).fit(X, y))


def test_file_from_a_newer_format_is_refused(saved):
    def newer(schema):
        _portable(schema)["format_version"]["content"] = "99"

    with pytest.raises(ValueError, match="format version 99 .* reads versions up to 1: upgrade sklearn-siamese"):
        sio.loads(_edit_schema(saved, newer), trusted=TRUSTED_TYPES)


def test_truncated_file_is_refused(saved):
    with pytest.raises(zipfile.BadZipFile):
        sio.loads(saved[: len(saved) // 2], trusted=TRUSTED_TYPES)


def test_weights_not_matching_the_architecture_are_refused(saved):
    def other_width(schema):
        encoder_params = _state(schema)["encoder"]["content"]["content"]
        encoder_params["hidden_sizes"]["content"][0]["content"] = "8"

    with pytest.raises(ValueError, match="does not match the weights of this saved SiameseEmbedder"):
        sio.loads(_edit_schema(saved, other_width), trusted=TRUSTED_TYPES)


def test_weights_replaced_by_another_value_are_refused(saved):
    def not_an_array(schema):
        weights = _portable(schema)["module_state"]["content"]
        name = next(iter(weights))
        weights[name] = {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                         "content": '"x"', "is_json": True}

    with pytest.raises(ValueError, match="entry .* is a str, not a numeric array"):
        sio.loads(_edit_schema(saved, not_an_array), trusted=TRUSTED_TYPES)


def test_fitted_attributes_without_weights_are_refused(saved):
    def no_weights(schema):
        del _portable(schema)["module_state"]

    with pytest.raises(ValueError, match="has fitted attributes but no weights"):
        sio.loads(_edit_schema(saved, no_weights), trusted=TRUSTED_TYPES)


def test_file_naming_an_unexpected_type_is_refused(saved):
    def code(schema):
        _state(schema)["augmentation"] = {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode"}

    tampered = _edit_schema(saved, code)
    assert "os.system" in sio.get_untrusted_types(data=tampered)
    with pytest.raises(UntrustedTypesFoundException, match="os.system"):
        sio.loads(tampered, trusted=TRUSTED_TYPES)


def test_trusted_types_are_the_package_s_own():
    names = TRUSTED_TYPES
    assert isinstance(names, tuple)  # not to be extended by accident
    assert list(names) == sorted(set(names)) and all(n.startswith("sklearn_siamese.") for n in names)
    assert "sklearn_siamese._embedder.SiameseEmbedder" in names
    assert "sklearn_siamese.encoders.BackboneEncoder" in names
    assert "sklearn_siamese.neighbors.ApproximateKNeighborsTransformer" in names


def test_encoder_given_as_a_module_says_how_to_save_it(data):
    from torch import nn

    est = SiameseEmbedder(nn.Sequential(nn.Linear(64, 8)))
    with pytest.raises(TypeError, match="encoder parameter is a Sequential, which can only be saved with pickle"):
        sio.dumps(est)
    pickle.loads(pickle.dumps(est))  # pickle still works
