"""Sparse X (a TfidfVectorizer's output): densified one batch at a time, never whole."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from torch import nn

from sklearn_siamese import KochEncoder, MLPEncoder, SiameseEmbedder, SiameseVerifier

FAST = dict(encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=3, batch_size=32, random_state=0)

TOPICS = [
    "cat dog pet fur paw kitten puppy leash",
    "car road wheel engine drive brake fuel lane",
    "rain sun cloud wind storm snow forecast frost",
    "goal team ball match score referee league coach",
    "code bug test compile debug commit merge branch",
    "bread oven flour bake yeast dough crust loaf",
    "river boat fish net shore tide harbour sail",
    "piano song chord melody rhythm choir violin drum",
]
FILLER = "the a and of in on with very some then".split()


def make_texts(n_per_topic, seed):
    """Short documents: eight words of one topic among filler words, labelled by topic."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, topic in enumerate(TOPICS):
        words = topic.split()
        for _ in range(n_per_topic):
            texts.append(" ".join(rng.permutation(list(rng.choice(words, 5)) + list(rng.choice(FILLER, 5)))))
            labels.append(label)
    return texts, np.array(labels)


@pytest.fixture(scope="module")
def tfidf():
    texts, y = make_texts(30, seed=0)
    return TfidfVectorizer().fit_transform(texts), y


def test_pipeline_tfidf_embedder_knn_runs_end_to_end():
    texts, y = make_texts(30, seed=0)
    test_texts, y_test = make_texts(10, seed=1)
    pipe = Pipeline(
        [
            ("tfidf", TfidfVectorizer()),
            ("embed", SiameseEmbedder(max_epochs=5, random_state=0)),
            ("knn", KNeighborsClassifier(1)),
        ]
    )
    pipe.fit(texts, y)
    assert pipe["embed"].image_shape_ is None  # "auto" chose the MLP for sparse rows
    assert isinstance(pipe["embed"].net_.module_.encoder, nn.Sequential)
    assert pipe.score(test_texts, y_test) > 0.9


def test_a_float64_csr_matrix_is_not_copied(tfidf):
    from sklearn_siamese._training.checks import validate_input

    X, _ = tfidf
    assert X.dtype == np.float64  # as TfidfVectorizer gives it
    checked = validate_input(SiameseEmbedder(), X)
    assert sp.issparse(checked) and np.shares_memory(checked.data, X.data)


def test_sparse_and_dense_rows_embed_alike(tfidf):
    X, y = tfidf
    emb = SiameseEmbedder(**FAST).fit(X, y)
    E = emb.transform(X)
    np.testing.assert_allclose(emb.transform(X.toarray()), E, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.transform(X.tocsc()), E, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.embed(sp.coo_matrix(X)), E, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.similarity(X[:5], X), emb.similarity(X)[:5], rtol=1e-5, atol=1e-6)
    assert 0 <= emb.score(X, y) <= 1


def test_fit_on_sparse_and_on_dense_rows_train_alike(tfidf):
    X, y = tfidf
    sparse = SiameseEmbedder(**FAST).fit(X, y)
    dense = SiameseEmbedder(**FAST).fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.transform(X), dense.transform(X), rtol=1e-4, atol=1e-5)
    assert sparse.validation_score_ == pytest.approx(dense.validation_score_)
    assert sparse.baseline_score_ == pytest.approx(dense.baseline_score_)


def test_verifier_references_and_calibration_on_sparse_rows(tfidf):
    X, y = tfidf
    ver = SiameseVerifier(**FAST).fit(X, y)
    dense = SiameseVerifier(**FAST).fit(X.toarray(), y)
    assert ver.threshold_ == pytest.approx(dense.threshold_, abs=1e-6)
    np.testing.assert_allclose(ver.predict_proba(X[:10]), dense.predict_proba(X[:10].toarray()), atol=1e-6)
    ver.fit_references(X[::15], y[::15])
    assert ver.predict(X).shape == (X.shape[0],)
    assert ver.decision_function(X[:4]).shape == (4, len(np.unique(y)))


def test_rows_are_densified_one_batch_at_a_time(monkeypatch):
    # 2,000 rows: more than a training batch and than an inference block (1,024 rows at most).
    rng = np.random.default_rng(0)
    X = sp.random(2000, 3000, density=0.002, format="csr", random_state=0, dtype=np.float32)
    y = rng.integers(0, 20, 2000)
    densified = []
    toarray = sp.csr_matrix.toarray

    def counting_toarray(self, *args, **kwargs):
        densified.append(self.shape[0])
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", counting_toarray)
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 1, "validation_fraction": 0.2}).fit(X, y)
    # Training batches of batch_size rows, validation rows embedded in blocks of at most 1,024.
    assert FAST["batch_size"] in densified and max(densified) <= 1024
    densified.clear()
    emb.transform(X)
    assert max(densified) <= 1024 and sum(densified) == X.shape[0] + 2  # + the two-row probe


@pytest.mark.parametrize(
    "params, match",
    [
        ({"encoder": "conv"}, r"X is a sparse matrix, but encoder='conv' reads rows as images"),
        ({"encoder": KochEncoder()}, r"X is a sparse matrix, but encoder=KochEncoder\(\) reads rows as images"),
        ({"image_shape": (2, 2)}, r"X is a sparse matrix, which holds no images, but image_shape=\(2, 2\)"),
        ({"rotation_classes": True}, r"rotation_classes=True rotates images, and X is a sparse matrix"),
    ],
)
def test_image_settings_refuse_sparse_rows(params, match):
    X = sp.random(40, 4, density=0.5, format="csr", random_state=0)
    y = np.repeat(np.arange(4), 10)
    with pytest.raises(ValueError, match=match):
        SiameseEmbedder(**{**FAST, **params}).fit(X, y)


def test_backbone_encoder_refuses_sparse_rows():
    from sklearn_siamese.encoders import BackboneEncoder

    X = sp.random(40, 64, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match="X is a sparse matrix, but encoder=BackboneEncoder"):
        SiameseEmbedder(BackboneEncoder(weights=None)).fit(X, np.repeat(np.arange(4), 10))


def test_square_number_of_sparse_columns_is_not_read_as_images():
    # 64 columns would be read as 8x8 images (with a warning) if X were dense.
    X = sp.random(80, 64, density=0.3, format="csr", random_state=0)
    emb = SiameseEmbedder(max_epochs=1, random_state=0).fit(X, np.repeat(np.arange(8), 10))
    assert emb.image_shape_ is None and emb.augment_ is None


def test_warm_start_continues_on_sparse_rows(tfidf):
    X, y = tfidf
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 1, "warm_start": True}).fit(X, y)
    emb.set_params(max_epochs=2).fit(X, y)
    assert emb.n_epochs_ == 2
