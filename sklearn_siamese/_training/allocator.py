"""glibc's allocator during CPU training: reuse freed activation memory instead of faulting it in again.

A training step allocates and frees the same large activation tensors
every step. With its default settings glibc's ``malloc`` serves large
blocks with fresh pages from the kernel (``mmap``) and hands free memory
at the top of its heap back to the kernel, so every step takes a page
fault for each 4 KiB of every large tensor again. On the conv-4 net at
28x28 in float32 that was a quarter to a third of a step on a 2-core AMD
EPYC (``benchmarks/allocator.py`` measures it side by side).

:func:`reuse_freed_memory` wraps a CPU fit: it serves blocks up to 32 MiB
(glibc's largest mmap threshold on 64-bit) from the heap and keeps up to
1 GiB of free heap instead of trimming it; on leaving it sets the trim
threshold to 64 MiB and returns the free memory to the kernel
(``malloc_trim``), so the process holds no more memory after ``fit``
than before. Setting a threshold turns glibc's dynamic thresholds off for
the rest of the process, so what stays is the state glibc's own rule
reaches after freeing a 32 MiB block: an mmap threshold of 32 MiB and a
trim threshold of twice that. (glibc's default trim threshold, 128 KiB,
beside a 32 MiB mmap threshold would give blocks of the heap back and
fault them in again on every allocation, slower than either.)
Nothing changes where the C library is not glibc, where the user tuned
the allocator (``MALLOC_*`` or ``GLIBC_TUNABLES`` in the environment, or an
allocator preloaded with ``LD_PRELOAD``), or with
``SKLEARN_SIAMESE_TUNE_MALLOC=0``. The allocator changes where memory comes
from, never a computed value.
"""

import contextlib
import ctypes
import os
import platform
import threading

import torch

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
# What glibc's dynamic rule sets beside its largest mmap threshold.
AFTER_TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
TRIM_THRESHOLD = 1024 * 1024 * 1024
OPT_OUT = "SKLEARN_SIAMESE_TUNE_MALLOC"

_lock = threading.Lock()
_depth = 0


def _user_tuned(environ):
    return (
        environ.get(OPT_OUT, "1").strip().lower() in {"0", "false", "no", "off"}
        or any(name.startswith("MALLOC_") for name in environ)
        or "malloc" in environ.get("GLIBC_TUNABLES", "")
        or bool(environ.get("LD_PRELOAD", "").strip())
    )


def _glibc():
    """glibc's ``mallopt`` and ``malloc_trim``, or None where the C library is another."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt, malloc_trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    malloc_trim.argtypes, malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return mallopt, malloc_trim


@contextlib.contextmanager
def reuse_freed_memory(environ=None):
    """Keep freed heap memory for reuse while the block runs (nested and threaded uses count)."""
    global _depth
    libc = None if _user_tuned(os.environ if environ is None else environ) else _glibc()
    if libc is None:
        yield False
        return
    mallopt, malloc_trim = libc
    with _lock:
        if _depth == 0:
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                malloc_trim(0)


def while_training_on(device):
    """:func:`reuse_freed_memory` where training runs on the CPU; a context that does nothing elsewhere."""
    if torch.device(device).type == "cpu":
        return reuse_freed_memory()
    return contextlib.nullcontext(False)
