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


def test_unseen_classes_quick(capsys):
    _load("unseen_classes").main(["--quick"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "method" not in line]
    assert [r.split("|")[1].strip() for r in rows] == ["raw pixels", "PCA (32)", "NCA (32)", "Embedder contrastive/all"]
    for row in rows:
        values = [float(v) for v in row.strip("|").split("|")[1:5]]
        assert all(0.0 <= v <= 1.0 for v in values)


def test_omniglot_quick_on_a_tiny_fake_archive(tmp_path, capsys):
    """The script reads two zips of ALPHABET/characterNN/*.png, as the real data."""
    import zipfile

    import numpy as np
    from PIL import Image

    rng = np.random.RandomState(0)
    for part, alphabets in ((1, ["Alpha", "Beta", "Gamma"]), (2, ["Delta", "Epsilon"])):
        with zipfile.ZipFile(tmp_path / f"images_background_small{part}.zip", "w") as zf:
            for alphabet in alphabets:
                for c in range(4):
                    base = rng.rand(12, 12) > 0.7
                    for k in range(3):
                        noisy = base ^ (rng.rand(12, 12) > 0.95)
                        img = Image.fromarray(np.where(noisy, 0, 255).astype(np.uint8))
                        path = tmp_path / "img.png"
                        img.save(path)
                        zf.write(path, f"images_background_small{part}/{alphabet}/character{c:02d}/{k}.png")
    results = _load("omniglot").main(
        ["--data", str(tmp_path), "--quick", "--held-out", "Delta", "Epsilon", "--n-way", "3", "--size", "12"]
    )
    out = capsys.readouterr().out
    assert "Delta error %" in out and len(results) == 4
    assert all(0.0 <= r["error"] <= 1.0 for r in results)
