"""transform speed: fixed inference blocks (padded last block) against v1's input-sized chunks.

Since issue 21 every forward pass at inference has one shape, a block of
rows sized by the encoder's activation memory (a two-row probe), with the
last block padded: a row's embedding no longer depends on what else is in X,
and a conv encoder holds a few MiB of activations instead of hundreds. v1
cut X into chunks of 4 MiB of float32 input (1,337 rows of 28x28) and ran
the last chunk short. This script times both on the same fitted default
``SiameseEmbedder`` (conv encoder) and the MLP, alternating, one torch
thread, and prints the median of the repeats.

    python benchmarks/inference_blocks.py                # 10,000 rows of 28x28
    python benchmarks/inference_blocks.py --n-samples 2000 --repeats 1
"""

import argparse
import time

import numpy as np
import torch

import _common
from sklearn_siamese import SiameseEmbedder
from sklearn_siamese._training.inference import _activation_bytes_per_row, _checked_forward, embed_rows, inference_block_rows
from sklearn_siamese._training.out_of_core import as_tensor


def v1_embed(module, X, dim):
    """v1's inference loop: 4 MiB of float32 input per forward pass, the last chunk short."""
    rows = int(np.clip(4 * 2**20 // (4 * X.shape[1]), 16, 4096))
    module.eval()
    out, good = np.empty((len(X), dim), np.float32), np.ones(len(X), bool)
    with torch.no_grad():
        for i in range(0, len(X), rows):
            z, ok = _checked_forward(module.encoder, module.normalize, None, as_tensor(np.asarray(X[i : i + rows], np.float32)))
            out[i : i + rows], good[i : i + rows] = z.numpy(), ok.numpy()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(args.n_samples, 28 * 28), dtype=np.uint8)
    y = np.arange(len(X)) % 10
    rows = []
    for name, params in [("SiameseEmbedder() (conv)", {"image_shape": (28, 28)}), ('encoder="mlp"', {"encoder": "mlp"})]:
        model = SiameseEmbedder(max_epochs=1, samples_per_epoch=256, random_state=0, **params).fit(X[:2000], y[:2000])
        module = model.net_.module_
        block = inference_block_rows(_activation_bytes_per_row(module.encoder, None, torch.zeros(2, X.shape[1])))
        times = {"v1": [], "fixed": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            v1_embed(module, X, model.embedding_dim_)
            times["v1"].append(time.perf_counter() - start)
            start = time.perf_counter()
            embed_rows(module, X)
            times["fixed"].append(time.perf_counter() - start)
        v1, fixed = np.median(times["v1"]), np.median(times["fixed"])
        rows.append([name, str(block), f"{v1:.3f}", f"{fixed:.3f}", f"{fixed / v1:.2f}x"])
    print(f"# transform of {len(X):,} uint8 28x28 rows, one torch thread, median of {args.repeats}\n")
    print(_common.machine_info() + "\n")
    print(_common.table(["encoder", "rows per block", "v1 chunks (s)", "fixed blocks (s)", "fixed / v1"], rows))


if __name__ == "__main__":
    main()
