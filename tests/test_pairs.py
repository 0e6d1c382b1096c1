"""Tests of sklearn_siamese.pairs."""

import numpy as np
from sklearn.datasets import load_digits

from sklearn_siamese.pairs import make_pairs


def test_make_pairs_is_shuffled_so_slices_are_balanced():
    X, y = load_digits(return_X_y=True)
    pairs, same = make_pairs(X, y, n_pairs=400, random_state=0)
    # Every same-class pair came first before the pairs were shuffled.
    assert 0.35 < same[:200].mean() < 0.65
    assert 0.35 < same[200:].mean() < 0.65
    assert same.sum() == 200
    assert np.array_equal(same, (y_of(pairs[:, 0], X, y) == y_of(pairs[:, 1], X, y)).astype(int))
    again, same_again = make_pairs(X, y, n_pairs=400, random_state=0)
    assert np.array_equal(again, pairs) and np.array_equal(same_again, same)


def y_of(rows, X, y):
    """The label of each row, found by matching it against X."""
    return np.array([y[np.flatnonzero((X == row).all(axis=1))[0]] for row in rows])
