"""Accuracy and fit time of ``precision="float32"`` against ``"bfloat16"`` at equal epochs.

Run from the repository root::

    python benchmarks/precision_accuracy.py --threads 1

Each dataset is split once into training and held-out rows (same classes,
unseen samples); both precisions train the same encoder for the same
epochs with the same seeds, alternating, and the held-out 1-NN accuracy
(training rows as references) and the fit time are reported per seed.
"""

import argparse
import time

import torch
from _common import load, machine_info, table
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

from sklearn_siamese import ConvEncoder, MLPEncoder, SiameseEmbedder

# Dataset: (encoder for its image shape, epochs).
SETUPS = {
    "digits": (lambda shape: MLPEncoder(hidden_sizes=(256, 256)), 10),
    "mnist5k": (lambda shape: ConvEncoder(input_shape=shape, channels=(64,) * 4), 3),
}


def held_out_accuracy(est, X_train, y_train, X_test, y_test):
    knn = KNeighborsClassifier(n_neighbors=1).fit(est.transform(X_train), y_train)
    return knn.score(est.transform(X_test), y_test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"Machine: {machine_info()}\n")
    rows = []
    for name, (encoder, epochs) in SETUPS.items():
        X, y, shape = load(name)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        for seed in range(args.seeds):
            result = {}
            for precision in ("float32", "bfloat16") if seed % 2 == 0 else ("bfloat16", "float32"):
                est = SiameseEmbedder(
                    encoder(shape), precision=precision, max_epochs=epochs, batch_size=128, validation_fraction=None,
                    instance_weight=0.0, random_state=seed,
                )  # fmt: skip
                start = time.perf_counter()
                est.fit(X_train, y_train)
                result[precision] = (time.perf_counter() - start, held_out_accuracy(est, X_train, y_train, X_test, y_test))
            (t32, a32), (t16, a16) = result["float32"], result["bfloat16"]
            rows.append([name, epochs, seed, f"{a32:.3f}", f"{a16:.3f}", f"{t32:.1f}", f"{t16:.1f}", f"{t16 / t32:.2f}"])
            print(rows[-1], flush=True)
    header = ["data", "epochs", "seed", "acc float32", "acc bfloat16", "fit s float32", "fit s bfloat16", "time ratio"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
