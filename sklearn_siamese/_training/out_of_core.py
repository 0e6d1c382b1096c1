"""Input kept in its own compact form and converted to float32 one batch at a time.

uint8, float16 and float32 arrays, ``np.memmap`` included, are validated
without a copy; training batches and inference chunks are converted to
float32 as they are used, so X is never held whole as float32. Values are
converted, not rescaled: uint8 pixels become 0.0-255.0, exactly what
converting X up front gave, so results do not depend on the input dtype.
Sparse matrices (CSR, e.g. ``TfidfVectorizer``'s output) are densified
the same way, one batch at a time: never whole.
"""

import mmap
import warnings

import numpy as np
import scipy.sparse as sp
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


def dense_rows(rows, dtype=np.float32):
    """Rows of X (an array, a memmap or a sparse matrix) as a dense ndarray of ``dtype``."""
    if sp.issparse(rows):
        return rows.toarray().astype(dtype, copy=False)
    return np.asarray(rows, dtype=dtype)


def float_batch(batch):
    """A batch (tensor, array or sparse matrix) as float32, converting only when needed."""
    if isinstance(batch, torch.Tensor):
        return batch if batch.dtype == torch.float32 else batch.float()
    return dense_rows(batch)


def as_tensor(X):
    """Share a numpy array's memory as a tensor (read-only arrays too: we never write)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(X))


# Bytes of a memory-mapped X mapped between two releases of its pages.
RELEASE_EVERY_BYTES = 16 * 2**20
# What one read of a row may map: the kernel maps the pages around a fault,
# a whole large folio of the page cache where the file system uses them (up
# to 2 MiB), so rows gathered at random map far more than their own bytes:
# a training batch is released as soon as it is read.
FAULT_AROUND_BYTES = 2 * 2**20


class MappedPages:
    """Keeps the pages of a memory-mapped X out of this process's resident memory.

    Every page of a ``np.memmap`` that a batch reads stays mapped, so after
    an epoch or a ``transform`` the whole file counts in the process's
    resident memory. ``read(nbytes)`` counts the bytes read and, every
    ``RELEASE_EVERY_BYTES``, unmaps the pages (``madvise(MADV_DONTNEED)``):
    the file's data stays in the kernel's page cache, which may drop it
    under memory pressure, and the next read maps it back from there. Only
    shared or read-only mappings are released: a copy-on-write mapping
    (``mode="c"``) would lose the rows written to it.
    """

    def __init__(self, X):
        self._mmap = None
        # X may be a view of the np.memmap (validation returns a plain ndarray
        # sharing its memory): follow the bases to the mapping.
        mode, base = None, X
        while base is not None and self._mmap is None:
            if isinstance(base, np.memmap):
                mode = base.mode
            if isinstance(base, mmap.mmap):
                self._mmap = base
            base = getattr(base, "base", None)
        if mode not in ("r", "r+", "w+") or not hasattr(mmap, "MADV_DONTNEED"):
            self._mmap = None
        self._read = 0

    def read(self, nbytes, n_reads=1):
        """Count ``n_reads`` reads of ``nbytes`` in all (each maps at least the fault-around window)."""
        if self._mmap is None:
            return
        self._read += max(nbytes, n_reads * FAULT_AROUND_BYTES)
        if self._read >= RELEASE_EVERY_BYTES:
            self._read = 0
            try:
                self._release()
            except (OSError, ValueError):  # closed, or refused by the platform: keep the pages
                self._mmap = None

    def _release(self):
        self._mmap.madvise(mmap.MADV_DONTNEED)
