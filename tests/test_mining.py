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


# ------------------------------------------------ extension points, whatever the class
def test_a_subclass_of_allminer_overriding_pairs_is_used_by_the_contrastive_loss():
    from sklearn_siamese.losses import ContrastiveLoss
    from sklearn_siamese.mining import AllMiner

    class FirstPairOnly(AllMiner):
        def pairs(self, dist, labels):
            self.called = True
            return torch.tensor([0]), torch.tensor([1]), torch.tensor([bool(labels[0] == labels[1])])

    miner = FirstPairOnly()
    embeddings = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    loss = ContrastiveLoss(margin=1.0, mining=miner)(embeddings, labels)
    assert miner.called
    assert loss.item() == pytest.approx(25 / 2)  # the one same-class pair, at distance 5


@pytest.mark.parametrize(
    "returned, match",
    [
        (lambda n: (torch.arange(2), torch.arange(2)), r"BadMiner.mine must return a tuple of 3 index tensors, got 2 items"),
        (lambda n: [0, 1, 2], r"BadMiner.mine must return a tuple of 3 index tensors, got 3 items|1-D torch tensors"),
        (lambda n: (torch.arange(2), torch.arange(3), torch.arange(2)), r"3 tensors of one length, got lengths \[2, 3, 2\]"),
        (lambda n: (torch.zeros(2), torch.zeros(2), torch.zeros(2)), r"integer row indices, got dtype torch.float32"),
        (lambda n: (torch.tensor([0]), torch.tensor([n]), torch.tensor([1])), r"row indices outside the batch of 4 rows"),
    ],
)
def test_a_users_miner_output_is_checked(returned, match):
    from sklearn_siamese.losses import TripletLoss
    from sklearn_siamese.mining import Miner

    class BadMiner(Miner):
        def mine(self, dist, labels):
            return returned(len(labels))

    embeddings, labels = torch.randn(4, 3), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match=match):
        TripletLoss(mining=BadMiner())(embeddings, labels)
