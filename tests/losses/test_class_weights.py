"""The class-weight losses (NormFace, CosFace, ArcFace, Proxy-Anchor): their math, and the embedder with them."""

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _learning import LEARNED_MARGIN, untrained_twin
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese.losses import (
    ArcFaceLoss,
    ClassWeightCriterion,
    CosFaceLoss,
    NormFaceLoss,
    ProxyAnchorLoss,
)
from sklearn_siamese.persistence import TRUSTED_TYPES, load_weights, save_weights

NAMES = ["normface", "cosface", "arcface", "proxy_anchor"]
FAST = dict(
    encoder=MLPEncoder(hidden_sizes=(32,)), max_epochs=2, batch_size=32, samples_per_epoch=256, random_state=0
)


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[:300], y[:300]


# ------------------------------------------------------------------ the math
def _criterion(loss, weight):
    criterion = loss.build(np.arange(len(weight)), weight.shape[1])
    with torch.no_grad():
        criterion.weight.copy_(weight)
    return criterion


def _cosines(E, W):
    return (F.normalize(E, dim=1) @ F.normalize(W, dim=1).T).double()


E = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.2], [0.0, -1.0]])
W = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])  # not unit length: the loss normalises
LABELS = torch.tensor([0, 1, 2, 0])


def _softmax_loss(logits, labels):
    """Mean over rows of -log softmax(logits)[label], written out."""
    total = 0.0
    for row, label in zip(logits.tolist(), labels.tolist()):
        total += -row[label] + math.log(sum(math.exp(v) for v in row))
    return total / len(labels)


@pytest.mark.parametrize(
    "loss, target",
    [
        (NormFaceLoss(scale=10.0), lambda c: c),
        (CosFaceLoss(margin=0.35, scale=10.0), lambda c: c - 0.35),
        (ArcFaceLoss(margin=0.5, scale=10.0), lambda c: math.cos(math.acos(c) + 0.5)),
    ],
    ids=["normface", "cosface", "arcface"],
)
def test_normalized_softmax_losses_by_the_formula(loss, target):
    cos, labels = _cosines(E, W), LABELS
    logits = [
        [10.0 * (target(v) if j == label else v) for j, v in enumerate(row)]
        for row, label in zip(cos.tolist(), labels.tolist())
    ]
    expected = _softmax_loss(torch.tensor(logits), labels)
    assert _criterion(loss, W)(E, LABELS).item() == pytest.approx(expected, rel=1e-5)


def test_arcface_past_pi_keeps_falling():
    # theta + margin > pi: cos(theta + m) would rise again; the logit is cos - m sin(m) instead.
    loss = ArcFaceLoss(margin=0.5, scale=1.0)
    cos = torch.tensor([-0.99, -0.5, 0.9])
    got = loss._target_cosine(cos)
    assert got[0].item() == pytest.approx(-0.99 - 0.5 * math.sin(0.5), abs=1e-6)
    assert got[2].item() == pytest.approx(math.cos(math.acos(0.9) + 0.5), abs=1e-5)


def test_proxy_anchor_by_the_formula():
    alpha, delta = 4.0, 0.1
    cos, labels = _cosines(E, W), LABELS
    positive_terms, negative_terms = [], []
    for p in range(3):
        pos = [math.exp(-alpha * (cos[i, p].item() - delta)) for i in range(4) if labels[i] == p]
        neg = [math.exp(alpha * (cos[i, p].item() + delta)) for i in range(4) if labels[i] != p]
        if pos:
            positive_terms.append(math.log(1 + sum(pos)))
        negative_terms.append(math.log(1 + sum(neg)))
    expected = sum(positive_terms) / len(positive_terms) + sum(negative_terms) / 3
    got = _criterion(ProxyAnchorLoss(alpha=alpha, delta=delta), W)(E, LABELS).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_proxy_anchor_class_absent_from_the_batch_has_finite_gradients():
    criterion = _criterion(ProxyAnchorLoss(), torch.randn(5, 2))  # classes 3 and 4 have no sample here
    E_ = E.clone().requires_grad_(True)
    criterion(E_, LABELS).backward()
    assert torch.isfinite(E_.grad).all() and torch.isfinite(criterion.weight.grad).all()
    assert criterion.weight.grad[3].abs().sum() > 0  # still pushed away by the negatives


