"""Peak memory of SiameseEmbedder(encoder="mlp", max_epochs=1).fit + transform on a uint8 memmap, and of the defaults.

The MLP keeps the encoder's own activations small, so the number is about
copies of the data (a conv net's activations come on top, whatever the
input's dtype).

Writes ``n`` random 28x28 uint8 images with 10 labels to a memmap file, then
runs each row in a fresh Python process and reports how far the process's
peak resident memory (``ru_maxrss``) rose during fit + transform above the
resident memory just before ``fit`` (after the imports and opening the
data), and the same for anonymous memory alone (``RssAnon``, sampled).
Pages of the memmap that were read count as resident, so reading the whole
file once adds its size. Rows: the package on the memmap; a hand-written
PyTorch loop (sharing no code with the package) on the same memmap, one
epoch and the same MLP, converting batch by batch; and the package on the
memmap converted whole to float32 first, which is what ``fit`` did before.

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
KINDS = ("uint8 memmap", "hand-written PyTorch, uint8 memmap", "float32 array", "SiameseEmbedder() default, uint8 memmap")
# The last kind fits the defaults for one epoch of 20,000 samples, then transforms every row.

CHILD = """
import json, resource, sys, threading, time
import numpy as np
path, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind.startswith("hand-written"):
    import torch
    from torch import nn
else:
    from sklearn_siamese import SiameseEmbedder
X = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, {d}))
y = np.arange(n) % 10
if kind == "float32 array":
    X = np.asarray(X, dtype=np.float32)  # the whole array converted up front


def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


# ru_maxrss has no anonymous-only twin: sample RssAnon (memory that is not
# the memmap's file pages, which the kernel can drop) every 5 ms.
peak_anon = [0]
def poll():
    while True:
        peak_anon[0] = max(peak_anon[0], status("RssAnon"))
        time.sleep(0.005)


def hand_written(X, y):
    # What a user writes by hand for data larger than memory: the same MLP as
    # encoder="mlp" (784-128-128-32), P x K batches of 64 gathered from the
    # memmap and converted to float32 one at a time, contrastive loss, Adam;
    # one pass over the data; then embeddings in chunks of 1,024 rows.
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(X.shape[1], 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    members = [np.flatnonzero(y == c) for c in np.unique(y)]
    for _ in range(len(X) // 64):
        classes = rng.choice(len(members), min(16, len(members)), replace=False)
        idx = np.sort(np.concatenate([rng.choice(members[c], 4) for c in classes]))
        xb = torch.from_numpy(np.asarray(X[idx], dtype=np.float32))
        yb = torch.from_numpy(y[idx])
        z = model(xb)
        d = torch.cdist(z, z)
        same = (yb[:, None] == yb[None, :]).float()
        loss = (same * d ** 2 + (1 - same) * torch.relu(1 - d) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = np.empty((len(X), 32), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(X), 1024):
            out[start : start + 1024] = model(torch.from_numpy(np.asarray(X[start : start + 1024], dtype=np.float32))).numpy()
    return out


# Resident now, not the peak so far: an import's passing peak must not hide fit's growth.
before, before_anon = status("VmRSS"), status("RssAnon")
peak_anon[0] = before_anon
threading.Thread(target=poll, daemon=True).start()
start = time.perf_counter()
fit_seconds = None
if kind.startswith("hand-written"):
    Z = hand_written(X, y)
elif kind.startswith("SiameseEmbedder() default"):
    # The defaults (conv encoder, affine distortions on images) for one epoch
    # of 20,000 samples: an epoch's length changes the time, not the memory.
    model = SiameseEmbedder(max_epochs=1, samples_per_epoch=20_000, random_state=0).fit(X, y)
    fit_seconds = time.perf_counter() - start
    Z = model.transform(X)
else:
    Z = SiameseEmbedder(encoder="mlp", max_epochs=1, random_state=0).fit(X, y).transform(X)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(added_mb=(peak - before) / 1024, added_anon_mb=(peak_anon[0] - before_anon) / 1024,
                      held_mb=before / 1024, seconds=seconds, shape=Z.shape,
                      transform_seconds=None if fit_seconds is None else seconds - fit_seconds)))
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
        "--kinds", nargs="+", default=list(KINDS), choices=list(KINDS),
        help="what to measure; 'float32 array' converts the memmap whole first, for comparison",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 images")
    _common.add_write_docs_argument(parser)
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
    rows = [
        [kind, f"{r['added_mb']:.0f}", f"{r['added_anon_mb']:.0f}", f"{r['held_mb']:.0f}", f"{r['seconds']:.1f}"]
        for kind, r in results.items()
    ]
    with _common.docs_report("out_of_core", "out_of_core.py", argv, args.write_docs):
        print(f"# Out-of-core input: {n:,} uint8 {SIDE}x{SIDE} images ({size_mb:.0f} MiB on disk)\n")
        print(_common.machine_info() + "\n")
        print(_common.table(["run", "peak memory added by fit + transform (MiB)", "of it, anonymous (MiB)",
                             "held before (MiB)", "wall (s)"], rows))
        print(
            "\nPeak resident memory above the resident memory just before training. It counts the memmap's "
            f"pages once read ({size_mb:.0f} MiB for the whole file), which the kernel can drop, and "
            "torch's one-off set-up of its kernels and threads on the first training step (about 85 MiB "
            "on this machine); 'anonymous' leaves out file pages (sampled every 5 ms). "
            "The hand-written row shares no code with the package."
        )
    return results


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"\n(total {time.perf_counter() - t:.0f} s)")
