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



# tests/sabotage holds a sitecustomize for the sabotage check, not tests.
collect_ignore = ["sabotage"]
