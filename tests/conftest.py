import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed numpy and torch so tests do not depend on their order."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield



@pytest.fixture(scope="module")
def digits():
    """All 1,797 digits, pixels scaled to [0, 1] as float32 (a module may define a smaller ``digits``)."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture(scope="session", autouse=True)
def _one_pass_epochs():
    """Epochs of one pass over the data, so that the many tiny fits stay fast.

    samples_per_epoch="auto" draws at least 4096 samples an epoch, ten
    times a test's usual data. Session-scoped, so module-scoped fitted
    fixtures get it too; tests marked ``full_epochs`` restore the minimum.
    """
    from sklearn_siamese._training import data as _net_assembly

    minimum = _net_assembly.MIN_SAMPLES_PER_EPOCH
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_net_assembly, "MIN_SAMPLES_PER_EPOCH", 0)
        yield minimum


@pytest.fixture(autouse=True)
def _full_epochs(request, monkeypatch, _one_pass_epochs):
    if request.node.get_closest_marker("full_epochs") is not None:
        from sklearn_siamese._training import data as _net_assembly

        monkeypatch.setattr(_net_assembly, "MIN_SAMPLES_PER_EPOCH", _one_pass_epochs)
