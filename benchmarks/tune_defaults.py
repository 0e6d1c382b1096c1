"""Evidence for the defaults: variants of SiameseEmbedder on the unseen-class protocol.

Each row is one complete setting (spelled out, not relative to the current
defaults) and reports the same metrics as ``unseen_classes.py`` (threshold
calibrated on seen-class validation pairs). Training uses classes 2-7 only,
so ``validation_fraction="auto"`` holds nothing out.

``--dataset faces`` and ``--dataset faces-no-side-light`` run the rows on
``faces.py``'s protocol instead (real photos, 10 people to train, 5 unseen:
5-way 1-shot and pair-verification ROC AUC), split ``--random-state``; every
candidate default is run on digits, MNIST-5k, Fashion-MNIST and both face
conditions, 3 splits each (``--random-state 0 1 2``), before it is adopted.

Every run has the baseline rows too: raw pixels, PCA and the classic rows
of ``_classic.py`` (Fisherfaces, NCA on PCA, HOG, LBP); under the table the
script names the strongest baseline of each measure and gives every
variant's margin over it, in points.

    python benchmarks/tune_defaults.py --dataset digits
    python benchmarks/tune_defaults.py --dataset mnist5k --variants baseline augment
    python benchmarks/tune_defaults.py --dataset digits --variants default --random-state 1
    python benchmarks/tune_defaults.py --dataset fashion --max-samples 10000 --image-side 8 \
        --variants "raw pixels" "default (" "default, channels"
    python benchmarks/tune_defaults.py --dataset faces --variants "raw pixels" "default (" "default, validation" --random-state 1
"""

import argparse

import numpy as np
import torch

from _common import add_run_arguments, affine_for, docs_report, load, machine_info, selected, split, table
from unseen_classes import evaluate, format_table
import faces
from _classic import classic_methods, margin_lines
from sklearn.decomposition import PCA

from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from sklearn_siamese import ConvEncoder, SiameseEmbedder


class InstanceTemperature(Callback):
    """The instance term's NT-Xent temperature (0.2 in the package) set to ``t`` for one fit."""

    def __init__(self, t):
        self.t = t

    def on_train_begin(self, net, **kwargs):
        net.instance_temperature = self.t


class SnapshotAverage(Callback):
    """Stochastic weight averaging at a constant rate (Izmailov et al. 2018), with no extra pass.

    The module's floating-point state (weights and batch-norm statistics)
    is averaged over the ends of the epochs in the last ``fraction`` of
    ``max_epochs``, and the average replaces the weights when training ends.
    """

    def __init__(self, fraction=1 / 3):
        self.fraction = fraction

    def on_train_begin(self, net, **kwargs):
        self.sum_, self.count_ = None, 0

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) <= net.max_epochs * (1 - self.fraction):
            return
        state = {k: v.detach().float().clone() for k, v in net.module_.state_dict().items() if v.is_floating_point()}
        if self.sum_ is None:
            self.sum_ = state
        else:
            for key, value in state.items():
                self.sum_[key] += value
        self.count_ += 1

    def on_train_end(self, net, **kwargs):
        if self.count_:
            current = net.module_.state_dict()
            for key, value in self.sum_.items():
                current[key].copy_(value / self.count_)


