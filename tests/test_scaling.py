"""Scaling out: model search on joblib (loky) and Dask, data-parallel training.

The commands here are the ones in README.md, "Scaling out".
"""

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklearn_siamese import MLPEncoder, SiameseEmbedder

REPO = Path(__file__).resolve().parents[1]

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# Tiny settings: 8 fits per search must stay fast on 2 cores.
TINY = dict(
    encoder=MLPEncoder(hidden_sizes=(16,)),
    embedding_dim=8,
    max_epochs=3,
    # Small epochs: 8 fits per search, some in joblib or Dask workers.
    samples_per_epoch=250,
    batch_size=32,
    validation_fraction=None,
    random_state=0,
)
GRID = {"margin": [0.5, 1.0]}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:500] / 16).astype(np.float32), y[:500]


def _search(n_jobs):
    return GridSearchCV(SiameseEmbedder(**TINY), GRID, cv=2, n_jobs=n_jobs)


def _results(search):
    keys = ["split0_test_score", "split1_test_score", "mean_test_score"]
    return {k: search.cv_results_[k] for k in keys}


@pytest.fixture(scope="module")
def serial_search(digits):
    return _search(n_jobs=1).fit(*digits)


@pytest.mark.slow
def test_grid_search_loky_matches_serial(digits, serial_search):
    """n_jobs=2 on joblib's default (loky) backend gives the serial results."""
    search = _search(n_jobs=2).fit(*digits)
    for key, expected in _results(serial_search).items():
        assert_array_equal(search.cv_results_[key], expected, err_msg=key)
    assert search.best_params_ == serial_search.best_params_
    X, _ = digits
    assert_array_equal(search.best_estimator_.transform(X), serial_search.best_estimator_.transform(X))
    # The scores are computed, not defaults: accuracies in (0, 1], different for the two margins.
    scores = serial_search.cv_results_["mean_test_score"]
    assert ((0 < scores) & (scores <= 1)).all() and len(set(scores)) > 1

    # The same loky workers: joblib limits each to cpu_count // n_jobs threads
    # (OMP_NUM_THREADS in the worker), which torch follows, so 2 workers do
    # not oversubscribe 2 cores.
    threads = joblib.Parallel(n_jobs=2)(joblib.delayed(torch.get_num_threads)() for _ in range(4))
    assert max(threads) <= max(1, joblib.cpu_count() // 2)


@pytest.mark.slow
def test_grid_search_dask_matches_serial(digits, serial_search):
    """The same search on a local Dask cluster of 2 worker processes (loopback only)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in client.scheduler_info()["workers"])
        with joblib.parallel_backend("dask"):
            search = _search(n_jobs=-1).fit(*digits)
        # Dask's nanny starts workers with OMP_NUM_THREADS=1.
        worker_threads = client.run(torch.get_num_threads)
    assert len(worker_threads) == 2
    assert set(worker_threads.values()) == {1}
    for key, expected in _results(serial_search).items():
        assert_array_equal(search.cv_results_[key], expected, err_msg=key)
    assert search.best_params_ == serial_search.best_params_


@pytest.fixture
def accelerate():
    """The accelerate module, with its process-wide state reset around the test.

    ``Accelerator`` keeps a singleton state: without the reset, an
    ``Accelerator()`` made after ``Accelerator(cpu=True)`` would stay on CPU.
    """
    accelerate = pytest.importorskip("accelerate")
    accelerate.state.AcceleratorState._reset_state(reset_partial_state=True)
    yield accelerate
    accelerate.state.AcceleratorState._reset_state(reset_partial_state=True)


def test_accelerator_single_process_matches_plain_fit(digits, capsys, accelerate):
    """One process: an Accelerator changes nothing in the result, places the model, stays quiet."""
    X, y = digits
    plain = SiameseEmbedder(**{**TINY, "validation_fraction": 0.2}).fit(X, y)
    accelerated = SiameseEmbedder(
        **{**TINY, "validation_fraction": 0.2}, accelerator=accelerate.Accelerator(cpu=True)
    ).fit(X, y)
    assert type(accelerated.net_).__name__ == "AcceleratedNet"
    assert accelerated.net_.device is None  # the accelerator placed the module
    assert capsys.readouterr().out == ""  # verbose=0 is honoured
    assert_array_equal(accelerated.transform(X), plain.transform(X))
    # Both refitted (the default): the validation runs match too.
    assert_array_equal(accelerated.validation_history_[:, "valid_loss"], plain.validation_history_[:, "valid_loss"])


class _FakeAccelerator:
    """Just what the samplers read from an Accelerator: the process layout."""

    device_placement = False

    def __init__(self, num_processes, process_index):
        self.num_processes = num_processes
        self.process_index = process_index


def test_each_process_draws_its_own_share_of_batches():
    """Under data parallelism each rank draws different P x K batches, half an epoch each."""
    y = np.repeat(np.arange(10), 20)
    rng_seed = 7

    def epoch(accelerator):
        est = SiameseEmbedder(batch_size=32, accelerator=accelerator)
        sampler = est._train_sampler(y, np.random.default_rng(rng_seed))
        return [np.sort(b) for b in sampler]

    single = epoch(None)
    rank0 = epoch(_FakeAccelerator(2, 0))
    rank1 = epoch(_FakeAccelerator(2, 1))
    assert len(rank0) == len(rank1) == -(-len(single) // 2)
    assert all(len(b) == 32 for b in rank0 + rank1)  # a full P x K batch per process
    assert not all(np.array_equal(a, b) for a, b in zip(rank0, rank1))
    # Deterministic per rank: the same seed and rank give the same batches.
    for a, b in zip(rank0, epoch(_FakeAccelerator(2, 0))):
        assert_array_equal(a, b)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def data_parallel_run(tmp_path_factory):
    """Run examples/data_parallel.py on 2 CPU processes (gloo) with torchrun."""
    pytest.importorskip("accelerate")
    out = tmp_path_factory.mktemp("ddp")
    # The caller's PYTHONPATH is kept after the repository's: the sabotage check reaches the workers.
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc-per-node=2", "--master-addr=127.0.0.1", f"--master-port={_free_port()}",
        str(REPO / "examples" / "data_parallel.py"), "--out", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


@pytest.mark.slow
def test_data_parallel_processes_end_with_identical_weights(data_parallel_run):
    rank0, rank1 = data_parallel_run
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert_array_equal(rank0["weights"], rank1["weights"])
    # Same weights and validation batches, so the same validation losses and
    # the same early-stopping decision in both processes.
    assert_array_equal(rank0["valid_loss"], rank1["valid_loss"])


@pytest.mark.slow
@pytest.mark.learns
def test_data_parallel_training_learns(data_parallel_run):
    for run in data_parallel_run:
        # Measured: the training loss falls by about half in 4 epochs (0.18 to 0.08); with weights
        # that never move it wanders by a few percent around its first value (tests/sabotage).
        assert run["train_loss"][-1] < 0.8 * run["train_loss"][0]
        assert run["valid_loss"].min() < 0.95 * run["valid_loss"][0]
        # 4-way one-shot on digits never seen in training: an accuracy (an untrained net scores 0.56).
        assert 0.25 <= run["one_shot_accuracy"] <= 1


@pytest.mark.slow
def test_data_parallel_mining_is_per_process(data_parallel_run):
    """The loss of each process sees only that process's batch: no gathered embeddings."""
    rank0, rank1 = data_parallel_run
    batch_size = 32
    for run in (rank0, rank1):
        assert set(run["rows"]) == {batch_size}  # not 2 x batch_size
        epochs = len(run["train_loss"])
        # Half of a one-process epoch (the example's samples_per_epoch=512) each.
        per_epoch = math.ceil(math.ceil(512 / batch_size) / 2)
        assert len(run["rows"]) == epochs * per_epoch
    # Different batches in the two processes (their own random streams).
    assert not np.array_equal(rank0["labels"], rank1["labels"])
    # Different batches, so different per-process training losses.
    assert not np.array_equal(rank0["train_loss"], rank1["train_loss"])


@needs_gpu
def test_cuda_fit_and_transform(digits):
    X, y = digits
    emb = SiameseEmbedder(**TINY, device="cuda").fit(X, y)
    assert next(emb.net_.module_.parameters()).device.type == "cuda"
    E = emb.transform(X)
    assert E.dtype == np.float32 and E.shape == (len(X), 8)
    assert emb.score(X, y) > 0.5


@needs_gpu
def test_cuda_accelerator_places_the_model(digits, accelerate):
    X, y = digits
    emb = SiameseEmbedder(**TINY, accelerator=accelerate.Accelerator()).fit(X, y)
    assert emb.net_.device is None
    assert next(emb.net_.module_.parameters()).device.type == "cuda"
    assert emb.score(X, y) > 0.5


@needs_gpu
def test_cuda_grid_search(digits):
    """A GPU search in one process (n_jobs=1: the GPU is the parallel resource)."""
    search = GridSearchCV(SiameseEmbedder(**TINY, device="cuda"), GRID, cv=2).fit(*digits)
    assert search.best_estimator_.score(*digits) > 0.5
    assert search.cv_results_["mean_test_score"].min() > 0.5
