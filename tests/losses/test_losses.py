"""Losses and mining against hand-computed values."""

import numpy as np
import pytest
import torch

from sklearn_siamese.distances import pairwise_distance
from sklearn_siamese.losses import (
    ContrastiveKochLoss,
    ContrastiveLoss,
    DistanceSimilarityHead,
    KochBCELoss,
    L1SimilarityHead,
    TripletLoss,
)
from sklearn_siamese.mining import mine_pairs, mine_triplets

# Four points on a line: class 0 at 0 and 1, class 1 at 3 and 3.5.
POINTS = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
LABELS = torch.tensor([0, 0, 1, 1])


def test_pairwise_distance_euclidean_and_cosine():
    d = pairwise_distance(POINTS)
    assert torch.allclose(d[0, 2], torch.tensor(3.0))
    assert torch.allclose(d[2, 3], torch.tensor(0.5))
    assert d[1, 1] < 1e-5
    v = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]])
    c = pairwise_distance(v, "cosine")
    assert torch.allclose(c, torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 1.0], [2.0, 1.0, 0.0]]), atol=1e-6)


def test_contrastive_loss_all_pairs_by_hand():
    margin = 2.0
    # Positive pairs: (0,1) d=1, (2,3) d=0.5 -> d^2/2 = 0.5, 0.125 -> mean 0.3125
    # Negative pairs: (0,2) d=3, (0,3) 3.5, (1,2) 2, (1,3) 2.5 -> all beyond margin 2 -> 0
    loss = ContrastiveLoss(margin=margin)(POINTS, LABELS)
    assert loss.item() == pytest.approx(0.3125, abs=1e-5)
    # With margin 3: negatives (1,2) -> (3-2)^2/2=0.5, (1,3) -> 0.125, others 0 -> mean 0.15625
    loss = ContrastiveLoss(margin=3.0)(POINTS, LABELS)
    assert loss.item() == pytest.approx(0.3125 + 0.15625, abs=1e-5)


def test_triplet_loss_all_by_hand():
    margin = 1.0
    # Triplets (a, p, n) with loss max(0, d(a,p) - d(a,n) + 1):
    # a=0,p=1: n=2 -> 1-3+1<0, n=3 -> <0
    # a=1,p=0: n=2 -> 1-2+1=0, n=3 -> 1-2.5+1<0
    # a=2,p=3: n=0 -> .5-3+1<0, n=1 -> .5-2+1<0 ; a=3,p=2: n=1 -> .5-2.5+1<0
    assert TripletLoss(margin=margin, mining="all")(POINTS, LABELS).item() == pytest.approx(0.0, abs=1e-5)
    # margin 2: a=1,p=0,n=2 -> 1; a=1,p=0,n=3 -> .5; a=2,p=3,n=1 -> .5; a=3,p=2,n=1 -> 0
    # a=0,p=1,n=2 -> 0; others 0 -> mean over positive ones: (1 + .5 + .5) / 3
    loss = TripletLoss(margin=2.0, mining="all")(POINTS, LABELS)
    assert loss.item() == pytest.approx(2.0 / 3, abs=1e-5)


def test_batch_hard_and_semihard_triplets():
    d = pairwise_distance(POINTS)
    a, p, n = mine_triplets(d, LABELS, "hard")
    # Every anchor: its only positive; the closest negative.
    assert a.tolist() == [0, 1, 2, 3]
    assert p.tolist() == [1, 0, 3, 2]
    assert n.tolist() == [2, 2, 1, 1]
    a, p, n = mine_triplets(d, LABELS, "semihard")
    # Semi-hard: closest negative farther than the positive.
    for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist()):
        negs = [j for j in range(4) if LABELS[j] != LABELS[ai]]
        farther = [j for j in negs if d[ai, j] > d[ai, pi]]
        assert ni == min(farther, key=lambda j: d[ai, j])


def test_semihard_falls_back_to_farthest_negative():
    points = torch.tensor([[0.0], [5.0], [1.0], [2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    a, p, n = mine_triplets(pairwise_distance(points), labels, "semihard")
    first = [(ai, ni) for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist()) if (ai, pi) == (0, 1)]
    # No negative is farther from 0 than 5: the farthest one (index 3) is used.
    assert first == [(0, 3)]


def test_random_pairs_mining_uses_consecutive_pairs():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    i, j, same = mine_pairs(torch.zeros(6, 6), labels, "random_pairs")
    assert i.tolist() == [0, 2, 4] and j.tolist() == [1, 3, 5]
    assert same.tolist() == [True, False, True]


def test_all_pairs_mining_counts():
    labels = torch.tensor([0, 0, 1, 1, 2])
    i, j, same = mine_pairs(torch.zeros(5, 5), labels, "all")
    assert len(i) == 10 and int(same.sum()) == 2


def test_koch_head_and_bce_by_hand():
    head = L1SimilarityHead(2)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[-1.0, 2.0]]))
        head.linear.bias.fill_(0.5)
    e1, e2 = torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 1.5]])
    # |e1 - e2| = (2, 0.5) -> -2 + 1 + 0.5 = -0.5
    assert head(e1, e2).item() == pytest.approx(-0.5)

    loss = KochBCELoss(embedding_dim=2)
    loss.head.load_state_dict(head.state_dict())
    emb = torch.tensor([[1.0, 1.0], [3.0, 1.5], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 0])
    # Pairs: (0,1) diff logit -0.5; (0,2) same logit 0.5; (1,2) diff logit -0.5
    bce = lambda z, t: -(t * np.log(1 / (1 + np.exp(-z))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))  # noqa: E731
    expected = bce(0.5, 1) + bce(-0.5, 0)
    assert loss(emb, labels).item() == pytest.approx(expected, abs=1e-5)