def variants(shape, max_epochs=30):
    """Settings compared, each spelled out in full (not relative to the defaults)."""
    affine = affine_for(shape)
    before = dict(validation_fraction=0.2, instance_weight=0.0)  # the package's first defaults
    return {
        "first defaults: 20% of classes held out + early stopping": before,
        "no validation": dict(validation_fraction=None, instance_weight=0.0),
        "no validation, triplet/semihard": dict(validation_fraction=None, instance_weight=0.0, loss="triplet", mining="semihard"),
        "no validation, affine augmentation": dict(validation_fraction=None, instance_weight=0.0, augmentation=affine),
        "instance_weight=0.5, validation": dict(validation_fraction=0.2, instance_weight=0.5),
        "instance_weight=0.5 (new default)": dict(validation_fraction="auto", instance_weight=0.5),
        "instance_weight=1": dict(validation_fraction="auto", instance_weight=1.0),
        "instance_weight=0.5 + affine (recipe for images)": dict(validation_fraction="auto", instance_weight=0.5, augmentation=affine),
        "instance_weight=1 + affine": dict(validation_fraction="auto", instance_weight=1.0, augmentation=affine),
        "instance_weight=0.5 + affine, triplet/semihard m=0.5": dict(
            validation_fraction="auto", instance_weight=0.5, augmentation=affine, loss="triplet", mining="semihard", margin=0.5
        ),
        "instance_weight=0.5 + affine, embedding_dim=64": dict(
            validation_fraction="auto", instance_weight=0.5, augmentation=affine, embedding_dim=64
        ),
        "instance_weight=0.5 + affine, conv encoder": dict(
            validation_fraction="auto", instance_weight=0.5, augmentation=affine, encoder=ConvEncoder(input_shape=shape)
        ),
        # The current defaults (no arguments) and one change each: the candidates
        # measured against the default on three splits (--random-state 0, 1, 2).
        "default (no arguments)": {},
        "default, triplet/semihard margin=0.5": dict(loss="triplet", mining="semihard", margin=0.5),
        "default, margin=0.5": dict(margin=0.5),
        "default, triplet (batch all), normalize=False": dict(loss="triplet", normalize=False),
        # The losses of face recognition (issue 39), the default's companions kept
        # (unit length, instance term 0.5).
        "default, loss='proxy_anchor'": dict(loss="proxy_anchor"),
        "default, loss='arcface'": dict(loss="arcface"),
        "default, max_epochs=60": dict(max_epochs=60),
        "default, max_epochs=15": dict(max_epochs=15),
        "default, embedding_dim=64": dict(embedding_dim=64),
        "default, instance_weight=0.25": dict(instance_weight=0.25),
        "default, instance_weight=1": dict(instance_weight=1.0),
        "default, lr=3e-4": dict(lr=3e-4),
        "default, batch_size=128": dict(batch_size=128),
        "default, weight_decay=1e-4": dict(weight_decay=1e-4),
        "default, cosine learning-rate schedule": dict(callbacks=[LRScheduler(policy=CosineAnnealingLR, T_max=max_epochs)]),
        # The same decay, per step, by the estimators' own parameter.
        "default, lr_schedule='cosine'": dict(lr_schedule="cosine"),
        # Held-out classes bring nothing to the final model unless they train too.
        "default, validation_fraction='auto'": dict(validation_fraction="auto"),
        "default, validation_fraction='auto', refit=False": dict(validation_fraction="auto", refit=False),
        # The instance term's temperature, and an average of the last third's epoch-end weights.
        "default, instance temperature 0.1": dict(callbacks=[InstanceTemperature(0.1)]),
        "default, instance temperature 0.5": dict(callbacks=[InstanceTemperature(0.5)]),
        "default, snapshot average of the last third": dict(callbacks=[SnapshotAverage()]),
        # ConvEncoder widths (the default's augmentation kept: an explicit encoder turns "auto" off).
        "default, channels=(32, 64)": dict(encoder=ConvEncoder(channels=(32, 64)), augmentation="affine"),
        "default, channels=(64, 128)": dict(encoder=ConvEncoder(channels=(64, 128)), augmentation="affine"),
        "default, channels=(128, 256)": dict(encoder=ConvEncoder(channels=(128, 256)), augmentation="affine"),
    }


def resample(X, shape, side):
    """Square images of ``shape`` area-resampled to ``side`` x ``side`` (flat rows in, flat rows out)."""
    images = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32).reshape(-1, 1, *shape))
    return torch.nn.functional.interpolate(images, size=(side, side), mode="area").reshape(len(X), -1).numpy()


FACE_CONDITIONS = ("faces", "faces-no-side-light")


def baselines(shape, random_state):
    """The baseline rows: name -> unfitted transformer (None = raw pixels)."""
    return {"raw pixels": None, "PCA (32)": PCA(n_components=32, random_state=random_state),
            **classic_methods(shape, random_state)}


