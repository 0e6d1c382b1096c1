"""Open-set identification: enrol the training classes, identify their new samples, reject strangers.

For each data set: train on 70% of the samples of the enrolled classes
(digits 2-7 for the digit sets, 9 of the 15 people for the faces); enrol
each of them with 1 or 5 references drawn from those training samples;
probe with the held-out 30% of the enrolled classes and with every sample
of the classes never seen in training. The stranger classes are split in
two halves in every way (6 ordered splits of the 4 digit strangers, 20 of
the 6 faces): the operating point is calibrated on one half for a target
false-accept rate (FAR) and scored on the other. A user cannot calibrate on
the strangers who will come, so the FAR measured on the scored half is
reported beside the target, as its mean, standard deviation and range over
the splits; DIR is averaged over them.

Rows: raw pixels, PCA and the classic baselines of ``_classic.py``
(Fisherfaces, NCA, HOG, LBP), each a threshold on the nearest reference's
score set with ``best_threshold(..., "far", rule=...)``;
``SiameseEmbedder()`` behind a ``RadiusNeighborsClassifier`` whose radius
``calibrate_radius`` sets (and the same with ``loss="proxy_anchor"``), and
``SiameseVerifier(outlier_label=-1)`` with
``calibrate_rejection``. Every row calibrates with the same rule,
``--rule`` (default ``conformal``, the package's; ``empirical`` is the rule
before 0.1.0). DIR is the fraction of the enrolled classes' probes
identified and accepted; "best DIR" is the rate at the target with the
threshold set on the scored strangers themselves (``dir_at_far``): what a
perfect calibration would give. Below each table, the strongest baseline
by DIR at FAR 10% and each package row's margin over it.

    python benchmarks/open_set.py                                   # load_digits
    python benchmarks/open_set.py --datasets digits mnist5k fashion faces
    python benchmarks/open_set.py --quick                            # seconds, for CI
    python benchmarks/open_set.py --datasets faces --rule empirical  # the former calibration
"""

import argparse
import itertools
import os
import time
import warnings

import numpy as np
import torch
from _classic import classic_methods, strongest
from _common import FASHION_DIR, ROWS_HELP, QUICK_SAMPLES_PER_EPOCH, SEEN, docs_report, load, machine_info, selected
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.neighbors import RadiusNeighborsClassifier
from sklearn.pipeline import make_pipeline

from sklearn_siamese import SiameseEmbedder, SiameseVerifier
from sklearn_siamese.datasets import load_image_folder
from sklearn_siamese.gallery import identify
from sklearn_siamese.metrics import dir_at_far
from sklearn_siamese.neighbors import calibrate_radius
from sklearn_siamese.pairs import best_threshold

# The faces are never copied into the repository: read from the shared folder beside the checkout.
FACES_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/data/yalefaces"))
UNKNOWN = -1
FARS = (0.01, 0.1)
REFERENCES = (1, 5)


def load_dataset(name, args):
    """``(X, y, enrolled classes, stranger classes)``, or None when absent."""
    if name == "faces":
        if not os.path.isdir(args.faces_dir):
            return None
        faces = load_image_folder(args.faces_dir, image_size=(32, 32), flatten=True)
        # Person numbers 0-14, so that -1 can mark a stranger in every row's predictions.
        X, y = faces.data.astype(np.float32), np.unique(faces.target, return_inverse=True)[1]
        classes = np.unique(y)
        return X, y, classes[:9], classes[9:]
    X, y, _ = load(name, args.fashion_dir, args.max_samples, args.random_state)
    return X, y, np.array(SEEN), np.array([0, 1, 8, 9])


def stranger_splits(strangers):
    """Every ordered split of the stranger classes into two halves: (calibrated on, scored on)."""
    half = len(strangers) // 2
    for calibration in itertools.combinations(strangers, half):
        yield np.array(calibration), np.setdiff1d(strangers, calibration)


def split(X, y, enrolled, random_state):
    """Training and held-out probe rows of the enrolled classes (70/30, stratified)."""
    rows = np.flatnonzero(np.isin(y, enrolled))
    train, probe = train_test_split(rows, train_size=0.7, stratify=y[rows], random_state=random_state)
    return np.sort(train), np.sort(probe)


def gallery_rows(y, train, n_references, random_state):
    rng = np.random.RandomState(random_state)
    return np.concatenate([rng.choice(train[y[train] == c], n_references, replace=False) for c in np.unique(y[train])])


def open_set_rates(predicted, y_probe, unknown):
    """DIR (known probes identified and accepted) and FAR (unknown probes accepted)."""
    known = ~unknown
    return float(np.mean(predicted[known] == y_probe[known])), float(np.mean(predicted[unknown] != UNKNOWN))


