"""Pickle/joblib round trips, CUDA-to-CPU loading and the weights-only format."""

import io
import json
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from skorch.exceptions import DeviceWarning
from torch import nn

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.persistence import load_weights, save_weights

ESTIMATORS = [SiameseEmbedder, SiameseVerifier]

FAST = dict(encoder=MLPEncoder(hidden_sizes=(8,)), max_epochs=2, batch_size=8, random_state=0, samples_per_epoch=128)


def outputs(est, X):
    """Everything a fitted estimator computes from X, as one array."""
    out = [est.transform(X)] if hasattr(est, "transform") else []
    for method in ("predict_proba", "decision_function"):
        if hasattr(est, method):
            out.append(getattr(est, method)(X))
    out.append(est.pair_distance(np.stack([X, X[::-1]], axis=1)))
    return np.hstack([np.asarray(o, dtype=np.float64).reshape(len(X), -1) for o in out])


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(1)
    y = np.repeat(np.array(["cat", "dog", "eel", "fox", "gnu", "hen"]), 8)
    X = rng.normal(size=(len(y), 6)) + np.searchsorted(np.unique(y), y)[:, None]
    return X.astype(np.float32), y


@pytest.fixture(scope="module", params=ESTIMATORS, ids=lambda c: c.__name__)
def fitted(request, data):
    return request.param(**FAST).fit(*data)


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")], ids=["pickle", "joblib"])
def test_pickle_round_trip_identical_outputs(fitted, data, dump, load, tmp_path):
    X = data[0]
    if dump == "joblib":
        joblib.dump(fitted, tmp_path / "est.joblib")
        loaded = joblib.load(tmp_path / "est.joblib")
    else:
        loaded = load(dump(fitted))
    np.testing.assert_array_equal(outputs(loaded, X), outputs(fitted, X))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.history_[:, "train_loss"] == fitted.history_[:, "train_loss"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests loading on a machine without CUDA")
def test_cuda_fitted_estimator_loads_on_cpu(fitted, data):
    """skorch's NeuralNet.__setstate__ maps CUDA tensors to the CPU (with a DeviceWarning).

    The net is made to look as if trained on CUDA (net_.device="cuda"): its
    __getstate__ then saves the tensors as CUDA-dependent attributes and
    __setstate__ calls get_map_location("cuda"), which falls back to "cpu"
    when torch.cuda.is_available() is False.
    """
    X = data[0]
    expected = outputs(fitted, X)
    original_device = fitted.net_.device
    fitted.net_.device = "cuda"
    try:
        blob = pickle.dumps(fitted)
    finally:
        fitted.net_.device = original_device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle.loads(blob)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeviceWarning)]
    assert any("no CUDA devices are available" in m for m in messages), messages
    assert torch.device(loaded.net_.device).type == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    np.testing.assert_array_equal(outputs(loaded, X), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU to fit on CUDA")
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_cuda_fitted_estimator_loads_on_cpu_real_gpu(cls, data, monkeypatch):  # pragma: no cover
    X, y = data
    est = cls(**{**FAST, "device": "cuda"}).fit(X, y)
    expected = outputs(est, X)
    blob = pickle.dumps(est)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeviceWarning)
        loaded = pickle.loads(blob)
    assert torch.device(loaded.net_.device).type == "cpu"
    assert all(p.device.type == "cpu" for p in loaded.net_.module_.parameters())
    np.testing.assert_allclose(outputs(loaded, X), expected, rtol=1e-4, atol=1e-5)