def test_nonpositive_head_output_by_hand():
    head = L1SimilarityHead(2, nonpositive=True)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[0.0, np.log(np.e - 1)]]))  # softplus -> [log 2, 1]
        head.linear.bias.fill_(0.5)
    e1 = torch.tensor([[1.0, 2.0]])
    e2 = torch.tensor([[0.0, 4.0]])
    np.testing.assert_allclose(head(e1, e2).detach().numpy(), [0.5 - np.log(2) - 2], rtol=1e-6)


def test_tied_head_scales_the_l1_distance():
    head = L1SimilarityHead(3, nonpositive=True, tied=True)
    assert head.linear.weight.numel() == 1 and head.weight.shape == (3,)
    e1, e2 = torch.randn(4, 3), torch.randn(4, 3)
    l1 = (e1 - e2).abs().sum(1)
    expected = head.linear.bias - torch.nn.functional.softplus(head.linear.weight.reshape(())) * l1
    torch.testing.assert_close(head(e1, e2), expected)


def test_distance_head_starts_as_the_contrastive_map_and_is_deterministic():
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    head = DistanceSimilarityHead("euclidean", margin=0.5)
    assert torch.equal(torch.random.get_rng_state(), state)  # no random initialisation
    e1, e2 = torch.randn(6, 4), torch.randn(6, 4)
    d = (e1 - e2).norm(dim=1)
    torch.testing.assert_close(head(e1, e2), 4 * (1 - 2 * d / 0.5), rtol=1e-5, atol=1e-5)
    cosine = DistanceSimilarityHead("cosine")
    expected = 4 - 8 * (1 - torch.nn.functional.cosine_similarity(e1, e2))
    torch.testing.assert_close(cosine(e1, e2), expected, rtol=1e-5, atol=1e-5)


def test_contrastive_koch_loss_heads():
    assert isinstance(ContrastiveKochLoss(3).head, DistanceSimilarityHead)  # the verifier's default
    koch = ContrastiveKochLoss(3, head="koch").head
    assert isinstance(koch, L1SimilarityHead) and koch.nonpositive and koch.linear.weight.numel() == 3
    with pytest.raises(ValueError, match="head must be 'distance' or 'koch'"):
        ContrastiveKochLoss(3, head="l2")


def test_losses_have_gradients():
    emb = torch.randn(8, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    for loss in (ContrastiveLoss(), TripletLoss(mining="semihard"), TripletLoss(mining="hard"), KochBCELoss(3)):
        emb.grad = None
        loss(emb, labels).backward()
        assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0


def test_contrastive_koch_loss_trains_encoder_by_contrastive_only():
    emb = torch.randn(8, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    joint = ContrastiveKochLoss(3, margin=0.7)
    value = joint(emb, labels)
    assert value.item() == pytest.approx((ContrastiveLoss(margin=0.7)(emb, labels) + joint.bce(emb, labels)).item())
    value.backward()
    # The head learns; the encoder sees only the contrastive gradient.
    assert all(p.grad.abs().sum() > 0 for p in joint.head.parameters())
    expected = torch.autograd.grad(ContrastiveLoss(margin=0.7)(emb, labels), emb)[0]
    torch.testing.assert_close(emb.grad, expected)


@pytest.mark.parametrize(
    "loss", [KochBCELoss(32), ContrastiveLoss(mining="semihard"), TripletLoss(mining="hard")], ids=type
)
def test_gradients_with_repeated_pairs_do_not_depend_on_threads(loss):
    """Mined indices repeat; their gradient must sum in the same order on 1 and 2 threads.

    (Large enough for torch to split the work: KochBCELoss gave different
    gradients on 1 and 2 threads at this size before it gathered rows with
    ``index_select``.)
    """
    gen = torch.Generator().manual_seed(0)
    emb = torch.randn(128, 32, generator=gen)
    labels = torch.arange(128) % 8
    grads = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 2, 2):
            torch.set_num_threads(n)
            e = emb.clone().requires_grad_(True)
            loss(e, labels).backward()
            grads.append(e.grad)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[1], grads[2])


def test_nt_xent_by_hand():
    from sklearn_siamese.losses import nt_xent

    # Two samples, two views each, orthogonal unit vectors: views of a sample agree.
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    second = first.clone()
    t = 0.5
    # For each view: partner similarity 1/t, the other two 0/t.
    expected = -np.log(np.exp(1 / t) / (np.exp(1 / t) + 2 * np.exp(0.0)))
    assert nt_xent(first, second, temperature=t).item() == pytest.approx(expected, abs=1e-5)
    # Swapped partners are worse.
    assert nt_xent(first, second.flip(0), temperature=t) > nt_xent(first, second, temperature=t)
