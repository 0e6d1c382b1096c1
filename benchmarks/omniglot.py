"""Omniglot: train on 6 background alphabets, 20-way 1-shot within the 2 held out.

Reads the reduced background sets (``images_background_small1.zip`` and
``images_background_small2.zip``: 8 alphabets, 242 characters, 20 drawings
each), downsampled to 28x28 and inverted (strokes = 1). Training runs for at
most ``--budget`` seconds of CPU wall time (a skorch callback stops it after
the epoch that crosses the budget). Evaluation: 20-way 1-shot episodes drawn
within each held-out alphabet (Lake et al.'s within-alphabet task) with
``one_shot_accuracy(..., groups=alphabet)``; the error with a 95% interval
over episodes.

For reference on the original task (30 training alphabets, 105x105): Modified
Hausdorff distance 38.8% error, the Koch et al. siamese convnet 8%.

    python benchmarks/omniglot.py --data ../shared/data/omniglot
    python benchmarks/omniglot.py --data ../shared/data/omniglot --quick
"""

import argparse
import os
import time

import numpy as np
from _common import add_run_arguments, docs_report, load_omniglot, machine_info, selected
from skorch.callbacks import Callback

from sklearn_siamese import ConvEncoder, SiameseEmbedder
from sklearn_siamese.augmentation import RandomAffine
from sklearn_siamese.metrics import one_shot_accuracy

HELD_OUT = ["Balinese", "Early_Aramaic"]


class TimeBudget(Callback):
    """Stop training after the epoch during which ``seconds`` have passed."""

    def __init__(self, seconds):
        self.seconds = seconds

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()

    def on_epoch_end(self, net, **kwargs):
        if time.perf_counter() - self.start_ > self.seconds:
            # skorch ends fit on KeyboardInterrupt; at an epoch's end it is a
            # normal stop (EarlyStopping stops the same way).
            raise KeyboardInterrupt


def models(size, max_epochs, budget, random_state):
    shape = (size, size)
    common = dict(
        encoder=ConvEncoder(input_shape=shape, channels=(32, 64, 64)),
        embedding_dim=64,
        max_epochs=max_epochs,
        batch_size=128,
        samples_per_class=4,
        callbacks=[("time_budget", TimeBudget(budget))],
        random_state=random_state,
    )
    # Koch et al.'s +-2 px translation on 105x105 images, scaled to this size.
    affine = RandomAffine(image_shape=shape, translate=2.0 * size / 105)
    return {
        "raw pixels": None,
        "SiameseEmbedder conv, pair loss only (instance_weight=0)": SiameseEmbedder(**common, instance_weight=0.0),
        "SiameseEmbedder conv, defaults + affine (image recipe)": SiameseEmbedder(**common, augmentation=affine),
        "SiameseEmbedder conv, defaults + affine, no early stopping (whole budget)": SiameseEmbedder(
            **common, augmentation=affine, validation_fraction=None
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "omniglot"))
    parser.add_argument("--held-out", nargs=2, default=HELD_OUT)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--budget", type=float, default=600, help="training seconds per model")
    parser.add_argument("--n-way", type=int, default=20)
    add_run_arguments(parser, "--models", max_epochs=200, episodes=400, quick_help="1 epoch, 20 episodes: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.max_epochs, args.episodes, args.budget = 1, 20, 60
    results = []
    X, y, groups = load_omniglot(args.data, args.size)
    held = np.isin(groups, args.held_out)
    with docs_report("omniglot", "omniglot.py", argv, args.write_docs):
        print(f"# Omniglot, {args.n_way}-way 1-shot within held-out alphabets")
        print(f"machine: {machine_info()}")
        print(f"train: {len(np.unique(y[~held]))} characters of {sorted(set(groups[~held]))}")
        print(f"held out: {args.held_out}; settings: {vars(args)}\n")
        print("| method | " + " | ".join(f"{a} error %" for a in args.held_out) + " | mean error % (95% CI) | train (s) | epochs |")
        print("|---|" + "---|" * (len(args.held_out) + 3))
        for name, model in models(args.size, args.max_epochs, args.budget, args.random_state).items():
            if not selected(name, args.rows):
                continue
            start = time.perf_counter()
            if model is not None:
                model.fit(X[~held], y[~held])
            train_s = time.perf_counter() - start
            episodes = []
            cells = []
            for alphabet in args.held_out:
                rows = groups == alphabet
                _, acc = one_shot_accuracy(
                    model, X[rows], y[rows], n_way=args.n_way, k_shot=1, n_episodes=args.episodes,
                    groups=groups[rows], random_state=args.random_state, return_episodes=True,
                )
                episodes.append(acc)
                cells.append(f"{100 * (1 - acc.mean()):.1f}")
            err = 1 - np.concatenate(episodes)
            half = 1.96 * err.std(ddof=1) / np.sqrt(len(err))
            n_epochs = getattr(model, "n_epochs_", 0)
            print(f"| {name} | " + " | ".join(cells) + f" | {100 * err.mean():.1f} (+-{100 * half:.1f}) | {train_s:.0f} | {n_epochs} |", flush=True)
            results.append({"method": name, "error": float(err.mean()), "train_s": train_s})
    return results


if __name__ == "__main__":
    main()
