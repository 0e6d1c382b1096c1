"""SiameseVerifier with a large reference set: queries/s and peak memory.

A verifier trained briefly on digits gets ``--classes`` x ``--refs``
synthetic references (random rows, so the cost and not the accuracy is
measured here); ``predict``, ``predict_proba`` and ``decision_function``
then score ``--queries`` queries, with every reference and with class
prototypes (``prototypes=True``). Peak memory is the largest traced
allocation (``tracemalloc``, which sees numpy and torch CPU buffers) above
the memory held before the call. Accuracy of the two modes is compared
on the unseen-class protocol of ``unseen_classes.py`` (4-way K-shot
episodes, every other sample of the four classes a query).

    python benchmarks/verifier_scale.py
    python benchmarks/verifier_scale.py --quick
"""

import argparse
import time
import tracemalloc

import numpy as np
from _common import add_write_docs_argument, docs_report, load, machine_info, split, table

from sklearn_siamese import SiameseVerifier


def measure(func, X):
    """Wall seconds and peak traced bytes of ``func(X)``."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    func(X)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return seconds, peak


def episode_accuracy(ver, X, y, k_shot, n_episodes, random_state, n_way=4):
    """Mean accuracy of N-way K-shot episodes run through ``fit_references`` and ``predict``.

    ``one_shot_accuracy`` matches queries to single support samples, so it
    cannot see ``prototypes``; here every other sample of the episode's
    classes is a query.
    """
    rng = np.random.default_rng(random_state)
    classes = np.unique(y)
    scores = []
    for _ in range(n_episodes):
        chosen = rng.choice(classes, size=n_way, replace=False)
        support = np.concatenate([rng.choice(np.flatnonzero(y == c), size=k_shot, replace=False) for c in chosen])
        queries = np.setdiff1d(np.flatnonzero(np.isin(y, chosen)), support)
        ver.fit_references(X[support], y[support])
        scores.append(np.mean(ver.predict(X[queries]) == y[queries]))
    return float(np.mean(scores))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=50)
    parser.add_argument("--queries", type=int, default=10000)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=500)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--samples-per-epoch", default="auto", type=lambda v: v if v == "auto" else int(v))
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    add_write_docs_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.classes, args.refs, args.queries, args.max_epochs, args.episodes = 20, 5, 200, 2, 20
        args.samples_per_epoch = 512
    with docs_report("verifier_scale", "verifier_scale.py", argv, args.write_docs):
        print("# SiameseVerifier: large reference sets")
        print(f"machine: {machine_info()}")
        print(f"settings: {vars(args)}\n")

        X, y, _ = load("digits")
        parts = split(X, y, args.random_state)
        ver = SiameseVerifier(
            image_shape=(8, 8), max_epochs=args.max_epochs, samples_per_epoch=args.samples_per_epoch,
            random_state=args.random_state,
        ).fit(*parts["train"])

        rows = []
        X_unseen, y_unseen = parts["unseen"]
        for k_shot in (1, 5):
            accuracy = []
            for prototypes in (False, True):
                ver.set_params(prototypes=prototypes)
                accuracy.append(episode_accuracy(ver, X_unseen, y_unseen, k_shot, args.episodes, args.random_state))
            rows.append([f"unseen 4-way {k_shot}-shot accuracy (digits)", f"{accuracy[0]:.3f}", f"{accuracy[1]:.3f}"])

        rng = np.random.default_rng(args.random_state)
        n_features = X.shape[1]
        X_ref = rng.random((args.classes * args.refs, n_features), dtype=np.float32)
        y_ref = np.repeat(np.arange(args.classes), args.refs)
        X_query = rng.random((args.queries, n_features), dtype=np.float32)
        ver.fit_references(X_ref, y_ref)
        result_mib = args.queries * args.classes * 8 / 2**20
        for method in ("predict", "predict_proba", "decision_function"):
            cells = []
            for prototypes in (False, True):
                ver.set_params(prototypes=prototypes)
                seconds, peak = measure(getattr(ver, method), X_query)
                cells.append(f"{args.queries / seconds:,.0f} q/s, {peak / 2**20:.0f} MiB")
            rows.append([method, *cells])
        print(f"{args.classes} classes x {args.refs} references, {args.queries} queries "
              f"(the float64 result alone is {result_mib:.0f} MiB):\n")
        print(table(["", "every reference (default)", "prototypes=True"], rows))


if __name__ == "__main__":
    main()
