import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything():
    """Seed numpy and torch so tests do not depend on their order."""
    np.random.seed(0)
    torch.manual_seed(0)
    yield
