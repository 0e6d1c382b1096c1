"""Nearest-neighbour search over a large reference set: faiss HNSW vs scikit-learn brute force.

References and queries are unit-length 64-d vectors around 10,000 class
centres (like the embeddings of a SiameseEmbedder with normalize=True).
Reports build time, queries per second, recall@10 against exact search and
the memory the index adds (resident memory growth across the build). scikit-learn's
brute force is timed on a subset of the queries and extrapolated when
``--exact-queries`` is below ``--n-queries``; recall is measured on that
subset. Then the fitted HNSW transformer is saved to a file and loaded
back, with pickle and (when installed) skops: the index travels as faiss's
serialised bytes, so loading does not add the references again; load
time is set against the build (rebuild) time.

    python benchmarks/search.py                       # 1M references, 10k queries
    python benchmarks/search.py --quick               # 50k references, 1k queries
"""

import argparse
import os
import pickle
import resource
import tempfile
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

import _common
from sklearn_siamese.neighbors import ApproximateKNeighborsTransformer

K = 10


def make_vectors(n, n_queries, dim, random_state=0):
    rng = np.random.default_rng(random_state)
    centres = rng.normal(size=(10_000, dim)).astype(np.float32)
    def draw(m):
        X = centres[rng.integers(len(centres), size=m)] + 0.5 * rng.normal(size=(m, dim)).astype(np.float32)
        return X / np.linalg.norm(X, axis=1, keepdims=True)
    return draw(n), draw(n_queries)


def rss_mb():
    """Resident memory now (the index's own size shows as growth across the build)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, where /proc is missing


def run(name, model, X, Q, n_timed):
    before = rss_mb()
    start = time.perf_counter()
    model.fit(X)
    build = time.perf_counter() - start
    added = rss_mb() - before
    start = time.perf_counter()
    ind = model.kneighbors(Q[:n_timed], K, return_distance=False)
    qps = n_timed / (time.perf_counter() - start)
    return dict(name=name, build=build, qps=qps, memory=added, ind=ind)


def _seconds(s):
    return f"{s:.2f}" if s < 1 else f"{s:.1f}"


def _pickle_dump(model, path):
    with open(path, "wb") as f:
        pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def save_and_load(model, Q, build_s, folder):
    """Rows of the persistence table: save and load ``model`` with pickle and skops, set against ``build_s``."""
    expected = model.kneighbors(Q, K, return_distance=False)
    formats = [("pickle", _pickle_dump, _pickle_load)]
    try:
        import skops.io as sio

        from sklearn_siamese.persistence import TRUSTED_TYPES

        formats.append(("skops", sio.dump, lambda path: sio.load(path, trusted=TRUSTED_TYPES)))
    except ImportError:
        print("(skops is not installed: pip install 'sklearn-siamese[skops]' for its rows)")
    rows, results = [], []
    for name, dump, load in formats:
        path = os.path.join(folder, f"index.{name}")
        start = time.perf_counter()
        dump(model, path)
        save_s = time.perf_counter() - start
        start = time.perf_counter()
        loaded = load(path)
        load_s = time.perf_counter() - start
        same = np.array_equal(loaded.kneighbors(Q, K, return_distance=False), expected)
        size = os.path.getsize(path)
        os.remove(path)
        del loaded
        rows.append([name, _seconds(save_s), _seconds(load_s), f"{build_s / load_s:.0f}x", f"{size / 2**20:.0f}",
                     "yes" if same else "NO"])
        results.append(
            dict(name=f"load ({name})", save=save_s, load=load_s, speedup=build_s / load_s, size=size, same=same)
        )
    return rows, results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-references", type=int, default=1_000_000)
    parser.add_argument("--n-queries", type=int, default=10_000)
    parser.add_argument("--exact-queries", type=int, default=1_000, help="queries timed with brute force")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--quick", action="store_true", help="50,000 references, 1,000 queries")
    _common.add_write_docs_argument(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_references, args.n_queries, args.exact_queries = 50_000, 1_000, 200
    X, Q = make_vectors(args.n_references, args.n_queries, args.dim)
    n_exact = min(args.exact_queries, args.n_queries)
    # Brute force first, so the index's memory is not counted in its row.
    exact = run("scikit-learn NearestNeighbors(algorithm='brute')", NearestNeighbors(algorithm="brute"), X, Q, n_exact)
    truth = exact["ind"]
    rows = [[exact["name"], f"{exact['build']:.1f}", f"{exact['qps']:,.0f} (on {n_exact:,} queries)", "1.000",
             f"{exact['memory']:.0f}"]]
    results = [exact]
    hnsw = ApproximateKNeighborsTransformer(K, index="hnsw")
    for i, ef in enumerate(args.ef_search):
        hnsw.set_params(ef_search=ef)
        if i == 0:
            r = run(f"ApproximateKNeighborsTransformer(index='hnsw', ef_search={ef})", hnsw, X, Q, args.n_queries)
        else:  # the same index, searched more widely
            start = time.perf_counter()
            ind = hnsw.kneighbors(Q, K, return_distance=False)
            r = dict(name=f"... ef_search={ef}", build=0.0, qps=args.n_queries / (time.perf_counter() - start),
                     memory=0.0, ind=ind)
        recall = np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(r["ind"][:n_exact], truth)])
        r["recall"] = recall
        rows.append([r["name"], f"{r['build']:.1f}" if i == 0 else "(same index)",
                     f"{r['qps']:,.0f} (on {args.n_queries:,} queries)", f"{recall:.3f}",
                     f"{r['memory']:.0f}" if i == 0 else ""])
        results.append(r)
    n_check = min(1_000, args.n_queries)
    with tempfile.TemporaryDirectory() as folder:
        saved_rows, saved = save_and_load(hnsw, Q[:n_check], results[1]["build"], folder)
    results += saved
    with _common.docs_report("search", "search.py", argv, args.write_docs):
        print(f"# Search: {args.n_references:,} references x {args.dim}-d, {args.n_queries:,} queries, k={K}\n")
        print(_common.machine_info() + "\n")
        print(_common.table(["method", "build (s)", "queries/s", f"recall@{K}", "memory held by the index (MiB)"], rows))
        print(f"\nrecall@{K} against brute force on the first {n_exact:,} queries; data {X.nbytes / 2**20:.0f} MiB float32.")
        print("\n## Saving and loading the fitted HNSW transformer\n")
        print(_common.table(
            ["format", "save (s)", "load (s)", f"load vs rebuild ({results[1]['build']:.1f} s)", "file (MiB)",
             f"same neighbours of {n_check:,} queries"],
            saved_rows,
        ))
        print("\nThe index is stored as faiss's serialised bytes (`faiss.serialize_index`): loading reads them "
              "back (`faiss.deserialize_index`) and adds no reference again.")
    return results


if __name__ == "__main__":
    main()