@pytest.mark.parametrize("name", NAMES)
def test_loss_is_float32_under_bfloat16_autocast(name):
    criterion = SiameseEmbedder(loss=name)._make_criterion(2, np.arange(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = criterion(E.bfloat16(), LABELS)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(criterion(E.bfloat16().float(), LABELS).item(), rel=1e-6)


def test_labels_without_weights_use_the_batchs_class_means():
    # Held-out validation classes have no weights; their class means stand in.
    criterion = _criterion(NormFaceLoss(scale=10.0), W)
    means = torch.stack([F.normalize(E[[0, 3]], dim=1).sum(0), F.normalize(E[[1]], dim=1).sum(0)])
    expected = _criterion(NormFaceLoss(scale=10.0), means)(E[[0, 1, 3]], torch.tensor([0, 1, 0]))
    got = criterion(E[[0, 1, 3]], torch.tensor([7, 9, 7]))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_margin_scale_and_state_dict_sizes_the_criterion():
    built = ArcFaceLoss(margin=0.4).build([3, 1, 8], 5, margin_scale=0.5)
    assert built.loss.margin == pytest.approx(0.2) and built.class_codes.tolist() == [1, 3, 8]
    assert NormFaceLoss().build([0, 1], 5, margin_scale=3.0).loss.get_params() == {"scale": 16.0}
    empty = ArcFaceLoss().build([], 5)
    empty.load_state_dict(built.state_dict())
    assert torch.equal(empty.weight, built.weight) and torch.equal(empty.class_codes, built.class_codes)


# ------------------------------------------------------------- the estimator
@pytest.mark.parametrize("loss", [*NAMES, CosFaceLoss(margin=0.2, scale=16.0)], ids=[*NAMES, "object"])
def test_fit_transform_and_weights_only_for_training_classes(data, loss):
    X, y = data
    emb = SiameseEmbedder(**FAST, loss=loss, validation_fraction=0.3, refit=False).fit(X, y)
    assert emb.transform(X[:7]).shape == (7, 32)
    criterion = emb.net_.criterion_
    assert isinstance(criterion, ClassWeightCriterion)
    trained = np.setdiff1d(np.arange(10), np.searchsorted(emb.classes_, emb.validation_classes_))
    assert criterion.class_codes.tolist() == trained.tolist()
    assert criterion.weight.shape == (len(trained), 32)
    # The optimiser trains the weights, and they moved.
    assert any(p is criterion.weight for group in emb.net_.optimizer_.param_groups for p in group["params"])
    init = clone(emb).set_params(max_epochs=1)._make_criterion(32, trained)
    assert not torch.allclose(init.weight, criterion.weight)
    # Validation batches, of held-out classes, have a loss too.
    assert np.isfinite(emb.history_[:, "valid_loss"]).all()


def test_the_class_weights_are_not_used_at_transform_time(data):
    X, y = data
    emb = SiameseEmbedder(**FAST, loss="arcface").fit(X, y)
    before = emb.transform(X), emb.score(X, y), emb.pair_distance(np.stack([X[:5], X[5:10]], axis=1))
    with torch.no_grad():
        emb.net_.criterion_.weight.zero_()
    after = emb.transform(X), emb.score(X, y), emb.pair_distance(np.stack([X[:5], X[5:10]], axis=1))
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


def test_refit_and_rotation_classes_give_every_training_class_a_weight(data):
    X, y = data
    emb = SiameseEmbedder(**FAST, loss="cosface", validation_fraction=0.3).fit(X, y)
    assert len(emb.validation_classes_) and emb.net_.criterion_.class_codes.tolist() == list(range(10))
    rotated = SiameseEmbedder(**FAST, loss="normface", rotation_classes=True).fit(X, y)
    # Rotation r of class c is the new class c + 10 r.
    assert rotated.net_.criterion_.class_codes.tolist() == list(range(40))


def test_warm_start_continues_the_class_weights(data):
    X, y = data
    full = SiameseEmbedder(**{**FAST, "max_epochs": 3}, loss="proxy_anchor").fit(X, y)
    est = SiameseEmbedder(**{**FAST, "max_epochs": 1}, loss="proxy_anchor", warm_start=True).fit(X, y)
    est.set_params(max_epochs=3).fit(X, y)
    np.testing.assert_array_equal(est.history_[:, "train_loss"], full.history_[:, "train_loss"])
    np.testing.assert_array_equal(est.transform(X), full.transform(X))
    assert torch.equal(est.net_.criterion_.weight, full.net_.criterion_.weight)


def test_pickle_weights_file_and_skops_keep_the_class_weights(data, tmp_path):
    X, y = data
    params = dict(**FAST, loss=ArcFaceLoss(margin=0.3), margin=2.0)
    emb = SiameseEmbedder(**params).fit(X, y)
    weight = emb.net_.criterion_.weight.detach().clone()
    assert emb.net_.criterion_.loss.margin == pytest.approx(0.6)
    path = tmp_path / "emb.pt"
    save_weights(emb, path)
    loaded = [pickle.loads(pickle.dumps(emb)), load_weights(SiameseEmbedder(**params), path)]
    sio = pytest.importorskip("skops.io")
    loaded.append(sio.loads(sio.dumps(emb), trusted=TRUSTED_TYPES))
    for other in loaded:
        np.testing.assert_array_equal(other.transform(X), emb.transform(X))
        assert torch.equal(other.net_.criterion_.weight, weight)
        assert other.net_.criterion_.class_codes.tolist() == list(range(10))
        assert other.net_.criterion_.loss.margin == pytest.approx(0.6)
    # The pickle holds the optimiser state: warm start goes on from it.
    loaded[0].set_params(warm_start=True, max_epochs=3).fit(X, y)
    assert loaded[0].n_epochs_ == 3


def test_grid_search_over_losses_with_a_fixed_mining(data):
    X, y = data
    grid = {"loss": ["triplet", "arcface", ProxyAnchorLoss(delta=0.2)], "margin": [0.5, 1.0]}
    search = GridSearchCV(SiameseEmbedder(**{**FAST, "max_epochs": 1}, mining="hard"), grid, cv=2).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert "ProxyAnchorLoss(delta=0.2)" in str(search.cv_results_["params"])


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="sphereface"), "The 'loss' parameter of SiameseEmbedder must be"),
        (dict(loss=ArcFaceLoss(scale=0)), "The 'scale' parameter of ArcFaceLoss must be"),
        (dict(loss=ProxyAnchorLoss(delta=-0.1)), "The 'delta' parameter of ProxyAnchorLoss must be"),
        (dict(loss=CosFaceLoss(margin="large")), "The 'margin' parameter of CosFaceLoss must be"),
    ],
)
def test_bad_parameters_fail_before_training(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        SiameseEmbedder(**FAST, **params).fit(X, y)


def test_reprs_name_the_settings():
    assert repr(ArcFaceLoss(margin=0.3)) == "ArcFaceLoss(margin=0.3)"
    built = ProxyAnchorLoss().build([0, 1], 4)
    assert "ProxyAnchorLoss()" in repr(built) and "n_classes=2" in repr(built)


@pytest.mark.learns
@pytest.mark.parametrize("loss", ["arcface", "proxy_anchor"])
def test_class_weight_losses_learn_an_embedding_for_held_out_samples(digits, loss):
    X, y = digits
    # The class weights start random: these losses need more steps than the pair losses to get going.
    emb = SiameseEmbedder(**{**FAST, "max_epochs": 3, "samples_per_epoch": 1024}, loss=loss).fit(X[:400], y[:400])
    untrained = untrained_twin(emb).fit(X[:400], y[:400])
    # Leave-one-out precision@1 on 300 held-out samples: 0.93-0.95 trained, 0.89 untrained.
    assert emb.score(X[400:700], y[400:700]) > untrained.score(X[400:700], y[400:700]) + LEARNED_MARGIN
