"""Batch samplers: batch layout, freshness and balance."""

import numpy as np

from sklearn_siamese.sampling import PKSampler, RandomPairSampler, RandomTripletSampler

Y = np.repeat(np.arange(10), 12)  # 10 classes x 12 samples


def test_pk_batches_have_p_classes_of_k_samples():
    sampler = PKSampler(Y, batch_size=32, samples_per_class=4, rng=np.random.default_rng(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == int(np.ceil(len(Y) / 32))
    for idx in batches:
        classes, counts = np.unique(Y[idx], return_counts=True)
        assert len(classes) == 8 and (counts == 4).all()
        assert len(np.unique(idx)) == len(idx)


def test_pk_sampler_is_fresh_every_epoch():
    sampler = PKSampler(Y, batch_size=32, samples_per_class=4, rng=np.random.default_rng(0))
    first, second = list(sampler), list(sampler)
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))


def test_pk_sampler_grows_k_with_few_classes_and_keeps_singletons_as_negatives():
    y = np.array([0] * 20 + [1] * 20 + [2])
    sampler = PKSampler(y, batch_size=16, samples_per_class=4, rng=np.random.default_rng(0))
    # Only 3 classes exist, so K grows from 4 to 16 // 3 = 5 to keep batches full.
    assert sampler.samples_per_class == 5
    batches = list(sampler)
    assert len(batches) > 0  # the checks below run on something
    for b in batches:
        counts = np.bincount(y[b], minlength=3)
        assert counts[0] in (0, 5) and counts[1] in (0, 5)
        assert counts.max() >= 2  # every batch has a positive pair
    seen_singleton = any((y[b] == 2).any() for _ in range(20) for b in sampler)
    assert seen_singleton


def test_random_pairs_are_balanced_and_valid():
    sampler = RandomPairSampler(Y, batch_size=64, rng=np.random.default_rng(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0  # the checks below run on something
    for idx in batches:
        pairs = idx.reshape(-1, 2)
        same = Y[pairs[:, 0]] == Y[pairs[:, 1]]
        assert same.sum() == len(pairs) // 2
        assert (pairs[:, 0] != pairs[:, 1]).all()


def test_random_triplets_are_valid():
    sampler = RandomTripletSampler(Y, batch_size=60, rng=np.random.default_rng(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0  # the checks below run on something
    for idx in batches:
        a, p, n = idx.reshape(-1, 3).T
        assert (Y[a] == Y[p]).all() and (a != p).all() and (Y[a] != Y[n]).all()