class DistanceThreshold:
    """Raw pixels or a transformer: nearest reference, accepted when its score is high enough."""

    def __init__(self, transformer, rule):
        self.transformer = transformer
        self.rule = rule

    def fit(self, X, y):
        if self.transformer is not None:
            self.transformer.fit(X, y)
        return self

    def enrol(self, X, y):
        self.X_gallery, self.y_gallery = X, y

    def _best(self, X):
        match = identify(self.transformer, X, self.X_gallery, self.y_gallery, k=1)
        return match.scores[:, 0], match.labels[:, 0]

    def calibrate(self, X, y, far):
        best, _ = self._best(X)
        known = np.isin(y, self.y_gallery).astype(int)
        self.threshold = best_threshold(best, known, "far", far=far, rule=self.rule)

    def predict(self, X):
        best, labels = self._best(X)
        return np.where(best >= self.threshold, labels, UNKNOWN)

    def measure(self):
        return self.transformer


class RadiusEmbedder:
    """SiameseEmbedder() frozen in front of a RadiusNeighborsClassifier, radius from calibrate_radius."""

    def __init__(self, embedder, rule):
        self.embedder = embedder
        self.rule = rule

    def fit(self, X, y):
        self.embedder.fit(X, y)
        return self

    def enrol(self, X, y):
        rnc = RadiusNeighborsClassifier(radius=1.0, outlier_label=UNKNOWN)
        self.model = make_pipeline(FrozenEstimator(self.embedder), rnc).fit(X, y)

    def calibrate(self, X, y, far):
        radius = calibrate_radius(self.model, X, y, far=far, rule=self.rule)
        self.model.set_params(radiusneighborsclassifier__radius=radius)

    def predict(self, X):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Outlier label", UserWarning)
            return self.model.predict(X)

    def measure(self):
        return self.embedder


class RejectingVerifier:
    """SiameseVerifier(outlier_label=-1): fit_references, calibrate_rejection, predict."""

    def __init__(self, verifier, rule):
        self.verifier = verifier
        self.rule = rule

    def fit(self, X, y):
        self.verifier.fit(X, y)
        return self

    def enrol(self, X, y):
        self.verifier.fit_references(X, y)

    def calibrate(self, X, y, far):
        self.verifier.calibrate_rejection(X, y, far=far, rule=self.rule)

    def predict(self, X):
        return self.verifier.predict(X)

    def measure(self):
        return self.verifier


def methods(max_epochs, quick, random_state, image_shape, rule, samples_per_epoch="auto"):
    # Every data set here is square images as flat rows: say so (no guess, no warning).
    default = dict(random_state=random_state, image_shape=image_shape, samples_per_epoch=samples_per_epoch)
    if quick:
        default.update(max_epochs=max_epochs, samples_per_epoch=QUICK_SAMPLES_PER_EPOCH)
    rows = {
        "raw pixels": DistanceThreshold(None, rule),
        "PCA (32)": DistanceThreshold(PCA(n_components=32, random_state=random_state), rule),
    }
    for name, transformer in classic_methods(image_shape, random_state).items():
        rows[name] = DistanceThreshold(transformer, rule)
    rows["SiameseEmbedder() + calibrate_radius"] = RadiusEmbedder(SiameseEmbedder(**default), rule)
    # A loss of face recognition (issue 39), the defaults otherwise.
    rows["SiameseEmbedder(loss='proxy_anchor') + calibrate_radius"] = RadiusEmbedder(
        SiameseEmbedder(**default, loss="proxy_anchor"), rule
    )
    rows["SiameseVerifier(outlier_label=-1)"] = RejectingVerifier(SiameseVerifier(outlier_label=UNKNOWN, **default), rule)
    return rows


def summarise(runs):
    """Mean DIR, the measured FAR's mean, std, min and max, mean best DIR, worst FAR on the calibration strangers."""
    dir_, measured, best, on_calibration = np.asarray(runs).T
    return {
        "dir": dir_.mean(), "far_mean": measured.mean(), "far_std": measured.std(), "far_min": measured.min(),
        "far_max": measured.max(), "best": best.mean(), "far_calibration_max": on_calibration.max(),
        "n_splits": len(runs),
    }  # fmt: skip


def evaluate(method, X, y, enrolled, strangers, random_state):
    """Fit once; for each number of references and target FAR, the summary over every stranger split."""
    train, probe = split(X, y, enrolled, random_state)
    start = time.perf_counter()
    method.fit(X[train], y[train])
    fit_s = time.perf_counter() - start
    results = {}
    for n_references in REFERENCES:
        gallery = gallery_rows(y, train, n_references, random_state)
        method.enrol(X[gallery], y[gallery])
        for far in FARS:
            runs = []
            for calibration, scored in stranger_splits(strangers):
                cal_rows = np.flatnonzero(np.isin(y, calibration))
                method.calibrate(X[cal_rows], y[cal_rows], far)
                # On the strangers it was calibrated on, the rate is at most the target by construction.
                far_calibration = float(np.mean(method.predict(X[cal_rows]) != UNKNOWN))
                rows = np.concatenate([probe, np.flatnonzero(np.isin(y, scored))])
                unknown = np.isin(y[rows], scored)
                dir_, far_measured = open_set_rates(method.predict(X[rows]), y[rows], unknown)
                best = dir_at_far(method.measure(), X[gallery], y[gallery], X[rows], y[rows], far=far)
                runs.append((dir_, far_measured, best, far_calibration))
            results[(n_references, far)] = summarise(runs)
    return results, fit_s


