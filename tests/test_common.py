"""scikit-learn's estimator checks on every estimator of the package."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import check_methods_subset_invariance, parametrize_with_checks

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.neighbors import ApproximateKNeighborsTransformer

# Fast constructor settings: the checks fit many times on tiny data.
FAST = dict(encoder=MLPEncoder(hidden_sizes=(16,)), max_epochs=3, batch_size=16, random_state=0, samples_per_epoch=64)

# index="auto" is the faiss HNSW search where faiss is installed, exact search elsewhere.
ESTIMATORS = [
    SiameseEmbedder(**FAST),
    # A loss with one learned weight vector per training class (the criterion has parameters).
    SiameseEmbedder(**FAST, loss="arcface"),
    SiameseVerifier(**FAST),
    # Open-set rejection on: training queries match themselves (every sample is
    # a reference), so the checks' predictions stay among classes_; -999 is a
    # label no check uses.
    SiameseVerifier(**FAST, outlier_label=-999),
    ApproximateKNeighborsTransformer(index="auto"),
    ApproximateKNeighborsTransformer(index="exact"),
]

# Checks expected to fail, per estimator name, each with its reason.
EXPECTED_FAILED_CHECKS = {
    "SiameseEmbedder": {},
    "SiameseVerifier": {},
}


# A numeric outlier_label among string classes is a TypeError, as in
# RadiusNeighborsClassifier (a number among string predictions is never equal
# to what a user compares them with); this check fits on string classes.
OUTLIER_LABEL_FAILED_CHECKS = {
    "check_classifiers_classes": "fits string classes, which a numeric outlier_label refuses with a TypeError "
    "(as RadiusNeighborsClassifier does)",
}


def _expected_failed_checks(estimator):
    if getattr(estimator, "outlier_label", None) is not None:
        return OUTLIER_LABEL_FAILED_CHECKS
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# --------------------------------------------- batch invariance at the defaults
# The fast settings above use a small MLP; the defaults pick a conv net on
# images (digits' 64 columns are 8x8), whose matrix-product kernels are chosen
# by the batch size. Inference embeds in blocks of one fixed shape, so a row
# gets the same result whatever else is in X.
@pytest.mark.parametrize("Estimator", [SiameseEmbedder, SiameseVerifier], ids=lambda c: c.__name__)
def test_methods_subset_invariance_at_the_defaults(Estimator):
    check_methods_subset_invariance(type(Estimator()).__name__, Estimator(max_epochs=2, random_state=0))


@pytest.fixture(scope="module")
def default_embedder():
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8) / 16  # images: the default picks the conv encoder
    return SiameseEmbedder(max_epochs=1, random_state=0).fit(X[:400], y[:400]), X[400:700]


def test_a_row_embeds_alike_alone_and_in_any_batch(default_embedder):
    emb, X = default_embedder
    full = emb.transform(X)
    rng = np.random.default_rng(0)
    for size in (1, 7, 16, 17, 130):
        idx = rng.choice(len(X), size, replace=False)
        # The contract is scikit-learn's subset invariance: float32 rounding at most.
        np.testing.assert_allclose(emb.transform(X[idx]), full[idx], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(emb.similarity(X[:5], X), emb.similarity(X)[:5], rtol=1e-5, atol=1e-6)
