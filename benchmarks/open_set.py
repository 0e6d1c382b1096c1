"""Open-set identification: enrol the training classes, identify their new samples, reject strangers.

For each data set: train on 70% of the samples of the enrolled classes
(digits 2-7 for the digit sets, 9 of the 15 people for the faces); enrol
each of them with 1 or 5 references drawn from those training samples;
probe with the held-out 30% of the enrolled classes and with every sample
of the classes never seen in training. The strangers are split in two
halves by class: the operating point is calibrated on one half for a
target false-accept rate (FAR) and scored on the other, then the halves
swap and the two results are averaged. A user cannot calibrate on the
strangers who will come, so the FAR measured on the scored half is
reported beside the target.

Rows: raw pixels and PCA (a distance threshold on the nearest reference),
``SiameseEmbedder()`` behind a ``RadiusNeighborsClassifier`` whose radius
``calibrate_radius`` sets, and ``SiameseVerifier(outlier_label=-1)`` with
``calibrate_rejection``. DIR is the fraction of the enrolled classes'
probes identified and accepted; "best DIR" is the rate at the target with
the threshold set on the scored strangers themselves (``dir_at_far``):
what a perfect calibration would give.

    python benchmarks/open_set.py                                   # load_digits
    python benchmarks/open_set.py --datasets digits mnist5k fashion faces
    python benchmarks/open_set.py --quick                            # seconds, for CI
"""

import argparse
import os
import time
import warnings

import numpy as np
import torch
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
    """``(X, y, enrolled classes, the two halves of the stranger classes)``, or None when absent."""
    if name == "faces":
        if not os.path.isdir(args.faces_dir):
            return None
        faces = load_image_folder(args.faces_dir, image_size=(32, 32), flatten=True)
        # Person numbers 0-14, so that -1 can mark a stranger in every row's predictions.
        X, y = faces.data.astype(np.float32), np.unique(faces.target, return_inverse=True)[1]
        classes = np.unique(y)
        return X, y, classes[:9], (classes[9:12], classes[12:])
    X, y, _ = load(name, args.fashion_dir, args.max_samples, args.random_state)
    return X, y, np.array(SEEN), (np.array([0, 1]), np.array([8, 9]))


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
    """Raw pixels or a transformer: nearest reference, accepted when its distance is small enough."""

    def __init__(self, transformer):
        self.transformer = transformer

    def fit(self, X, y):
        if self.transformer is not None:
            self.transformer.fit(X)
        return self

    def enrol(self, X, y):
        self.X_gallery, self.y_gallery = X, y

    def _best(self, X):
        match = identify(self.transformer, X, self.X_gallery, self.y_gallery, k=1)
        return match.scores[:, 0], match.labels[:, 0]

    def calibrate(self, X, y, far):
        best, _ = self._best(X)
        self.threshold = best_threshold(best, np.isin(y, self.y_gallery).astype(int), "far", far=far)

    def predict(self, X):
        best, labels = self._best(X)
        return np.where(best >= self.threshold, labels, UNKNOWN)

    def measure(self):
        return self.transformer


class RadiusEmbedder:
    """SiameseEmbedder() frozen in front of a RadiusNeighborsClassifier, radius from calibrate_radius."""

    def __init__(self, embedder):
        self.embedder = embedder

    def fit(self, X, y):
        self.embedder.fit(X, y)
        return self

    def enrol(self, X, y):
        rnc = RadiusNeighborsClassifier(radius=1.0, outlier_label=UNKNOWN)
        self.model = make_pipeline(FrozenEstimator(self.embedder), rnc).fit(X, y)

    def calibrate(self, X, y, far):
        radius = calibrate_radius(self.model, X, y, far=far)
        self.model.set_params(radiusneighborsclassifier__radius=radius)

    def predict(self, X):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Outlier label", UserWarning)
            return self.model.predict(X)

    def measure(self):
        return self.embedder


