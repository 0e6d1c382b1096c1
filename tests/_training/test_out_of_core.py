"""uint8/float16/float32 arrays and memmaps: validated without a copy, converted batch by batch."""

import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_siamese import MLPEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese._training.checks import validate_input

FAST = dict(encoder=MLPEncoder(hidden_sizes=(16,)), max_epochs=2, batch_size=32, random_state=0, samples_per_epoch=256)


@pytest.fixture(scope="module")
def digits_uint8():
    X, y = load_digits(return_X_y=True)
    return X[:400].astype(np.uint8), y[:400]  # pixel values 0-16


def _memmap(tmp_path, X, dtype):
    mm = np.memmap(tmp_path / "X.bin", dtype=dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    return np.memmap(tmp_path / "X.bin", dtype=dtype, mode="r", shape=X.shape)


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32])
@pytest.mark.parametrize("estimator", [SiameseEmbedder, SiameseVerifier])
def test_compact_memmaps_give_the_float32_results(digits_uint8, tmp_path, dtype, estimator):
    # uint8 values are converted, not rescaled: identical to passing float32 values 0-16.
    X, y = digits_uint8
    reference = estimator(**FAST).fit(X.astype(np.float32), y)
    model = estimator(**FAST).fit(_memmap(tmp_path, X, dtype), y)
    np.testing.assert_array_equal(model.embed(_memmap(tmp_path, X, dtype)), reference.embed(X.astype(np.float32)))
    if estimator is SiameseVerifier:
        assert model.threshold_ == reference.threshold_
        np.testing.assert_array_equal(model.predict(X[:50]), reference.predict(X[:50].astype(np.float32)))


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32])
def test_validation_keeps_compact_input_without_a_copy(tmp_path, digits_uint8, dtype):
    # fit trains on batches indexed from the validated X: it must be the caller's memory.
    X, y = digits_uint8
    mm = _memmap(tmp_path, X, dtype)
    X_valid, _ = validate_input(SiameseEmbedder(), mm, y)
    assert X_valid.dtype == dtype and np.shares_memory(X_valid, mm)


def test_transform_converts_chunk_by_chunk():
    # numpy reports its allocations to tracemalloc: a float32 copy of X would show whole (32 MB).
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(32_000, 256), dtype=np.uint8)
    emb = SiameseEmbedder(encoder=MLPEncoder(hidden_sizes=(8,)), embedding_dim=4, max_epochs=1, random_state=0)
    emb.fit(X[:200], np.arange(200) % 4)
    tracemalloc.start()
    try:
        Z = emb.transform(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Z.shape == (len(X), 4)
    assert peak < X.size * 4 / 2  # about two 4096-row chunks (4 MB each) and the output


def test_memmap_of_another_dtype_is_converted_whole(tmp_path, digits_uint8):
    # float64 memmaps (scikit-learn's check_readonly_memmap_input passes them)
    # are converted in memory, giving the same model as the in-memory array.
    X, y = digits_uint8
    from_memmap = SiameseEmbedder(**FAST).fit(_memmap(tmp_path, X, np.float64), y)
    in_memory = SiameseEmbedder(**FAST).fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(from_memmap.transform(X), in_memory.transform(X))
    np.testing.assert_array_equal(from_memmap.transform(_memmap(tmp_path, X, np.int32)), in_memory.transform(X))
    X_valid, _ = validate_input(SiameseEmbedder(), _memmap(tmp_path, X, np.float64), y)
    assert X_valid.dtype == np.float32


def test_unsupported_dtypes_get_clear_errors():
    with pytest.raises(ValueError, match="Complex data not supported"):
        SiameseEmbedder(**FAST).fit(np.ones((20, 3), dtype=np.complex64), np.arange(20) % 2)
    with pytest.raises(ValueError, match="X must hold numbers only"):
        SiameseEmbedder(**FAST).fit(np.array([["a", "b"]] * 20), np.arange(20) % 2)


def test_float16_infinity_is_reported():
    X = np.ones((40, 4), dtype=np.float16)
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        SiameseEmbedder(**FAST).fit(X, np.arange(40) % 4)


# ------------------------------------------------- pages of a memory-mapped X
@pytest.mark.parametrize("mode", ["r", "c"])
def test_memmap_pages_are_released_as_fit_and_transform_read_them(digits_uint8, tmp_path, monkeypatch, mode):
    import sklearn_siamese._training.out_of_core as out_of_core

    X, y = digits_uint8
    released = []
    monkeypatch.setattr(out_of_core, "RELEASE_EVERY_BYTES", 4096)
    monkeypatch.setattr(out_of_core.MappedPages, "_release", lambda self: released.append(self._mmap) or self._mmap.madvise(out_of_core.mmap.MADV_DONTNEED))
    _memmap(tmp_path, X, np.uint8)
    mm = np.memmap(tmp_path / "X.bin", dtype=np.uint8, mode=mode, shape=X.shape)
    model = SiameseEmbedder(**FAST).fit(mm, y)
    E = model.transform(mm)
    if mode == "r":
        assert len(released) > 10  # training batches and inference blocks both release
    else:
        assert released == []  # a copy-on-write mapping would lose rows written to it
    # Released pages are read back from the file: the results are those of the array in memory.
    np.testing.assert_array_equal(E, SiameseEmbedder(**FAST).fit(X, y).transform(X))
