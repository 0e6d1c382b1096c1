"""Demo: learn an embedding on digits 2-7, recognise unseen digits 0, 1, 8, 9.

Run with ``python -m sklearn_siamese.demo``. Uses ``load_digits``, which
ships with scikit-learn, so it needs no download.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from . import SiameseEmbedder
from .metrics import one_shot_accuracy

SEEN = [2, 3, 4, 5, 6, 7]


def run(max_epochs=30, n_episodes=500, random_state=0, verbose=0):
    """Fit each method on seen digits and return the table rows as dicts."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    seen = np.isin(y, SEEN)
    X_train, X_test, y_train, y_test = train_test_split(
        X[seen], y[seen], train_size=0.7, stratify=y[seen], random_state=random_state
    )
    X_unseen, y_unseen = X[~seen], y[~seen]

    methods = {
        "raw pixels": None,
        "PCA (32 components)": PCA(n_components=32, random_state=random_state),
        # The defaults for images (a conv net with affine augmentation): the
        # 64 columns are 8x8 images, which image_shape says (without it,
        # encoder="auto" guesses so from the square number and warns).
        "SiameseEmbedder() default": SiameseEmbedder(
            image_shape=(8, 8), max_epochs=max_epochs, random_state=random_state, verbose=verbose
        ),
        "SiameseEmbedder (MLP encoder)": SiameseEmbedder(
            encoder="mlp", max_epochs=max_epochs, random_state=random_state, verbose=verbose
        ),
        "SiameseEmbedder (MLP, triplet, semihard)": SiameseEmbedder(
            encoder="mlp",
            loss="triplet",
            mining="semihard",
            max_epochs=max_epochs,
            random_state=random_state,
            verbose=verbose,
        ),
    }
    rows = []
    for name, model in methods.items():
        start = time.perf_counter()
        if model is not None:
            model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        transform = (lambda Z: Z) if model is None else model.transform
        knn = KNeighborsClassifier(n_neighbors=1).fit(transform(X_train), y_train)
        seen_acc = knn.score(transform(X_test), y_test)
        unseen_acc = one_shot_accuracy(
            model, X_unseen, y_unseen, n_way=4, k_shot=1, n_episodes=n_episodes, random_state=random_state
        )
        rows.append({"method": name, "seen": seen_acc, "unseen": unseen_acc, "fit_s": fit_s})
    return rows


def format_table(rows):
    """Render rows from :func:`run` as a markdown table."""
    lines = [
        "| method | seen digits 2-7: 1-NN accuracy | unseen digits 0,1,8,9: 4-way 1-shot accuracy | fit time (s) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['seen']:.3f} | {r['unseen']:.3f} | {r['fit_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    print("Training on digits 2-7 (70% of their samples); 1-NN on the other 30%;")
    print("one-shot: one reference image per unseen digit, 4-way episodes.\n")
    rows = run(args.max_epochs, args.episodes, args.random_state, args.verbose)
    print(format_table(rows))


if __name__ == "__main__":
    main()
