"""Unseen-class protocol: train on classes 2-7, verify and one-shot classify 0, 1, 8, 9.

For each dataset: train on 70% of the samples of classes 2-7; calibrate
every method's verification threshold on pairs from a 10% validation split
of those classes; then report pair verification accuracy on pairs of the
remaining 20% seen-class samples, on pairs of the unseen classes 0, 1, 8, 9,
and on pairs mixing both, plus 4-way 1-shot accuracy on the unseen classes.

The baselines are raw pixels, PCA and the classic rows of ``_classic.py``
(Fisherfaces, NCA on PCA, HOG, LBP); under each table the script names the
strongest baseline of each measure and gives every other row's margin over
it, in points.

    python benchmarks/unseen_classes.py                      # load_digits
    python benchmarks/unseen_classes.py --datasets digits mnist5k fashion
    python benchmarks/unseen_classes.py --quick               # seconds, for CI
"""

import argparse
import time

from _classic import classic_methods, margin_lines
from _common import FASHION_DIR, QUICK_SAMPLES_PER_EPOCH, SEEN, add_run_arguments, affine_for, docs_report, load, machine_info, selected, split
from sklearn.decomposition import PCA

from sklearn_siamese import ConvEncoder, SiameseEmbedder, SiameseVerifier
from sklearn_siamese.metrics import one_shot_accuracy, seen_unseen_verification
from sklearn_siamese.pairs import make_pairs


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


def methods(image_shape, max_epochs, quick=False, random_state=0):
    """The rows of the table: name -> unfitted model (None = raw pixels)."""
    common = dict(max_epochs=max_epochs, random_state=random_state)
    # The defaults for images; image_shape says the rows are images, as
    # encoder="auto" would guess from their square number (with a warning).
    default = SiameseEmbedder(image_shape=image_shape, random_state=random_state)
    if quick:
        common["samples_per_epoch"] = QUICK_SAMPLES_PER_EPOCH
        default.set_params(max_epochs=max_epochs, samples_per_epoch=QUICK_SAMPLES_PER_EPOCH)
    rows = {
        "raw pixels": None,
        "PCA (32)": PCA(n_components=32, random_state=random_state),
        # Fisherfaces, NCA on PCA, HOG, LBP (NCA's iterations cut in a smoke run).
        **classic_methods(image_shape, random_state, quick),
        # What a user gets with no arguments (encoder="auto": conv + affine on images).
        "SiameseEmbedder() default": default,
        "Embedder MLP contrastive/all": SiameseEmbedder(encoder="mlp", loss="contrastive", mining="all", **common),
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
        rows[f"Embedder MLP {loss}/{mining}"] = SiameseEmbedder(encoder="mlp", loss=loss, mining=mining, **common)
    rows["SiameseVerifier() default"] = SiameseVerifier(image_shape=image_shape, random_state=random_state)
    # The default's training with Koch's per-dimension weighted-L1 head instead of the distance head.
    rows["SiameseVerifier(head='koch')"] = SiameseVerifier(head="koch", image_shape=image_shape, random_state=random_state)
    # Koch et al.'s model: the L1 head's binary cross-entropy trains the encoder too.
    rows["SiameseVerifier(loss='bce')"] = SiameseVerifier(loss="bce", image_shape=image_shape, random_state=random_state)
    rows["Verifier MLP default loss (contrastive+bce)"] = SiameseVerifier(encoder="mlp", **common)
    rows["Verifier MLP bce (Koch end-to-end)"] = SiameseVerifier(encoder="mlp", loss="bce", **common)
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


MEASURES = [("seen", "seen verif."), ("unseen", "unseen verif."), ("mixed", "mixed verif."), ("one_shot", "unseen 1-shot")]


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
    margins = margin_lines(results, MEASURES)
    return "\n".join(lines + ([""] + margins if margins else []))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits"], choices=["digits", "mnist5k", "fashion"])
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument("--max-samples", type=int, default=20000, help="subsample larger datasets (Fashion-MNIST)")
    parser.add_argument("--pairs", type=int, default=2000)
    add_run_arguments(parser, "--methods", max_epochs=30, episodes=500, quick_help="digits, 2 epochs, few rows: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.max_epochs, args.pairs, args.episodes = ["digits"], 2, 200, 20

    with docs_report("unseen_classes", "unseen_classes.py", argv, args.write_docs):
        print(f"# Unseen-class protocol (train on classes {SEEN})")
        print(f"machine: {machine_info()}")
        print(f"settings: {vars(args)}\n")
        by_dataset = {}
        for name in args.datasets:
            X, y, shape = load(name, args.fashion_dir, args.max_samples, args.random_state)
            parts = split(X, y, args.random_state)
            results = {}
            for method, model in methods(shape, args.max_epochs, args.quick, args.random_state).items():
                if not selected(method, args.rows):
                    continue
                results[method] = evaluate(model, parts, args.pairs, args.episodes, args.random_state)
            print(format_table(f"{name} ({len(X)} samples, {X.shape[1]} features)", results))
            print()
            by_dataset[name] = results
    return by_dataset


if __name__ == "__main__":
    main()
