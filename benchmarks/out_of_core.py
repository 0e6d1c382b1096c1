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

With ``--sparse`` it measures sparse input instead: a TF-IDF-like CSR
matrix (Zipf-distributed terms, ``TfidfTransformer``'s weights, float64 as
``TfidfVectorizer`` gives) of 200,000 documents x 50,000 terms, which would
be 37 GiB dense as float32, fitted and transformed by
``SiameseEmbedder(encoder="mlp", max_epochs=1)``, which densifies one batch
at a time. The report sets the peak beside what has to be held: one dense
training batch, one dense inference block, the network with its gradients
and Adam's state, and the embeddings.

    python benchmarks/out_of_core.py                 # 200,000 images (157 MB)
    python benchmarks/out_of_core.py --kinds "uint8 memmap" "float32 array"
    python benchmarks/out_of_core.py --quick         # 20,000 images
    python benchmarks/out_of_core.py --sparse        # 200,000 x 50,000 TF-IDF rows
    python benchmarks/out_of_core.py --sparse --quick   # 20,000 x 50,000
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import _common

SIDE = 28
KINDS = ("uint8 memmap", "hand-written PyTorch, uint8 memmap", "float32 array", "SiameseEmbedder() default, uint8 memmap")
# The last kind fits the defaults for one epoch of 20,000 samples, then transforms every row.
SPARSE_KIND = "sparse TF-IDF CSR, encoder='mlp'"
N_TERMS = 50_000
TERMS_PER_DOCUMENT = 80  # drawn with repetition: about 70 distinct terms a row

CHILD = """
import json, resource, sys, threading, time
import numpy as np
path, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if kind.startswith("hand-written"):
    import torch
    from torch import nn
else:
    from sklearn_siamese import SiameseEmbedder
if kind.startswith("sparse"):
    import scipy.sparse as sp
    X = sp.load_npz(path)  # float64 CSR, as TfidfVectorizer returns it
else:
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


def write_tfidf(path, n, n_terms, seed=0):
    """A TF-IDF-like CSR matrix: Zipf-distributed term counts, weighted and normalised by TfidfTransformer."""
    from sklearn.feature_extraction.text import TfidfTransformer

    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(n_terms) + 10.0)  # Zipf's law, flattened for the most frequent terms
    terms = rng.choice(n_terms, size=(n, TERMS_PER_DOCUMENT), p=p / p.sum())
    rows = np.repeat(np.arange(n), TERMS_PER_DOCUMENT)
    counts = sp.csr_matrix((np.ones(rows.size), (rows, terms.ravel())), shape=(n, n_terms))
    counts.sum_duplicates()
    X = TfidfTransformer().fit_transform(counts)
    sp.save_npz(path, X, compressed=False)
    return X.nnz, X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


def sparse_report(n, results, nnz, csr_bytes):
    """The sparse row set beside what fit and transform have to hold."""
    mib = 2**20
    batch, dim, hidden = 64, 32, 128  # SiameseEmbedder's batch_size, embedding size, MLP widths
    n_params = N_TERMS * hidden + hidden + hidden * hidden + hidden + hidden * dim + dim
    held = {
        "one dense training batch (64 rows, float32)": batch * N_TERMS * 4,
        "one dense inference block (16 MiB by design)": 16 * mib,
        "MLP weights + gradients + Adam's two moments": 4 * n_params * 4,
        f"embeddings ({n:,} x {dim}, float32)": n * dim * 4,
    }
    r = results[SPARSE_KIND]
    print(f"# Sparse input: {n:,} x {N_TERMS:,} TF-IDF rows ({nnz:,} non-zeros)\n")
    print(_common.machine_info() + "\n")
    print(_common.table(
        ["run", "peak memory added by fit + transform (MiB)", "of it, anonymous (MiB)", "X as CSR (MiB)",
         "X dense float32 (MiB)", "wall (s)"],
        [[SPARSE_KIND, f"**{r['added_mb']:.0f}**", f"{r['added_anon_mb']:.0f}", f"{csr_bytes / mib:.0f}",
          f"{n * N_TERMS * 4 / mib:,.0f}", f"{r['seconds']:.0f}"]],
    ))  # fmt: skip
    print("\nWhat fit + transform must hold, for comparison:\n")
    print(_common.table(["item", "MiB"], [[k, f"{v / mib:.1f}"] for k, v in held.items()] + [
        ["sum", f"**{sum(held.values()) / mib:.1f}**"]]))  # fmt: skip
    print(
        "\nPeak resident memory above the resident memory just before training (X loaded); 'anonymous' "
        "leaves out file pages (torch's libraries as they are first used), sampled every 5 ms. Beyond the "
        "items above, fit keeps copies of the network's state (the best epoch's weights for early stopping; "
        "the last finished epoch's weights and Adam state, for warm_start), the validation rows' distances "
        "for baseline_score_ (2,000 x 2,000), and torch sets up its kernels and threads once (about 85 MiB). "
        "Of all this only the embeddings grow with the number of rows: X is neither copied (its float64 "
        "values are converted a batch at a time) nor ever dense. "
        f"Fit: one epoch of {n:,} samples at the defaults (batch 64, MLP {N_TERMS:,}-128-128-32, 2 of "
        "the 10 classes, y = row % 10, held out for validation)."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=200_000)
    parser.add_argument(
        "--kinds", nargs="+", default=list(KINDS), choices=list(KINDS),
        help="what to measure; 'float32 array' converts the memmap whole first, for comparison",
    )
    parser.add_argument("--quick", action="store_true", help="20,000 images (or documents)")
    parser.add_argument("--sparse", action="store_true", help=f"measure a {N_TERMS:,}-term TF-IDF CSR matrix instead")
    _common.add_write_docs_argument(parser)
    args = parser.parse_args(argv)
    n = 20_000 if args.quick else args.n_samples
    if args.sparse:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "tfidf.npz"
            nnz, csr_bytes = write_tfidf(path, n, N_TERMS)
            results = {SPARSE_KIND: measure(path, n, SPARSE_KIND)}
        with _common.docs_report("out_of_core_sparse", "out_of_core.py", argv, args.write_docs):
            sparse_report(n, results, nnz, csr_bytes)
        return results
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
