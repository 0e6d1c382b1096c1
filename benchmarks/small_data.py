"""Training length on small data sets: the 4,096-sample epoch floor against at most 20 passes (issue 40).

Below 205 training rows, ``samples_per_epoch="auto"`` used to draw 4,096
samples per epoch whatever the data's size: the same 1,920 optimiser steps
for 110 photos as for 4,000. Since issue 40 an epoch of ``"auto"`` is at
most 20 passes over the rows. This script fits both, side by side, on the
small data sets a user of one-shot learning has:

- ``digits`` and ``mnist5k``: ``--per-class`` samples of each of the
  digits 2-7 (per seed), 4-way 1-shot on the unseen 0, 1, 8, 9;
- ``faces`` and ``faces-no-side-light``: the Yale faces of
  ``benchmarks/faces.py`` (10 people train, 5 unseen, 5-way 1-shot and
  pair ROC AUC; needs ``--faces-data``, skipped when it is missing).

Rows (``--rows``: name prefixes): ``"previous (samples_per_epoch=4096)"``
(what ``"auto"`` gave below 4,096 rows until issue 40), ``"auto (at most
20 passes)"``, and the latter with ``loss="proxy_anchor"`` (issue 39: which
loss wins with few samples per class). Each seed or
split fits every selected row in turn; the table gives their means and fit times.

    python benchmarks/small_data.py --threads 1
    python benchmarks/small_data.py --datasets digits --per-class 20 --seeds 0 --max-epochs 1 --episodes 20  # smoke
"""

import argparse
import os
import time

import numpy as np
import torch
from _common import ROWS_HELP, SEEN, load, machine_info, selected, table
from faces import DEFAULT_DATA, N_TRAIN_PEOPLE, SIDE_LIGHT, evaluate, load_faces

from sklearn_siamese import SiameseEmbedder
from sklearn_siamese._training.data import auto_samples_per_epoch
from sklearn_siamese.metrics import one_shot_accuracy

ROWS = {
    "previous (samples_per_epoch=4096)": dict(samples_per_epoch=4096),
    "auto (at most 20 passes)": dict(samples_per_epoch="auto"),
    # A loss of face recognition on the same small sets (issue 39): which loss
    # wins with few samples per class.
    "auto, loss='proxy_anchor'": dict(samples_per_epoch="auto", loss="proxy_anchor"),
}


def digit_runs(name, per_class, seeds):
    """``(label, X_train, y_train, X_test, y_test)`` per seed: ``per_class`` of each seen digit, the unseen digits."""
    X, y, shape = load(name)
    seen = np.isin(y, SEEN)
    for seed in seeds:
        rng = np.random.RandomState(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in SEEN])
        yield seed, X[idx].reshape(len(idx), *shape), y[idx], X[~seen].reshape(-1, *shape), y[~seen]


def face_runs(data, keep_side_light, splits):
    X, y, stems, _ = load_faces(data, (40, 32))
    keep = np.ones(len(X), bool) if keep_side_light else ~np.isin(stems, SIDE_LIGHT)
    people = np.unique(y)
    for s in splits:
        order = np.random.default_rng([0, s]).permutation(people)
        train, test = keep & np.isin(y, order[:N_TRAIN_PEOPLE]), keep & np.isin(y, order[N_TRAIN_PEOPLE:])
        yield s, X[train], y[train], X[test], y[test]


def score(model, X_train, y_train, X_test, y_test, episodes, seed, faces):
    if faces:
        return evaluate(model, X_train, y_train, X_test, y_test, episodes, seed)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    accuracy = one_shot_accuracy(model, X_test, y_test, n_way=4, k_shot=1, n_episodes=episodes, random_state=seed)
    return {"one_shot": accuracy, "fit_s": fit_s}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist5k", "faces", "faces-no-side-light"])
    parser.add_argument("--per-class", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (digits) or splits (faces)")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--faces-data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--rows", nargs="*", help=ROWS_HELP)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine_info()}")
    print(f"settings: {vars(args)}\n")
    out = []
    for dataset in args.datasets:
        faces = dataset.startswith("faces")
        if faces and not os.path.isdir(args.faces_data):
            print(f"{dataset}: no face folder at {args.faces_data}, skipped")
            continue
        for per_class in [None] if faces else args.per_class:
            runs = (face_runs(args.faces_data, dataset == "faces", args.seeds) if faces
                    else digit_runs(dataset, per_class, args.seeds))
            rows = {row: params for row, params in ROWS.items() if selected(row, args.rows)}
            results = {row: [] for row in rows}
            for seed, X_train, y_train, X_test, y_test in runs:
                for row, params in rows.items():
                    model = SiameseEmbedder(**params, max_epochs=args.max_epochs, random_state=seed)
                    r = score(model, X_train, y_train, X_test, y_test, args.episodes, seed, faces)
                    results[row].append(r)
                    print(f"{dataset} n={len(X_train)} seed/split {seed} {row}: "
                          + ", ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
            n = len(X_train)
            label = f"{dataset} ({n} rows, auto = {auto_samples_per_epoch(n)} samples per epoch)"
            for row, rs in results.items():
                cells = [f"{np.mean([r['one_shot'] for r in rs]):.3f}",
                         " / ".join(f"{r['one_shot']:.3f}" for r in rs),
                         f"{np.mean([r['auc'] for r in rs]):.3f}" if faces else "",
                         f"{np.mean([r['fit_s'] for r in rs]):.1f}"]
                out.append([label, row, *cells])
    print()
    print(table(["data set", "samples_per_epoch", "unseen 1-shot (mean)", "per seed or split",
                 "faces: pair ROC AUC (mean)", "fit (s)"], out))
    return out


if __name__ == "__main__":
    main()
