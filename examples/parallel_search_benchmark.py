"""Time a GridSearchCV over ``margin`` serially and on 2 loky workers.

    python examples/parallel_search_benchmark.py

Rows: n_jobs=1 (torch uses every core); n_jobs=2 with joblib's default
(each worker limited to cpu_count // 2 threads); n_jobs=2 with
``inner_max_num_threads=cpu_count`` (each worker uses every core:
oversubscribed). Also checks that all three give the same scores.
"""

import time

import joblib
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklearn_siamese import MLPEncoder, SiameseEmbedder


def main():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    est = SiameseEmbedder(MLPEncoder(hidden_sizes=(64, 64)), max_epochs=3, validation_fraction=None, random_state=0)
    grid = {"margin": [0.5, 1.0]}
    n_cores = joblib.cpu_count()
    runs = [
        ("n_jobs=1", 1, None),
        (f"n_jobs=2, {max(1, n_cores // 2)} thread(s)/worker (joblib default)", 2, None),
        (f"n_jobs=2, {n_cores} threads/worker (oversubscribed)", 2, n_cores),
    ]
    print(f"{n_cores} cores; torch threads in this process: {torch.get_num_threads()}")
    scores = []
    for name, n_jobs, inner in runs:
        with joblib.parallel_backend("loky", inner_max_num_threads=inner):
            start = time.perf_counter()
            search = GridSearchCV(est, grid, cv=2, n_jobs=n_jobs, refit=False).fit(X, y)
            elapsed = time.perf_counter() - start
        scores.append(search.cv_results_["mean_test_score"])
        print(f"{name:55s} {elapsed:6.1f} s  best margin={search.best_params_['margin']}")
    print("same scores in all runs:", all(np.array_equal(s, scores[0]) for s in scores))


if __name__ == "__main__":
    main()