def format_far(summary):
    """The measured FAR over the stranger splits: mean, standard deviation and range, in %."""
    s = {key: 100 * value for key, value in summary.items() if key.startswith("far_")}
    return f"{s['far_mean']:.1f} ± {s['far_std']:.1f} ({s['far_min']:.0f}-{s['far_max']:.0f})"


def margins(results, far=0.1):
    """For each number of references: the strongest baseline by DIR at ``far``, and each package row's margin."""
    out = {}
    for n_references in REFERENCES:
        table = {name: res[(n_references, far)] for name, (res, _) in results.items()}
        name, value = strongest(table, "dir")
        if name is not None:
            out[n_references] = (name, value, {row: r["dir"] - value for row, r in table.items() if row.startswith("Siamese")})
    return out


def format_table(title, results, rule):
    header = ["method", "refs"]
    for far in FARS:
        header += [
            f"DIR @ FAR {100 * far:g}%", f"measured FAR % (target {100 * far:g}%): mean ± std (min-max)",
            f"best DIR @ {100 * far:g}%",
        ]  # fmt: skip
    lines = [f"#### {title}", "", "| " + " | ".join(header) + " | fit (s) |", "|" + "---|" * (len(header) + 1)]
    for name, (res, fit_s) in results.items():
        for n_references in REFERENCES:
            cells = [name, str(n_references)]
            for far in FARS:
                summary = res[(n_references, far)]
                cells += [f"{summary['dir']:.3f}", format_far(summary), f"{summary['best']:.3f}"]
            lines.append("| " + " | ".join(cells) + f" | {fit_s:.1f} |")
    n_splits = next(iter(results.values()))[0][(REFERENCES[0], FARS[0])]["n_splits"] if results else 0
    lines += ["", f"Calibration rule: {rule}; FAR over {n_splits} stranger splits."]
    for n_references, (name, value, rows) in margins(results).items():
        gains = ", ".join(f"{row}: {100 * gain:+.1f} points" for row, gain in rows.items())
        lines.append(
            f"Strongest baseline, {n_references} ref(s), DIR @ FAR 10%: {name} ({value:.3f}); margin over it: {gains or 'no package row'}."
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["digits"], choices=["digits", "mnist5k", "fashion", "faces"]
    )
    parser.add_argument("--fashion-dir", default=FASHION_DIR)
    parser.add_argument("--faces-dir", default=FACES_DIR, help="yalefaces: a folder of photos per person")
    parser.add_argument("--max-samples", type=int, default=10000, help="subsample larger datasets (Fashion-MNIST)")
    parser.add_argument("--max-epochs", type=int, default=2, help="epochs of the --quick run (otherwise the defaults)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--samples-per-epoch", type=lambda v: v if v == "auto" else int(v), default="auto",
                        help="the package rows' samples_per_epoch (4096: an epoch as before issue 40 on small data)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--methods", dest="rows", nargs="*", help=ROWS_HELP)
    parser.add_argument(
        "--rule", choices=["conformal", "empirical"], default="conformal",
        help="how every row calibrates its threshold (calibrate_radius's rule; empirical: before 0.1.0)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="digits, 2 epochs: a smoke test")
    parser.add_argument("--write-docs", action="store_true", help="also write the report to docs/benchmarks/_generated/")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.datasets = ["digits"]

    all_results = {}
    with docs_report("open_set", "open_set.py", argv, args.write_docs):
        print("# Open-set identification (enrolled training classes, strangers never seen)")
        print(f"machine: {machine_info()}")
        print(f"settings: {vars(args)}\n")
        for name in args.datasets:
            data = load_dataset(name, args)
            if data is None:
                print(f"#### {name}\n\nskipped: {args.faces_dir} is absent.\n")
                continue
            X, y, enrolled, strangers = data
            results = {}
            side = int(round(np.sqrt(X.shape[1])))
            rows = methods(args.max_epochs, args.quick, args.random_state, (side, side), args.rule, args.samples_per_epoch)
            for method_name, method in rows.items():
                if selected(method_name, args.rows):
                    results[method_name] = evaluate(method, X, y, enrolled, strangers, args.random_state)
            title = (
                f"{name} ({len(X)} samples, {X.shape[1]} features; enrolled {enrolled.tolist()}, "
                f"strangers {strangers.tolist()}, calibrated on half of them and scored on the other)"
            )
            print(format_table(title, results, args.rule))
            print()
            all_results[name] = results
    return all_results


if __name__ == "__main__":
    main()
