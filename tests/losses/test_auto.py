"""loss="auto": the embedder's loss, and its "auto" companions, chosen from the number of training classes."""

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_siamese import MLPEncoder, SiameseEmbedder
from sklearn_siamese.losses import (
    AUTO_INSTANCE_WEIGHT,
    AUTO_TRIPLET_MIN_CLASSES,
    ArcFaceLoss,
    ContrastiveLoss,
    TripletLoss,
    resolve_loss,
)
from sklearn_siamese.persistence import load_weights, save_weights

FAST = dict(encoder=MLPEncoder(hidden_sizes=(8,)), embedding_dim=4, max_epochs=1, batch_size=16, random_state=0)


def blobs(n_classes, per_class=2, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    return rng.normal(size=(len(y), n_features)).astype(np.float32), y


@pytest.fixture(scope="module")
def many():
    return blobs(AUTO_TRIPLET_MIN_CLASSES)


@pytest.fixture(scope="module")
def few():
    return blobs(AUTO_TRIPLET_MIN_CLASSES - 1)


def trained_with(est):
    """(loss class, unit-length embeddings, instance weight) of a fitted embedder."""
    return type(est.net_.criterion_), est.net_.module_.normalize, est.net_.instance_weight


def test_resolve_loss_by_the_number_of_classes():
    assert resolve_loss("auto", AUTO_TRIPLET_MIN_CLASSES - 1) == "contrastive"
    assert resolve_loss("auto", AUTO_TRIPLET_MIN_CLASSES) == "triplet"
    assert resolve_loss("contrastive", 10_000) == "contrastive"
    assert resolve_loss("triplet", 2) == "triplet"
    assert resolve_loss(ArcFaceLoss(), 5) == "ArcFaceLoss"


def test_the_defaults_below_the_threshold_are_the_contrastive_recipe(few):
    est = SiameseEmbedder(**FAST).fit(*few)
    assert est.loss_ == "contrastive"
    assert trained_with(est) == (ContrastiveLoss, True, AUTO_INSTANCE_WEIGHT)


def test_the_defaults_from_the_threshold_on_are_the_plain_triplet_loss(many):
    est = SiameseEmbedder(**FAST).fit(*many)
    assert est.loss_ == "triplet"
    assert trained_with(est) == (TripletLoss, False, 0.0)
    # Un-normalised: the embeddings are not all of unit length.
    assert not np.allclose(np.linalg.norm(est.transform(many[0]), axis=1), 1.0, atol=1e-3)


def test_rotation_classes_count_four_times():
    side = 4
    n_characters = -(-AUTO_TRIPLET_MIN_CLASSES // 4)
    X, y = blobs(n_characters, n_features=side * side)
    est = SiameseEmbedder(**FAST, rotation_classes=True, image_shape=(side, side)).fit(X, y)
    assert est.loss_ == "triplet"
    assert SiameseEmbedder(**FAST, image_shape=(side, side)).fit(X, y).loss_ == "contrastive"


@pytest.mark.parametrize(
    "params, expected",
    [
        # Explicit companions win over what "auto" would choose.
        (dict(normalize=True), (TripletLoss, True, 0.0)),
        (dict(instance_weight=0.25), (TripletLoss, False, 0.25)),
        # An explicit triplet loss keeps the behaviour it had before "auto":
        # unit length, with the instance term.
        (dict(loss="triplet"), (TripletLoss, True, AUTO_INSTANCE_WEIGHT)),
        (dict(loss="contrastive"), (ContrastiveLoss, True, AUTO_INSTANCE_WEIGHT)),
        (dict(loss="contrastive", normalize=False), (ContrastiveLoss, False, AUTO_INSTANCE_WEIGHT)),
    ],
)
def test_explicit_parameters_are_kept(many, params, expected):
    est = SiameseEmbedder(**FAST, **params).fit(*many)
    assert trained_with(est) == expected
    assert est.loss_ == params.get("loss", "triplet")


def test_refit_resolves_again_and_clone_keeps_auto(many, few):
    est = SiameseEmbedder(**FAST).fit(*many)
    assert est.fit(*few).loss_ == "contrastive"
    assert trained_with(est) == (ContrastiveLoss, True, AUTO_INSTANCE_WEIGHT)
    params = clone(est).get_params()
    assert (params["loss"], params["normalize"], params["instance_weight"]) == ("auto", "auto", "auto")


def test_warm_start_continues_with_the_first_choice(many):
    est = SiameseEmbedder(**FAST, warm_start=True).fit(*many)
    est.set_params(max_epochs=2).fit(*many)
    assert est.n_epochs_ == 2 and est.loss_ == "triplet"
    assert trained_with(est) == (TripletLoss, False, 0.0)


def test_weights_file_restores_the_chosen_loss_and_layout(many, tmp_path):
    est = SiameseEmbedder(**FAST).fit(*many)
    path = tmp_path / "auto.pt"
    save_weights(est, path)
    loaded = load_weights(SiameseEmbedder(**FAST), path)
    assert loaded.loss_ == "triplet"
    assert type(loaded.net_.criterion_) is TripletLoss and loaded.net_.module_.normalize is False
    np.testing.assert_allclose(loaded.transform(many[0]), est.transform(many[0]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="autoo"), "loss"),
        (dict(normalize="yes"), "normalize"),
        (dict(instance_weight="off"), "instance_weight"),
    ],
)
def test_bad_values_name_the_parameter(few, params, match):
    with pytest.raises(ValueError, match=match):
        SiameseEmbedder(**FAST, **params).fit(*few)