class RejectingVerifier:
    """SiameseVerifier(outlier_label=-1): fit_references, calibrate_rejection, predict."""

    def __init__(self, verifier):
        self.verifier = verifier

    def fit(self, X, y):
        self.verifier.fit(X, y)
        return self

    def enrol(self, X, y):
        self.verifier.fit_references(X, y)

    def calibrate(self, X, y, far):
        self.verifier.calibrate_rejection(X, y, far=far)

    def predict(self, X):
        return self.verifier.predict(X)

    def measure(self):
        return self.verifier


def methods(max_epochs, quick, random_state, image_shape):
    # Every data set here is square images as flat rows: say so (no guess, no warning).
    default = dict(random_state=random_state, image_shape=image_shape)
    if quick:
        default.update(max_epochs=max_epochs, samples_per_epoch=QUICK_SAMPLES_PER_EPOCH)
    return {
        "raw pixels": DistanceThreshold(None),
        "PCA (32)": DistanceThreshold(PCA(n_components=32, random_state=random_state)),
        "SiameseEmbedder() + calibrate_radius": RadiusEmbedder(SiameseEmbedder(**default)),
        "SiameseVerifier(outlier_label=-1)": RejectingVerifier(SiameseVerifier(outlier_label=UNKNOWN, **default)),
    }


def evaluate(method, X, y, enrolled, halves, random_state):
    """Fit once; for each number of references and target FAR, the mean over the two stranger halves."""
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
            for calibration, scored in (halves, halves[::-1]):
                cal_rows = np.flatnonzero(np.isin(y, calibration))
                method.calibrate(X[cal_rows], y[cal_rows], far)
                # On the strangers it was calibrated on, the rate is at most the target by construction.
                far_calibration = float(np.mean(method.predict(X[cal_rows]) != UNKNOWN))
                rows = np.concatenate([probe, np.flatnonzero(np.isin(y, scored))])
                unknown = np.isin(y[rows], scored)
                dir_, far_measured = open_set_rates(method.predict(X[rows]), y[rows], unknown)
                best = dir_at_far(method.measure(), X[gallery], y[gallery], X[rows], y[rows], far=far)
                runs.append((dir_, far_measured, best, far_calibration))
            results[(n_references, far)] = np.mean(runs, axis=0)
    return results, fit_s


def format_table(title, results):
    header = ["method", "refs"]
    for far in FARS:
        header += [f"DIR @ FAR {100 * far:g}%", f"measured FAR (target {100 * far:g}%)", f"best DIR @ {100 * far:g}%"]
    lines = [f"#### {title}", "", "| " + " | ".join(header) + " | fit (s) |", "|" + "---|" * (len(header) + 1)]
    for name, (res, fit_s) in results.items():
        for n_references in REFERENCES:
            cells = [name, str(n_references)]
            for far in FARS:
                dir_, measured, best, _ = res[(n_references, far)]
                cells += [f"{dir_:.3f}", f"{100 * measured:.1f}%", f"{best:.3f}"]
            lines.append("| " + " | ".join(cells) + f" | {fit_s:.1f} |")
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
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--methods", dest="rows", nargs="*", help=ROWS_HELP)
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
            X, y, enrolled, halves = data
            results = {}
            side = int(round(np.sqrt(X.shape[1])))
            for method_name, method in methods(args.max_epochs, args.quick, args.random_state, (side, side)).items():
                if selected(method_name, args.rows):
                    results[method_name] = evaluate(method, X, y, enrolled, halves, args.random_state)
            strangers = " / ".join(str(h.tolist()) for h in halves)
            title = (
                f"{name} ({len(X)} samples, {X.shape[1]} features; enrolled {enrolled.tolist()}, "
                f"strangers {strangers})"
            )
            print(format_table(title, results))
            print()
            all_results[name] = results
    return all_results


if __name__ == "__main__":
    main()
