"""Saving and loading the default embedder: pickle, the package's weights format and skops.

Fits ``SiameseEmbedder(image_shape=(8, 8), max_epochs=3, random_state=0)``
on ``load_digits`` (its default ``ConvEncoder``), then saves it to a file
and loads it back in each format, ``--repeats`` times, and reports the
file size, the median save and load times, and whether the loaded model
transforms the digits bit for bit as the saved one. The user guide's
"Reliability and persistence" page includes the report::

    python benchmarks/persistence.py --write-docs
    python benchmarks/persistence.py --quick         # 1 epoch, 3 repeats
"""

import argparse
import os
import pickle
import tempfile
import time

import numpy as np
from _common import docs_report, machine_info, table
from sklearn.datasets import load_digits

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese.persistence import TRUSTED_TYPES, load_weights, save_weights

# What each file holds and what loading it can run, for the report's table.
FORMATS = {
    "pickle / joblib": (
        "everything: the skorch net with its optimiser and random states (warm_start continues), callbacks",
        "anything the file's author wrote (unpickling calls the functions it names)",
    ),
    "save_weights / load_weights": (
        "encoder and head state_dicts (tensors), fitted attributes, plain parameters, history, versions",
        "no code from the file (torch.load(weights_only=True)); the architecture is the estimator you pass",
    ),
    "skops.io.dump / load": (
        "parameters (encoder spec objects too), fitted attributes, weights as .npy arrays, history, versions",
        "only the types trusted: skops's defaults and persistence.TRUSTED_TYPES "
        "(the package's __setstate__ rebuilds the net)",
    ),
}


def _pickle_save(est, path):
    with open(path, "wb") as f:
        pickle.dump(est, f, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(path, params):
    with open(path, "rb") as f:
        return pickle.load(f)


def _skops_save(est, path):
    import skops.io as sio

    sio.dump(est, path)


def _skops_load(path, params):
    import skops.io as sio

    return sio.load(path, trusted=TRUSTED_TYPES)


SAVE_LOAD = {
    "pickle / joblib": (_pickle_save, _pickle_load),
    "save_weights / load_weights": (save_weights, lambda path, params: load_weights(SiameseEmbedder(**params), path)),
    "skops.io.dump / load": (_skops_save, _skops_load),
}


def measure(est, params, X, repeats, folder):
    """One result per format: file bytes, median save and load seconds, identical transform."""
    expected = est.transform(X)
    results = {}
    for name, (save, load) in SAVE_LOAD.items():
        path = os.path.join(folder, "model")
        save_s, load_s = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            save(est, path)
            save_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            loaded = load(path, params)
            load_s.append(time.perf_counter() - start)
        results[name] = dict(
            bytes=os.path.getsize(path),
            save_s=float(np.median(save_s)),
            load_s=float(np.median(load_s)),
            identical=bool(np.array_equal(loaded.transform(X), expected)),
        )
        os.remove(path)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20, help="save and load this many times; medians reported")
    parser.add_argument("--quick", action="store_true", help="1 epoch, 3 repeats")
    parser.add_argument(
        "--write-docs", action="store_true", help="also write docs/benchmarks/_generated/persistence.md"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.max_epochs, args.repeats = 1, 3
    try:
        import skops  # noqa: F401
    except ImportError:
        parser.error("skops is needed for its row: pip install 'sklearn-siamese[skops]'")

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    params = dict(image_shape=(8, 8), max_epochs=args.max_epochs, random_state=0)
    est = SiameseEmbedder(**params).fit(X, y)
    n_weights = sum(p.numel() for p in est.net_.module_.parameters())
    with tempfile.TemporaryDirectory() as folder:
        results = measure(est, params, X, args.repeats, folder)

    with docs_report("persistence", "persistence.py", argv, args.write_docs):
        model = f"SiameseEmbedder(image_shape=(8, 8), max_epochs={args.max_epochs}, random_state=0)"
        print(f"# Saving and loading `{model}`\n")
        print(
            f"Fitted on `load_digits` (1,797 x 64; its default `ConvEncoder`, {n_weights:,} weights); "
            f"each format saved to a file and loaded back {args.repeats} times, medians. {machine_info()}\n"
        )
        rows = [
            [name, *FORMATS[name], f"{r['bytes'] / 1e3:,.0f}", f"{r['save_s'] * 1e3:.0f}", f"{r['load_s'] * 1e3:.0f}",
             "yes" if r["identical"] else "NO"]
            for name, r in results.items()
        ]
        print(table(["format", "what the file holds", "what loading can run", "file (kB)", "save (ms)", "load (ms)",
                     "same transform"], rows))
    return results


if __name__ == "__main__":
    main()
