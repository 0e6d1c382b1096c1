"""samples_per_epoch: training length that does not collapse on small data."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese._training.data import MAX_PASSES_PER_EPOCH, MIN_SAMPLES_PER_EPOCH

FAST = dict(encoder=MLPEncoder(hidden_sizes=(16,)), max_epochs=1, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return (X[:200] / 16.0).astype(np.float32), y[:200]


def steps_run(estimator):
    return len(estimator.history_[-1, "batches"])


@pytest.mark.parametrize("cls", [SiameseEmbedder, SiameseVerifier])
@pytest.mark.parametrize(
    "samples_per_epoch, steps", [("auto", -(-MAX_PASSES_PER_EPOCH * 200 // 32)), (200, 7), (32, 1), (1, 1)]
)
def test_samples_per_epoch_sets_the_steps(small, cls, samples_per_epoch, steps):
    X, y = small
    est = cls(samples_per_epoch=samples_per_epoch, validation_fraction=None, **FAST).fit(X, y)
    assert steps_run(est) == steps


@pytest.mark.parametrize("n, samples", [(100, 2000), (204, 4080), (205, MIN_SAMPLES_PER_EPOCH), (4000, MIN_SAMPLES_PER_EPOCH)])
def test_auto_is_at_most_twenty_passes_and_at_least_4096_samples(n, samples):
    rng = np.random.RandomState(0)
    X, y = rng.rand(n, 4).astype(np.float32), np.arange(n) % 5
    est = SiameseEmbedder(validation_fraction=None, **FAST).fit(X, y)
    assert steps_run(est) == -(-samples // 32)


def test_auto_is_one_pass_on_large_data():
    rng = np.random.RandomState(0)
    n = MIN_SAMPLES_PER_EPOCH + 1000
    X, y = rng.rand(n, 4).astype(np.float32), rng.randint(0, 20, n)
    est = SiameseEmbedder(validation_fraction=None, **{**FAST, "batch_size": 512}).fit(X, y)
    assert steps_run(est) == -(-n // 512)


@pytest.mark.parametrize("value", [0, -5, 2.5, "all"])
def test_bad_samples_per_epoch(small, value):
    X, y = small
    with pytest.raises(ValueError, match="The 'samples_per_epoch' parameter of SiameseEmbedder must be"):
        SiameseEmbedder(samples_per_epoch=value, **FAST).fit(X, y)
