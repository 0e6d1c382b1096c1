"""Peak memory of SiameseEmbedder(encoder="mlp", max_epochs=1).fit + transform on a uint8 memmap.

The MLP keeps the encoder's own activations small, so the number is about
copies of the data (encoder="auto" would pick a conv net for 28x28 rows,
whose activations on a 4096-row inference chunk alone take ~400 MB).

Writes ``n`` random 28x28 uint8 images with 10 labels to a memmap file, then
runs fit + transform in a fresh Python process per input kind and reports
how far the process's peak resident memory (``ru_maxrss``) rose during
fit + transform above the resident memory just before ``fit`` (after the
imports and opening the data). Pages of the memmap that were read count
as resident, so reading the whole file once adds its size.

    python benchmarks/out_of_core.py                 # 200,000 images (157 MB)
    python benchmarks/out_of_core.py --kinds "uint8 memmap" "float32 array"
    python benchmarks/out_of_core.py --quick         # 20,000 images
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common

SIDE = 28

CHILD = """
import json, resource, sys, time
import numpy as np
from sklearn_siamese import SiameseEmbedder
path, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
X = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, {d}))
y = np.arange(n) % 10
if kind == "float32 array":
    X = np.asarray(X, dtype=np.float32)  # the whole array converted up front
# Resident now, not the peak so far: an import's passing peak must not hide fit's growth.
with open("/proc/self/status") as status:
    before = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
start = time.perf_counter()
Z = SiameseEmbedder(encoder="mlp", max_epochs=1, random_state=0).fit(X, y).transform(X)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(added_mb=(peak - before) / 1024, held_mb=before / 1024, seconds=seconds, shape=Z.shape)))
"""


def measure(path, n, kind):
    """Run fit + transform in a fresh interpreter; return its measurements."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(d=SIDE * SIDE), str(path), str(n), kind],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument(
        "--kinds", nargs="+", default=["uint8 memmap"], choices=["uint8 memmap", "float32 array"],
        help="inputs to measure; 'float32 array' converts the memmap whole first, for comparison",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 images")
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else args.n_samples
    kinds = args.kinds
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.u8"
        rng = np.random.default_rng(0)
        X = np.memmap(path, dtype=np.uint8, mode="w+", shape=(n, SIDE * SIDE))
        for start in range(0, n, 10_000):
            X[start : start + 10_000] = rng.integers(0, 256, size=X[start : start + 10_000].shape, dtype=np.uint8)
        X.flush()
        del X
        for kind in kinds:
            results[kind] = measure(path, n, kind)
    size_mb = n * SIDE * SIDE / 2**20
    print(f"# Out-of-core input: {n:,} uint8 {SIDE}x{SIDE} images ({size_mb:.0f} MiB on disk)\n")
    print(_common.machine_info() + "\n")
    rows = [
        [kind, f"{r['added_mb']:.0f}", f"{r['held_mb']:.0f}", f"{r['seconds']:.1f}"] for kind, r in results.items()
    ]
    print(_common.table(["input", "peak memory added by fit + transform (MiB)", "held before (MiB)", "wall (s)"], rows))
    return results


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - t:.0f} s)")
