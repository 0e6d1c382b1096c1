"""The benchmark scripts' --quick modes, so they never rot."""

import importlib.util
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speed_run():
    import io
    from contextlib import redirect_stdout

    import torch

    speed = _load("speed")
    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            results = speed.main(["--quick", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    return out.getvalue(), results


def test_speed_quick(speed_run):
    text, results = speed_run
    for heading in ("Training overhead", "Comparisons per second", "Inference", "Peak memory", "Growth with n"):
        assert f"## {heading}" in text
    assert "Machine: CPU:" in text and "torch threads: 1" in text
    separators = [line for line in text.splitlines() if line.startswith("|---|")]
    assert len(separators) == 5  # one markdown table per section
    for encoder in ("mlp", "conv"):
        overhead = results["overhead"][encoder]
        assert math.isfinite(overhead["ratio"]) and overhead["ratio"] > 0
        # The plain loop replays the same batches from the same initial
        # weights, so the two trainings must agree, step for step.
        assert overhead["steps_plain"] == overhead["steps_fit"]
        assert overhead["max_abs_diff"] < 1e-5
    for call in ("fit", "transform"):
        assert 0 <= results["memory"][call] < 3  # copies of X
