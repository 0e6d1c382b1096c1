"""Real face photos: recognise people never seen in training (Yale faces, 15 people x 11 photos).

Reads ``../shared/data/yalefaces`` (a folder of photos per person; see its
README: research use only, never committed) with the package's
``load_image_folder`` at ``--size`` pixels (one side: square; two:
height and width), grey, values in [0, 1]. Each of
``--splits`` class-disjoint splits trains on 10 people and tests on the
other 5, never seen in training: 5-way 1-shot accuracy (``--episodes``
episodes of one support and one query photo per person) and pair
verification ROC AUC over every pair of the unseen people's photos. Two
conditions: every photo, and the photos without the left-light and
right-light shots, where lighting changes least and raw pixels are
strongest (as on aligned faces). Rows: raw pixels, PCA, the classic face
baselines of ``_classic.py`` (Fisherfaces, NCA on PCA, HOG, LBP histograms
with the chi-square distance), the estimators with
no arguments but ``random_state`` on the ``(n, H, W)`` images, the same on
exactly what ``load_image_folder(..., return_X_y=True)`` returns (the path
a user takes first: it must train the same model), the image recipe (conv encoder and
affine distortions, as in the unseen-classes benchmark), and the defaults
with ``validation_fraction="auto"`` (2 of the 10 people held out for early
stopping, then, ``refit=True``, every person trains for the epochs it
chose) and with ``refit=False`` as well (the first run's model, which
never saw the 2 people). Under each condition's table the script names the
strongest baseline of each measure and gives every other row's margin over
it, in points.

    python benchmarks/faces.py                          # 3 splits, both conditions
    python benchmarks/faces.py --methods "raw" "PCA" "classic" --splits 5   # the baselines only
    python benchmarks/faces.py --size 40 32             # non-square photos
    python benchmarks/faces.py --data DIR --quick       # a smoke test
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _classic import classic_methods, margin_lines
from _common import QUICK_SAMPLES_PER_EPOCH, add_run_arguments, affine_for, docs_report, machine_info, selected, table
from sklearn.decomposition import PCA

from sklearn_siamese import ConvEncoder, SiameseEmbedder
from sklearn_siamese.datasets import load_image_folder
from sklearn_siamese.losses import CLASS_WEIGHT_LOSSES
from sklearn_siamese.metrics import one_shot_accuracy, verification_roc_auc

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "yalefaces"
# The shots where one side of the face is in shadow: most pixels change.
SIDE_LIGHT = ("leftlight", "rightlight")
N_TRAIN_PEOPLE = 10
# The class-weight losses of face recognition, one row each: the package's names for them.
FACE_LOSSES = tuple(CLASS_WEIGHT_LOSSES)


# The row fitted on load_image_folder(return_X_y=True)'s X, loaded by that call.
LOADER_ROW = "SiameseEmbedder() on load_image_folder(return_X_y=True)"


def load_faces(data, size):
    """``(images (n, H, W), person of each photo, file stem of each photo, X of return_X_y=True)``."""
    bunch = load_image_folder(data, image_size=size)
    stems = np.array([Path(name).stem for name in bunch.filenames])
    X_loader, _ = load_image_folder(data, image_size=size, return_X_y=True)
    return bunch.images.astype(np.float32), np.asarray(bunch.target), stems, X_loader


def methods(image_shape, max_epochs, quick, random_state):
    """Rows: name -> unfitted model (None = raw pixels)."""
    default = SiameseEmbedder(random_state=random_state)
    recipe = SiameseEmbedder(
        encoder=ConvEncoder(input_shape=image_shape), augmentation=affine_for(image_shape),
        max_epochs=max_epochs, random_state=random_state,
    )
    # The default holds nothing out: all 10 people train for max_epochs. "auto" holds out 2
    # for early stopping, then (refit=True) all 10 train for the epochs it chose;
    # refit=False keeps the first run's model, which never saw the 2.
    refit = SiameseEmbedder(validation_fraction="auto", random_state=random_state)
    first_run = SiameseEmbedder(validation_fraction="auto", refit=False, random_state=random_state)
    if quick:
        for model in (default, refit, first_run):
            model.set_params(max_epochs=max_epochs, samples_per_epoch=QUICK_SAMPLES_PER_EPOCH)
        recipe.set_params(samples_per_epoch=QUICK_SAMPLES_PER_EPOCH)
    return {
        "raw pixels": None,
        "PCA (32)": PCA(n_components=32, random_state=random_state),
        # Fisherfaces, NCA on PCA, HOG, LBP (NCA's iterations cut in a smoke run).
        **classic_methods(image_shape, random_state, quick),
        "SiameseEmbedder() default": default,
        LOADER_ROW: SiameseEmbedder(**default.get_params()),
        "image recipe (conv + affine)": recipe,
        "SiameseEmbedder(validation_fraction='auto')": refit,
        "SiameseEmbedder(validation_fraction='auto', refit=False)": first_run,
        # The losses of face recognition (issue 39), the defaults otherwise.
        **{f"SiameseEmbedder(loss='{name}')": SiameseEmbedder(**dict(default.get_params(), loss=name))
           for name in FACE_LOSSES},
    }


# What the margin lines compare: the means over the splits.
MEASURES = [("one_shot", "1-shot"), ("auc", "ROC AUC")]


def all_pairs(X, y):
    """Every pair of rows of X, as ``(pairs, same)``."""
    i, j = np.triu_indices(len(X), k=1)
    return np.stack([X[i], X[j]], axis=1), (y[i] == y[j]).astype(int)


def evaluate(model, X_train, y_train, X_test, y_test, n_episodes, random_state):
    start = time.perf_counter()
    if model is not None:
        if isinstance(model, PCA):
            model.set_params(n_components=min(model.n_components, len(X_train) - 1))
        model.fit(X_train.reshape(len(X_train), -1) if isinstance(model, PCA) else X_train, y_train)
    fit_s = time.perf_counter() - start
    X_test = X_test.reshape(len(X_test), -1)  # the estimators fitted on images take flat rows too
    pairs, same = all_pairs(X_test, y_test)
    return {
        "one_shot": one_shot_accuracy(model, X_test, y_test, n_way=len(np.unique(y_test)), k_shot=1,
                                      n_episodes=n_episodes, random_state=random_state),
        "auc": verification_roc_auc(model, pairs, same),
        "fit_s": fit_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--size", type=int, nargs="+", default=[32], help="image side, or height and width, in pixels")
    parser.add_argument("--splits", type=int, default=3)
    add_run_arguments(parser, "--methods", max_epochs=30, episodes=300, quick_help="1 split, 2 epochs: a smoke test")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        raise SystemExit(f"no face folder at {args.data}: pass --data")
    if args.quick:
        args.splits, args.max_epochs, args.episodes = 1, 2, 20
    if len(args.size) > 2:
        parser.error("--size takes one side or a height and a width")
    size = tuple(args.size) * (3 - len(args.size))
    X, y, stems, X_loader = load_faces(args.data, size)
    people = np.unique(y)
    conditions = {"every photo": np.ones(len(X), bool), "without side light": ~np.isin(stems, SIDE_LIGHT)}
    with docs_report("faces", "faces.py", argv, args.write_docs):
        print(f"# Faces: {len(people)} people, {len(X)} photos at {size[0]}x{size[1]} (height x width); "
              f"train on {N_TRAIN_PEOPLE}, test on the other {len(people) - N_TRAIN_PEOPLE}")
        print(f"machine: {machine_info()}")
        print(f"settings: {vars(args)}\n")
        results = {}
        for condition, keep in conditions.items():
            for s in range(args.splits):
                order = np.random.default_rng([args.random_state, s]).permutation(people)
                train = keep & np.isin(y, order[:N_TRAIN_PEOPLE])
                test = keep & np.isin(y, order[N_TRAIN_PEOPLE:])
                for name, model in methods(size, args.max_epochs, args.quick, args.random_state).items():
                    if not selected(name, args.rows):
                        continue
                    X_row = X_loader if name == LOADER_ROW else X
                    r = evaluate(model, X_row[train], y[train], X_row[test], y[test], args.episodes, args.random_state)
                    results.setdefault((condition, name), []).append(r)
        for condition in conditions:
            rows, means = [], {}
            for (cond, name), runs in results.items():
                if cond != condition:
                    continue
                mean = means[name] = {key: np.mean([r[key] for r in runs]) for key in runs[0]}
                rows.append([name, f"{mean['one_shot']:.3f}", f"{mean['auc']:.3f}", f"{mean['fit_s']:.1f}",
                             " / ".join(f"{r['one_shot']:.2f}" for r in runs)])
            print(f"## {condition}\n")
            print(table(["method", f"unseen {len(people) - N_TRAIN_PEOPLE}-way 1-shot (mean)",
                         "unseen verification ROC AUC (mean)", "fit (s)", "1-shot per split"], rows))
            print()
            for line in margin_lines(means, MEASURES):
                print(line)
            print()
    return results


if __name__ == "__main__":
    main()
