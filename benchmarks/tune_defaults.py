"""Evidence for the defaults: variants of SiameseEmbedder on the unseen-class protocol.

Each row changes one setting from the baseline and reports the same metrics
as ``unseen_classes.py`` (threshold calibrated on seen-class validation
pairs).

    python benchmarks/tune_defaults.py --dataset digits
    python benchmarks/tune_defaults.py --dataset mnist5k --variants baseline augment
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from unseen_classes import evaluate, format_table, load, split  # noqa: E402

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder  # noqa: E402
from sklearn_siamese.augmentation import RandomAffine  # noqa: E402


def variants(shape):
    side = shape[-1]
    shift = max(1.0, side / 14)  # +-2 px on 28x28 images, +-1 px on 8x8
    return {
        "baseline": {},
        "no validation / early stopping": dict(validation_fraction=None),
        "normalize=False": dict(normalize=False),
        "embedding_dim=64": dict(embedding_dim=64),
        "embedding_dim=128": dict(embedding_dim=128),
        "margin=0.5": dict(margin=0.5),
        "weight_decay=1e-4": dict(weight_decay=1e-4, optimizer="adamw"),
        "weight_decay=1e-2": dict(weight_decay=1e-2, optimizer="adamw"),
        "dropout=0.2": dict(encoder=MLPEncoder(dropout=0.2)),
        "wide MLP (512, 512)": dict(encoder=MLPEncoder(hidden_sizes=(512, 512))),
        "triplet/semihard": dict(loss="triplet", mining="semihard"),
        "augment (affine)": dict(augmentation=RandomAffine(image_shape=shape, translate=shift)),
        "conv encoder": dict(encoder=ConvEncoder(input_shape=shape)),
        "conv encoder + augment": dict(
            encoder=ConvEncoder(input_shape=shape), augmentation=RandomAffine(image_shape=shape, translate=shift)
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist5k", "fashion"])
    parser.add_argument("--variants", nargs="*", help="names (prefixes) of the variants to run; default all")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--max-samples", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    X, y, shape = load(args.dataset, max_samples=args.max_samples, random_state=args.random_state)
    parts = split(X, y, args.random_state)
    results = {}
    for name, params in variants(shape).items():
        if args.variants and not any(name.startswith(v) for v in args.variants):
            continue
        model = SiameseEmbedder(max_epochs=args.max_epochs, random_state=args.random_state, **params)
        results[name] = evaluate(model, parts, args.pairs, args.episodes, args.random_state)
        print(f"{name}: {results[name]}", flush=True)
    print()
    print(format_table(f"{args.dataset}: one change from the baseline per row", results))


if __name__ == "__main__":
    main()
