"""Demo: learn an embedding on digits 2-7, recognise unseen digits 0, 1, 8, 9.

Run with ``python -m sklearn_siamese.demo``. Uses ``load_digits``, which
ships with scikit-learn, so it needs no download.
"""

import argparse
import time
from numbers import Integral

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils._param_validation import Interval, validate_params

from . import SiameseEmbedder
from .metrics import one_shot_accuracy

__all__ = ["main", "run"]

SEEN = [2, 3, 4, 5, 6, 7]


# run and main fit estimators: their own validation stays on (prefer_skip_nested_validation=False).
@validate_params(
    {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "n_episodes": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=False,
)
def run(max_epochs=30, n_episodes=500, random_state=0, verbose=0):
    """Fit each method on seen digits and return the table rows as dicts.

    Parameters
    ----------
    max_epochs : int, default=30
        Training epochs of each ``SiameseEmbedder``.
    n_episodes : int, default=500
        4-way 1-shot episodes on the unseen digits.
    random_state : int, RandomState instance or None, default=0
        Seeds the split, the models and the episodes.
    verbose : int, default=0
        Verbosity of the estimators.

    Returns
    -------
    rows : list of dict
        One per method: ``"method"``, ``"seen"`` (1-NN accuracy on held-out
        seen digits), ``"unseen"`` (one-shot accuracy) and ``"fit_s"``.
    """
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


@validate_params({"argv": ["array-like", None]}, prefer_skip_nested_validation=False)
def main(argv=None):
    """Run the demo and print its table (``python -m sklearn_siamese.demo``).

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments (``--max-epochs``, ``--episodes``,
        ``--random-state``, ``--verbose``); None reads ``sys.argv``.
    """
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
