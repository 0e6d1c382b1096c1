"""Input kept in its own compact dtype and converted to float32 one batch at a time.

uint8, float16 and float32 arrays, ``np.memmap`` included, are validated
without a copy; training batches and inference chunks are converted to
float32 as they are used, so X is never held whole as float32. Values are
converted, not rescaled: uint8 pixels become 0.0-255.0, exactly what
converting X up front gave, so results do not depend on the input dtype.
"""

import warnings

import numpy as np
import torch

# Dtypes read batch by batch; every other dtype is converted to float32 whole.
COMPACT_DTYPES = (np.dtype(np.uint8), np.dtype(np.float16), np.dtype(np.float32))


def is_compact(X, name="X"):
    """Whether X is an ndarray (or memmap) that stays in its dtype until batched.

    Arrays and memmaps of any other dtype (float64 among them, which is what
    scikit-learn's own checks pass) are converted to float32 whole, as any
    array is: only the three compact dtypes are read batch by batch.
    """
    return isinstance(X, np.ndarray) and X.dtype in COMPACT_DTYPES


def float_batch(batch):
    """A batch (tensor or array) as float32, converting only when needed."""
    if isinstance(batch, torch.Tensor):
        return batch if batch.dtype == torch.float32 else batch.float()
    return np.asarray(batch, dtype=np.float32)


def as_tensor(X):
    """Share a numpy array's memory as a tensor (read-only arrays too: we never write)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))
