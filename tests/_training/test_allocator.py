"""The allocator setting of CPU fits: glibc keeps freed memory while a fit trains, then gets it back."""

import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese._training import allocator
from sklearn_siamese._training.allocator import (
    AFTER_TRIM_THRESHOLD,
    M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD,
    MMAP_THRESHOLD,
    TRIM_THRESHOLD,
    reuse_freed_memory,
)

FAST = dict(image_shape=(8, 8), max_epochs=1, samples_per_epoch=256, random_state=0)


@pytest.fixture
def fake_glibc(monkeypatch):
    """Record the calls to mallopt and malloc_trim instead of making them."""
    calls = []
    monkeypatch.setattr(allocator, "_glibc", lambda: (lambda *a: calls.append(("mallopt", *a)) or 1,
                                                      lambda *a: calls.append(("malloc_trim", *a)) or 1))
    for name in ("SKLEARN_SIAMESE_TUNE_MALLOC", "LD_PRELOAD", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("MALLOC_")]:
        monkeypatch.delenv(name)
    return calls


SET = [("mallopt", M_MMAP_THRESHOLD, MMAP_THRESHOLD), ("mallopt", M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
RESTORE = [("mallopt", M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD), ("malloc_trim", 0)]


def test_sets_the_thresholds_and_gives_the_memory_back(fake_glibc):
    with reuse_freed_memory() as active:
        assert active and fake_glibc == SET
        with reuse_freed_memory():  # nested: only the outermost block sets and restores
            pass
        assert fake_glibc == SET
    assert fake_glibc == SET + RESTORE


def test_restores_when_the_block_raises(fake_glibc):
    with pytest.raises(RuntimeError), reuse_freed_memory():
        raise RuntimeError("interrupted")
    assert fake_glibc == SET + RESTORE


@pytest.mark.parametrize(
    "environ",
    [
        {"SKLEARN_SIAMESE_TUNE_MALLOC": "0"},
        {"SKLEARN_SIAMESE_TUNE_MALLOC": "off"},
        {"MALLOC_ARENA_MAX": "2"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
        {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
    ],
)
def test_a_tuned_or_opted_out_environment_is_left_alone(fake_glibc, environ):
    with reuse_freed_memory(environ) as active:
        assert not active
    assert fake_glibc == []


def test_another_c_library_is_left_alone(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    monkeypatch.delenv("SKLEARN_SIAMESE_TUNE_MALLOC", raising=False)
    with reuse_freed_memory({}) as active:
        assert not active


def test_real_glibc_calls_succeed():
    libc = allocator._glibc()
    if libc is None:
        pytest.skip("the C library is not glibc")
    mallopt, malloc_trim = libc
    assert mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1  # glibc returns 1 on success
    assert mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD) == 1
    malloc_trim(0)


def test_cpu_fit_runs_inside_it_and_changes_no_value(fake_glibc, monkeypatch):
    X, y = load_digits(return_X_y=True)
    X = (X[:300] / 16.0).astype(np.float32)
    tuned = SiameseEmbedder(**FAST).fit(X, y[:300])
    assert fake_glibc == SET + RESTORE  # the fit trained inside the block and left it
    monkeypatch.setenv("SKLEARN_SIAMESE_TUNE_MALLOC", "0")
    plain = SiameseEmbedder(**FAST).fit(X, y[:300])
    assert fake_glibc == SET + RESTORE  # opted out: no further call
    np.testing.assert_array_equal(tuned.transform(X), plain.transform(X))


def test_warm_start_runs_inside_it(fake_glibc):
    X, y = load_digits(return_X_y=True)
    X = (X[:300] / 16.0).astype(np.float32)
    model = SiameseEmbedder(**FAST, warm_start=True).fit(X, y[:300])
    model.set_params(max_epochs=2).fit(X, y[:300])
    assert fake_glibc == (SET + RESTORE) * 2