def test_weights_only_round_trip(fitted, data, tmp_path):
    X = data[0]
    path = tmp_path / "weights.pt"
    save_weights(fitted, path)
    # The file opens with torch's restricted unpickler: no code runs.
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"meta", "state_dict", "criterion_state_dict"}

    loaded = load_weights(type(fitted)(**FAST), path)
    np.testing.assert_array_equal(outputs(loaded, X), outputs(fitted, X))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.classes_.dtype == fitted.classes_.dtype
    assert loaded.n_features_in_ == fitted.n_features_in_
    assert loaded.embedding_dim_ == fitted.embedding_dim_
    assert loaded.n_epochs_ == fitted.n_epochs_
    assert loaded.history_[:, "train_loss"] == fitted.history_[:, "train_loss"]
    fitted_attrs = {k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")}
    assert fitted_attrs <= set(vars(loaded))
    # No optimiser or random states in the file: training cannot continue from it.
    with pytest.raises(ValueError, match="warm_start=True cannot continue .* load_weights"):
        loaded.set_params(warm_start=True).fit(*data)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
@pytest.mark.slow
def test_weights_only_round_trip_of_the_default_on_images(cls, tmp_path):
    # The defaults on images train with a RandomAffine (augment_), which is
    # code: the file leaves it out and load_weights rebuilds it from the
    # estimator's parameters, as fit built it.
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X[:200] / 16).astype(np.float32).reshape(-1, 8, 8)
    # Classes held out: the embedder refits (its default), the verifier calibrates on them.
    fitted = cls(max_epochs=1, batch_size=32, validation_fraction=0.2, random_state=0).fit(X, y[:200])
    path = tmp_path / "weights.pt"
    save_weights(fitted, path)
    loaded = load_weights(cls(max_epochs=1, batch_size=32, validation_fraction=0.2, random_state=0), path)
    assert loaded.augment_.get_params() == fitted.augment_.get_params()
    # The embedder refitted (its default): the first run's history travels too, as a History.
    validation = getattr(fitted, "validation_history_", None)
    assert (validation is not None) == (cls is SiameseEmbedder)
    if validation is not None:
        assert list(loaded.validation_history_) == list(validation) and type(loaded.validation_history_) is type(validation)
    np.testing.assert_allclose(loaded.embed(X), fitted.embed(X), atol=1e-5)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_weights_only_with_user_module_and_feature_names(cls, data, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    encoder = nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    params = {**FAST, "encoder": encoder, "embedding_dim": None}
    est = cls(**params).fit(df, y)
    save_weights(est, tmp_path / "w.pt")
    loaded = load_weights(cls(**params), tmp_path / "w.pt")
    np.testing.assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    np.testing.assert_array_equal(outputs(loaded, df), outputs(est, df))
    # A different architecture is refused with the reason.
    other = {**params, "encoder": nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 3))}
    with pytest.raises(ValueError, match="does not match .*w.pt"):
        load_weights(cls(**other), tmp_path / "w.pt")


