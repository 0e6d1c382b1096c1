"""Make the README's pictures from scikit-learn's digits (no download needed).

Trains a SiameseEmbedder on digits 2-7 with the image recipe (a
convolutional encoder and affine distortions) and writes, into
``docs/images/``:

* ``embedding.png``: held-out digits, raw pixels next to the learned
  embedding (both projected with PCA), with thumbnails;
* ``history.png``: training and validation loss per epoch of a default
  SiameseEmbedder trained on all ten digits (with 10 classes the default
  ``validation_fraction="auto"`` holds 2 out for early stopping);
* ``pairs.png``: pairs of digits never seen in training, with their
  distances, green where a threshold calibrated on training pairs decides
  right and red where it is wrong.

Run from the repository root: ``python benchmarks/make_figures.py``.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from _common import SEEN  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from sklearn_siamese import ConvEncoder, SiameseEmbedder  # noqa: E402
from sklearn_siamese.augmentation import RandomAffine  # noqa: E402
from sklearn_siamese.metrics import pair_scores  # noqa: E402
from sklearn_siamese.pairs import best_threshold, make_pairs  # noqa: E402
from sklearn_siamese.plotting import plot_embedding, plot_history, plot_pairs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images"))
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    seen = np.isin(y, SEEN)
    X_train, X_test, y_train, y_test = train_test_split(
        X[seen], y[seen], train_size=0.7, stratify=y[seen], random_state=args.random_state
    )
    X_unseen, y_unseen = X[~seen], y[~seen]
    model = SiameseEmbedder(
        encoder=ConvEncoder(input_shape=(8, 8)),
        augmentation=RandomAffine(image_shape=(8, 8), translate=1.0),
        max_epochs=args.max_epochs,
        random_state=args.random_state,
    ).fit(X_train, y_train)

    fig, (raw_ax, learned_ax) = plt.subplots(1, 2, figsize=(13, 6))
    for ax, estimator, title in [(raw_ax, None, "raw pixels"), (learned_ax, model, "SiameseEmbedder")]:
        plot_embedding(estimator, X_test, y_test, thumbnails=True, max_thumbnails=40, thumbnail_zoom=1.6, ax=ax)
        ax.set_title(f"Held-out samples of the training digits: {title} (PCA to 2-D)")
    fig.tight_layout()
    fig.savefig(out / "embedding.png", dpi=80)

    # Two digits held out for early stopping; the first run's model (refit=False), whose history this draws.
    all_digits = SiameseEmbedder(
        image_shape=(8, 8), max_epochs=args.max_epochs, validation_fraction="auto", refit=False, random_state=args.random_state
    ).fit(X, y)
    ax = plot_history(all_digits)
    held = ", ".join(str(c) for c in all_digits.validation_classes_)
    ax.set_title(f"SiameseEmbedder on all digits, validation on held-out digits {held}")
    ax.figure.tight_layout()
    ax.figure.savefig(out / "history.png", dpi=80)

    cal_pairs, cal_same = make_pairs(X_train, y_train, n_pairs=1000, random_state=args.random_state)
    threshold = best_threshold(pair_scores(model, cal_pairs), cal_same)
    pairs, same = make_pairs(X_unseen, y_unseen, n_pairs=12, random_state=args.random_state)  # shuffled
    fig = plot_pairs(model, pairs, same, threshold=threshold, n_cols=6)
    fig.suptitle(f"Unseen digits 0, 1, 8, 9: distance d, 'same' when d <= {-threshold:.2f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "pairs.png", dpi=80)
    print(f"epochs run: {model.n_epochs_}; threshold from training pairs: distance <= {-threshold:.3f}")
    print(f"wrote {', '.join(p.name for p in sorted(out.glob('*.png')))} to {out}")


if __name__ == "__main__":
    main()