def make_model(params, args, shape):
    """A baseline row's model as it is, or the ``SiameseEmbedder`` of a variant's settings."""
    if not isinstance(params, dict):
        return params
    # image_shape: the rows are images (encoder="auto" would guess so and warn).
    defaults = {"max_epochs": args.max_epochs, "random_state": args.random_state, "image_shape": shape,
                "samples_per_epoch": args.samples_per_epoch}
    return SiameseEmbedder(**{**defaults, **params})


def run_faces(args, argv, size=32):
    """The rows on ``faces.py``'s protocol: split ``--random-state`` of the people, one condition."""
    X, y, stems, _ = faces.load_faces(args.faces_data, size)
    keep = np.ones(len(X), bool) if args.dataset == "faces" else ~np.isin(stems, faces.SIDE_LIGHT)
    order = np.random.default_rng([0, args.random_state]).permutation(np.unique(y))
    train = keep & np.isin(y, order[: faces.N_TRAIN_PEOPLE])
    test = keep & np.isin(y, order[faces.N_TRAIN_PEOPLE :])
    results = {}
    shape = (size, size)
    for name, params in {**baselines(shape, args.random_state), **variants(shape, args.max_epochs)}.items():
        if not selected(name, args.rows):
            continue
        model = make_model(params, args, shape)
        results[name] = faces.evaluate(model, X[train], y[train], X[test], y[test], args.episodes, args.random_state)
        print(f"{name}: {results[name]}", flush=True)
    print()
    with docs_report(f"tune_defaults_{args.dataset}", "tune_defaults.py", argv, args.write_docs):
        print(f"machine: {machine_info()}\n")
        print(f"#### {args.dataset}, split {args.random_state}: SiameseEmbedder settings, {args.max_epochs} epochs\n")
        print(table(["method", "unseen 5-way 1-shot", "unseen verification ROC AUC", "fit (s)"],
                    [[name, f"{r['one_shot']:.3f}", f"{r['auc']:.3f}", f"{r['fit_s']:.1f}"] for name, r in results.items()]))
        print()
        print("\n".join(margin_lines(results, faces.MEASURES)))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=["digits", "mnist5k", "fashion", *FACE_CONDITIONS])
    parser.add_argument("--faces-data", default=str(faces.DEFAULT_DATA), help="the face folder (--dataset faces...)")
    parser.add_argument("--max-samples", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument(
        "--image-side", type=int, default=None, help="area-resample the images to this side first (e.g. 8 or 14)"
    )
    parser.add_argument(
        "--samples-per-epoch", default="auto", type=lambda v: v if v == "auto" else int(v),
        help="every row's samples_per_epoch (a smaller number for a smoke run)",
    )
    add_run_arguments(parser, "--variants", max_epochs=30, episodes=500)
    args = parser.parse_args(argv)
    if args.dataset in FACE_CONDITIONS:
        return run_faces(args, argv)
    X, y, shape = load(args.dataset, max_samples=args.max_samples, random_state=args.random_state)
    if args.image_side:
        X, shape = resample(X, shape, args.image_side), (args.image_side, args.image_side)
    parts = split(X, y, args.random_state)
    results = {}
    rows = {**baselines(shape, args.random_state), **variants(shape, args.max_epochs)}
    for name, params in rows.items():
        if not selected(name, args.rows):
            continue
        model = make_model(params, args, shape)
        results[name] = evaluate(model, parts, args.pairs, args.episodes, args.random_state)
        print(f"{name}: {results[name]}", flush=True)
    print()
    data = args.dataset + (f"_{args.image_side}px" if args.image_side else "")
    with docs_report(f"tune_defaults_{data}", "tune_defaults.py", argv, args.write_docs):
        print(f"machine: {machine_info()}\n")
        print(format_table(f"{data}: SiameseEmbedder settings, {args.max_epochs} epochs", results))
    return results

if __name__ == "__main__":
    main()