def test_load_weights_checks_class_and_parameters(fitted, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(fitted, path)
    saved = fitted.normalize  # the embedder's default is "auto", the verifier's True
    with pytest.raises(ValueError, match=rf"parameters differ .*normalize=False \(saved {saved!r}\)"):
        load_weights(type(fitted)(**{**FAST, "normalize": False}), path)
    # device and verbose may differ.
    load_weights(type(fitted)(**{**FAST, "verbose": 0, "device": "cpu"}), path)
    # So may the parameters that only say how it was trained.
    training_only = {
        "max_epochs": 7, "random_state": 3, "samples_per_epoch": 100, "lr": 0.1, "max_time": 60.0, "lr_schedule": "cosine",
    }
    loaded = load_weights(type(fitted)(**{**FAST, **training_only}), path)
    assert loaded.n_epochs_ == fitted.n_epochs_

    class Other(type(fitted)):
        pass

    with pytest.raises(ValueError, match=f"holds a {type(fitted).__name__}, but the estimator passed is a Other"):
        load_weights(Other(**FAST), path)


def test_load_weights_refuses_other_files(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"a": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a file written by sklearn_siamese.persistence.save_weights"):
        load_weights(SiameseEmbedder(**FAST), path)

    # A pickle that would run code is refused by torch's weights-only unpickler.
    class Evil:
        def __reduce__(self):
            return (print, ("this would run",))

    buffer = io.BytesIO()
    torch.save({"meta": Evil()}, buffer)
    (tmp_path / "evil.pt").write_bytes(buffer.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="[Ww]eights only load failed"):
        load_weights(SiameseEmbedder(**FAST), tmp_path / "evil.pt")


def test_save_weights_needs_fitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_weights(SiameseEmbedder(**FAST), tmp_path / "w.pt")


# ------------------------------------------------- versions, damage, exact types
def _rewrite_meta(path, edit):
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["meta"])
    edit(meta)
    payload["meta"] = json.dumps(meta)
    torch.save(payload, path)


def test_weights_file_records_the_versions_that_wrote_it(fitted, tmp_path):
    import sklearn_siamese

    save_weights(fitted, tmp_path / "w.pt")
    meta = json.loads(torch.load(tmp_path / "w.pt", weights_only=True)["meta"])
    assert meta["format"] == "sklearn_siamese.weights" and meta["format_version"] == 2
    assert meta["sklearn_siamese"] == sklearn_siamese.__version__ and meta["torch"] == torch.__version__


def test_weights_file_of_a_newer_format_is_refused(fitted, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(fitted, path)
    _rewrite_meta(path, lambda meta: meta.update(format_version=3, version=3, sklearn_siamese="9.0"))
    with pytest.raises(ValueError, match=r"format version 3 by sklearn_siamese 9.0.* up to 2: upgrade"):
        load_weights(type(fitted)(**FAST), path)


def test_weights_file_of_version_1_still_loads(fitted, data, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(fitted, path)

    def as_version_1(meta):
        for key in ("format_version", "sklearn_siamese", "torch"):
            del meta[key]
        meta["version"] = 1

    _rewrite_meta(path, as_version_1)
    loaded = load_weights(type(fitted)(**FAST), path)
    np.testing.assert_array_equal(outputs(loaded, data[0]), outputs(fitted, data[0]))


def test_truncated_weights_file_is_refused(fitted, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(fitted, path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match="could not be read as a weights file .truncated or damaged"):
        load_weights(type(fitted)(**FAST), path)


def test_weights_round_trip_keeps_fitted_attribute_types(fitted, tmp_path):
    save_weights(fitted, tmp_path / "w.pt")
    loaded = load_weights(type(fitted)(**FAST), tmp_path / "w.pt")
    for name in sorted(k for k in vars(fitted) if k.endswith("_") and not k.startswith("_")):
        if name not in {"net_", "augment_"}:
            assert type(getattr(loaded, name)) is type(getattr(fitted, name)), name


def test_conflicting_image_shape_is_refused_and_image_shape_stays_a_tuple(data, tmp_path):
    X, y = data
    X = np.hstack([X, X, X[:, :4]])  # 16 features: a 4x4 image
    est = SiameseEmbedder(**{**FAST, "image_shape": (4, 4)}).fit(X, y)
    path = tmp_path / "w.pt"
    save_weights(est, path)
    with pytest.raises(ValueError, match=r"image_shape='auto' \(saved \(4, 4\)\)"):
        load_weights(SiameseEmbedder(**FAST), path)
    loaded = load_weights(SiameseEmbedder(**{**FAST, "image_shape": [4, 4]}), path)
    assert loaded.image_shape_ == est.image_shape_ and type(loaded.image_shape_) is tuple
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_failed_load_leaves_the_estimator_as_it_was(fitted, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(fitted, path)
    # A wider encoder: the file's weights do not fit, found after the attributes are read.
    est = type(fitted)(**{**FAST, "encoder": MLPEncoder(hidden_sizes=(9,))})
    with pytest.raises(ValueError, match="does not match the weights of .*w.pt"):
        load_weights(est, path)
    assert not any(k.endswith("_") for k in vars(est))


# Parameters that define what a fitted model computes: load_weights refuses them different from the saved
# model's. Every parameter is here or in the estimators' _training_only_params, so that adding one means
# deciding which (a training-only parameter missing from the list once made load_weights refuse a file).
MODEL_PARAMS = {
    "encoder", "image_shape", "embedding_dim", "loss", "margin", "mining", "distance", "normalize",
    "head", "max_references_per_class", "prototypes", "outlier_label",
}  # fmt: skip


@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier], ids=lambda c: c.__name__)
def test_every_parameter_is_declared_training_only_or_model_defining(Estimator):
    params = set(Estimator._parameter_constraints)
    training_only = Estimator._training_only_params
    assert not training_only & MODEL_PARAMS
    assert params <= training_only | MODEL_PARAMS, sorted(params - training_only - MODEL_PARAMS)
