"""Miner objects and their string aliases."""

import pytest
import torch

from sklearn_siamese.mining import (
    AllMiner,
    HardMiner,
    Miner,
    SampledPairs,
    SemiHardMiner,
    check_miner,
    mine_pairs,
    mine_triplets,
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    emb = torch.randn(len(labels), 4, generator=gen)
    return torch.cdist(emb, emb), labels


@pytest.mark.parametrize(
    "name, cls", [("all", AllMiner), ("semihard", SemiHardMiner), ("hard", HardMiner), ("random_pairs", SampledPairs)]
)
def test_names_resolve_to_miners_that_mine_the_same(batch, name, cls):
    dist, labels = batch
    assert type(check_miner(name)) is cls
    for by_name, by_object in zip(mine_triplets(dist, labels, name), cls().mine(dist, labels)):
        assert torch.equal(by_name, by_object)
    for by_name, by_object in zip(mine_pairs(dist, labels, cls()), check_miner(name).pairs(dist, labels)):
        assert torch.equal(by_name, by_object)


@pytest.mark.parametrize("cls", [AllMiner, SemiHardMiner, HardMiner])
def test_mined_triplets_are_valid(batch, cls):
    dist, labels = batch
    a, p, n = cls().mine(dist, labels)
    assert len(a) > 0
    assert torch.all(labels[a] == labels[p]) and torch.all(a != p) and torch.all(labels[a] != labels[n])


def test_pairs_of_a_users_miner_come_from_its_triplets(batch):
    class FirstNegative(Miner):
        def mine(self, dist, labels):
            a, p, n = AllMiner().mine(dist, labels)
            return a[:3], p[:3], n[:3]

    dist, labels = batch
    first, second, same = FirstNegative().pairs(dist, labels)
    a, p, n = FirstNegative().mine(dist, labels)
    assert torch.equal(first, torch.cat([a, a])) and torch.equal(second, torch.cat([p, n]))
    assert same.tolist() == [True] * 3 + [False] * 3


def test_base_class_says_what_to_write_and_bad_names_are_refused(batch):
    with pytest.raises(NotImplementedError, match="must implement mine"):
        Miner().mine(*batch)
    with pytest.raises(ValueError, match="mining must be one of"):
        check_miner("easy")
    with pytest.raises(ValueError, match="'mining' parameter of mine_pairs"):
        mine_pairs(*batch, "easy")
