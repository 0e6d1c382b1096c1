"""Pooling before the ReLU in the built-in conv encoders: fit time, side by side (issue 40).

Max pooling and ReLU commute (ReLU is monotone), so a block written
conv -> BN -> pool -> ReLU computes exactly what the textbook
conv -> BN -> ReLU -> pool does, forward and backward, with the ReLU on a
quarter of the activations. ``ConvEncoder`` and ``KochEncoder`` build their
blocks that way. This script fits ``SiameseEmbedder`` with the encoder as
built today and with the textbook order (the same layers, reordered, for
this measurement only) in alternating order in one process, checks that
the two give the same embeddings, and prints the median time ratio.

    python benchmarks/block_order.py --threads 1
    python benchmarks/block_order.py --quick      # smoke run
"""

import argparse
import contextlib

import numpy as np
import torch
from _common import alternate, machine_info, selected, table
from sklearn.datasets import load_digits
from torch import nn

from sklearn_siamese import ConvEncoder, KochEncoder, SiameseEmbedder


def _textbook(sequential):
    """The same layers with each ReLU moved back in front of the pooling before it."""
    layers, out = list(sequential), []
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.ReLU) and i and isinstance(layers[i - 1], nn.MaxPool2d):
            out.insert(len(out) - 1, layer)
        else:
            out.append(layer)
    return nn.Sequential(*out)


@contextlib.contextmanager
def textbook_order(cls):
    """Make ``cls`` build its blocks in the textbook order while the context lasts."""
    build = cls._build

    def _build(self, n_features, embedding_dim):
        module = build(self, n_features, embedding_dim)
        module[1] = _textbook(module[1])
        return module

    cls._build = _build
    try:
        yield
    finally:
        cls._build = build


def cases(quick):
    """(name, X, y, encoder class, parameters) of each row."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    digits = (X / 16.0).astype(np.float32).reshape(-1, 8, 8)
    n = 256 if quick else 1024
    # Timing depends on shapes only: random images with 8 classes stand in for
    # MNIST-5k and Omniglot (28x28) and for 105x105 characters.
    images28 = rng.random((n, 28, 28), dtype=np.float32)
    images105 = rng.random((n // 4, 105, 105), dtype=np.float32)
    labels, labels105 = np.arange(n) % 8, np.arange(n // 4) % 8
    epochs = dict(max_epochs=1) if quick else dict(max_epochs=3)
    small = dict(samples_per_epoch=256, max_epochs=1)
    return [
        ("digits 8x8, default (64, 128)", digits, y, ConvEncoder, dict(**epochs)),
        ("28x28, default (32, 64)", images28, labels, ConvEncoder, dict(max_epochs=1)),
        ("28x28, Omniglot recipe conv-4 (64, 64, 64, 64)", images28, labels, ConvEncoder,
         dict(encoder=ConvEncoder(channels=(64, 64, 64, 64)), embedding_dim=64, batch_size=128,
              loss="triplet", normalize=False, instance_weight=0.0, max_epochs=1,
              **(dict(samples_per_epoch=512) if quick else {}))),
        ("105x105, KochEncoder", images105, labels105, KochEncoder,
         dict(encoder=KochEncoder(), embedding_dim=64, augmentation=None, instance_weight=0.0,
              **(dict(samples_per_epoch=32, batch_size=16, max_epochs=1) if quick else small))),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", nargs="+", default=["float32", "auto"])
    parser.add_argument("--cases", nargs="*", help="name prefixes of the encoders to time")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    print(f"machine: {machine_info()}\n")
    rows = []
    for name, X, y, cls, params in cases(args.quick):
        if not selected(name, args.cases):
            continue
        for precision in args.precision:
            fitted = {}

            def fit(order, X=X, y=y, cls=cls, params=params, precision=precision, fitted=fitted):
                with textbook_order(cls) if order == "textbook" else contextlib.nullcontext():
                    fitted[order] = SiameseEmbedder(precision=precision, random_state=0, **params).fit(X, y)

            textbook, pooled = alternate([lambda: fit("textbook"), lambda: fit("pool first")], repeats)
            same = np.array_equal(fitted["textbook"].transform(X[:64]), fitted["pool first"].transform(X[:64]))
            ratio = float(np.median(pooled / textbook))
            rows.append([name, f"`{precision}`", f"{np.median(textbook):.2f}", f"{np.median(pooled):.2f}",
                         f"{ratio:.2f}", "yes" if same else "no"])
            print(f"  {rows[-1]}", flush=True)
    print()
    print(table(["encoder", "precision", "textbook order: fit s", "pool before ReLU: fit s",
                 "time ratio (median)", "equal embeddings"], rows))
    return rows


if __name__ == "__main__":
    main()
