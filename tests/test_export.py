"""ONNX export: onnxruntime reproduces transform and pair_score (skipped without the extra ``onnx``)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.export import export_encoder, export_pair_scorer

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

FAST = dict(max_epochs=2, batch_size=32, random_state=0, samples_per_epoch=256)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_encoder_matches_transform_for_any_batch_size(digits, tmp_path):
    # The conv encoder reshapes rows to images: the hardest case for a dynamic batch axis.
    X, y = digits
    emb = SiameseEmbedder(encoder=ConvEncoder(input_shape=(8, 8), channels=(4, 8)), **FAST).fit(X, y)
    path = tmp_path / "encoder.onnx"
    export_encoder(emb, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 7, 300):  # the batch axis is dynamic
        Z = session.run(["embedding"], {"X": X[:batch]})[0]
        assert Z.shape == (batch, emb.embedding_dim_)
        np.testing.assert_allclose(Z, emb.transform(X[:batch]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["contrastive+bce", "bce", "contrastive"])
@pytest.mark.slow
def test_pair_scorer_matches_verifier_pair_score(digits, loss):
    X, y = digits
    ver = SiameseVerifier(encoder=MLPEncoder(hidden_sizes=(32,)), loss=loss, **FAST).fit(X, y)
    session = _session(export_pair_scorer(ver))
    X1, X2 = X[:50], X[50:100]
    score = session.run(["score"], {"X1": X1, "X2": X2})[0]
    expected = ver.pair_score(np.stack([X1, X2], axis=1))
    np.testing.assert_allclose(score, expected, rtol=1e-5, atol=1e-5)
    assert 0 < expected.min() < expected.max() < 1  # real probabilities were compared, not constants


def test_embedder_pair_scorer_is_negated_distance(digits):
    X, y = digits
    emb = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(32,)), **FAST).fit(X, y)
    score = _session(export_pair_scorer(emb)).run(["score"], {"X1": X[:20], "X2": X[20:40]})[0]
    np.testing.assert_allclose(score, emb.pair_score(np.stack([X[:20], X[20:40]], axis=1)), rtol=1e-5, atol=1e-5)


def test_export_refuses_unfitted_and_pipelines(digits):
    from sklearn.exceptions import NotFittedError
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with pytest.raises(NotFittedError):
        export_encoder(SiameseEmbedder())
    X, y = digits
    pipe = make_pipeline(StandardScaler(), SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(8,)), max_epochs=1)).fit(X, y)
    with pytest.raises(TypeError, match="pipeline"):
        export_encoder(pipe)


@pytest.mark.slow
def test_export_logs_nothing_about_torchvision(digits, capfd, caplog):
    # torch's exporter logs a warning per torchvision operator when torchvision is missing.
    X, y = digits
    emb = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(8,)), **FAST).fit(X, y)
    capfd.readouterr()
    export_encoder(emb)
    export_pair_scorer(emb)
    assert "torchvision" not in capfd.readouterr().err + caplog.text


def test_user_module_fed_images_exports_for_flat_rows(digits):
    # The module receives (batch, 1, 8, 8) through a forward pre-hook; the exported model takes rows.
    from torch import nn

    X, y = digits
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 8))
    emb = SiameseEmbedder(net, **FAST).fit(X.reshape(-1, 8, 8), y)
    session = _session(export_encoder(emb))
    Z = session.run(None, {session.get_inputs()[0].name: X[:7]})[0]
    np.testing.assert_allclose(Z, emb.transform(X[:7]), atol=1e-5)
