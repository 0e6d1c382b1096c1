"""Every way a user's images arrive reaches the conv engine (issue 36).

Photos from a folder (grey or colour, square or not) through
``load_image_folder``, NumPy stacks channels-first or channels-last, and
every public function that takes samples.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold

from sklearn_siamese import SiameseEmbedder, SiameseVerifier
from sklearn_siamese.datasets import load_image_folder
from sklearn_siamese.gallery import identify
from sklearn_siamese.metrics import (
    dir_at_far,
    make_one_shot_scorer,
    one_shot_accuracy,
    pair_scores,
    precision_at_1,
    seen_unseen_verification,
)
from sklearn_siamese.pairs import make_pairs

FAST = dict(max_epochs=1, batch_size=32, random_state=0, samples_per_epoch=128)
HEIGHT, WIDTH = 10, 8  # not square: no column count gives the shape away


def first_conv(estimator):
    return next(m for m in estimator.net_.module_.modules() if isinstance(m, torch.nn.Conv2d))


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """6 people x 6 colour photos of 10x8 pixels, a folder per person; each person has a colour and a blob."""
    from PIL import Image

    root = tmp_path_factory.mktemp("people")
    rng = np.random.default_rng(0)
    for person in range(6):
        (root / f"p{person}").mkdir()
        colour = rng.random(3)
        for shot in range(6):
            pixels = rng.random((HEIGHT, WIDTH, 3)) * 0.3 + colour * 0.7
            pixels[person % HEIGHT, :, shot % 3] = 1.0
            Image.fromarray((pixels * 255).astype(np.uint8), "RGB").save(root / f"p{person}" / f"{shot}.png")
    return root


def test_grey_non_square_folder_through_return_X_y_gets_the_conv_engine(photo_folder):
    X, y = load_image_folder(photo_folder, return_X_y=True)
    assert X.shape == (36, HEIGHT, WIDTH)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no guess is left, so nothing to warn about
        emb = SiameseEmbedder(**FAST).fit(X, y)
    assert emb.image_shape_ == (1, HEIGHT, WIDTH)
    assert first_conv(emb).in_channels == 1
    assert emb.augment_ is not None and emb.augment_.image_shape == (1, HEIGHT, WIDTH)


def test_rgb_folder_gets_three_input_channels(photo_folder):
    bunch = load_image_folder(photo_folder, grayscale=False)
    assert bunch.data.shape == (36, 3, HEIGHT, WIDTH)
    assert bunch.images.shape == (36, HEIGHT, WIDTH, 3)  # channels last, for imshow
    assert bunch.image_shape == (3, HEIGHT, WIDTH)
    np.testing.assert_array_equal(bunch.data, np.moveaxis(bunch.images, 3, 1))
    emb = SiameseEmbedder(**FAST).fit(bunch.data, bunch.target)
    assert emb.image_shape_ == (3, HEIGHT, WIDTH)
    assert first_conv(emb).in_channels == 3
    assert emb.augment_.image_shape == (3, HEIGHT, WIDTH)


def test_channels_last_images_train_the_same_model_as_channels_first(photo_folder):
    bunch = load_image_folder(photo_folder, grayscale=False)
    first = SiameseEmbedder(**FAST).fit(bunch.data, bunch.target)
    last = SiameseEmbedder(**FAST).fit(bunch.images, bunch.target)
    assert last.image_shape_ == (3, HEIGHT, WIDTH)
    # Same rows in the same order, same seed: the same network, whichever layout came in.
    np.testing.assert_array_equal(last.transform(bunch.images), first.transform(bunch.data))
    np.testing.assert_array_equal(last.transform(bunch.data), first.transform(bunch.images))


def test_flattened_rows_with_the_bunchs_image_shape(photo_folder):
    bunch = load_image_folder(photo_folder, grayscale=False, flatten=True)
    assert bunch.data.shape == (36, 3 * HEIGHT * WIDTH)
    emb = SiameseEmbedder(image_shape=bunch.image_shape, **FAST).fit(bunch.data, bunch.target)
    assert first_conv(emb).in_channels == 3
    on_images = SiameseEmbedder(**FAST).fit(load_image_folder(photo_folder, grayscale=False).data, bunch.target)
    np.testing.assert_array_equal(emb.transform(bunch.data), on_images.transform(bunch.data))


def test_an_image_shape_with_the_channels_last_names_the_fix(photo_folder):
    X, y = load_image_folder(photo_folder, grayscale=False, flatten=True, return_X_y=True)
    with pytest.raises(ValueError, match=r"image_shape=\(10, 8, 3\) looks like \(height, width, channels\).*"
                       r"pass image_shape=\(3, 10, 8\)"):
        SiameseEmbedder(image_shape=(HEIGHT, WIDTH, 3), **FAST).fit(X, y)
    # One channel last holds the same values as one channel first.
    grey, y = load_image_folder(photo_folder, flatten=True, return_X_y=True)
    assert SiameseEmbedder(image_shape=(HEIGHT, WIDTH, 1), **FAST).fit(grey, y).image_shape_ == (1, HEIGHT, WIDTH)


def test_pairs_of_channels_last_images(photo_folder):
    bunch = load_image_folder(photo_folder, grayscale=False)
    ver = SiameseVerifier(**FAST).fit(bunch.data, bunch.target)
    last = np.stack([bunch.images[:5], bunch.images[5:10]], axis=1)  # (5, 2, H, W, 3)
    first = np.stack([bunch.data[:5], bunch.data[5:10]], axis=1)  # (5, 2, 3, H, W)
    np.testing.assert_array_equal(ver.pair_score(last), ver.pair_score(first))
    np.testing.assert_array_equal(pair_scores(ver, last), ver.pair_score(first))


@pytest.fixture(scope="module")
def image_model(photo_folder):
    X, y = load_image_folder(photo_folder, return_X_y=True)
    return SiameseEmbedder(**FAST).fit(X[y != "p5"], y[y != "p5"]), X, y


def test_metrics_take_stacks_of_images(image_model):
    emb, X, y = image_model
    flat = X.reshape(len(X), -1)
    for model in (emb, None):
        assert one_shot_accuracy(model, X, y, n_way=4, n_episodes=20, random_state=0) == one_shot_accuracy(
            model, flat, y, n_way=4, n_episodes=20, random_state=0
        )
        assert precision_at_1(model, X, y) == precision_at_1(model, flat, y)
    gallery = np.isin(y, ["p0", "p1", "p2"]) & (np.arange(len(y)) % 6 == 0)
    probes = ~gallery
    assert dir_at_far(emb, X[gallery], y[gallery], X[probes], y[probes], far=0.2) == dir_at_far(
        emb, flat[gallery], y[gallery], flat[probes], y[probes], far=0.2
    )
    seen = np.isin(y, ["p0", "p1", "p2"])
    result = seen_unseen_verification(emb, X[seen], y[seen], X[~seen], y[~seen], threshold=-0.5, n_pairs=40, random_state=0)
    assert all(np.isfinite(v) for v in result.values())


def test_gallery_pairs_and_plots_take_stacks_of_images(image_model):
    emb, X, y = image_model
    flat = X.reshape(len(X), -1)
    np.testing.assert_array_equal(identify(emb, X[:3], X[6:], k=2).indices, identify(emb, flat[:3], flat[6:], k=2).indices)
    np.testing.assert_array_equal(identify(None, X[:3], X[6:], k=2).indices, identify(None, flat[:3], flat[6:], k=2).indices)
    pairs, same = make_pairs(X, y, n_pairs=10, random_state=0)
    assert pairs.shape == (10, 2, HEIGHT, WIDTH)
    np.testing.assert_array_equal(pair_scores(emb, pairs), pair_scores(emb, pairs.reshape(10, 2, -1)))

    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from sklearn_siamese.plotting import plot_embedding, plot_pairs

    ax = plot_embedding(emb, X, y, thumbnails=True, max_thumbnails=3)
    assert len(ax.artists) >= 1
    fig = plot_pairs(emb, pairs[:2], same[:2])
    assert fig.axes[0].images[0].get_array().shape[0] == HEIGHT
    matplotlib.pyplot.close("all")


def test_default_one_shot_scorer_scores_every_class_disjoint_fold(digits):
    X, y = digits
    keep = y < 6
    X, y = X[keep][:360].reshape(-1, 8, 8), y[keep][:360]
    search = GridSearchCV(
        SiameseEmbedder(**FAST), {"margin": [0.5, 1.0]}, cv=GroupKFold(3), scoring=make_one_shot_scorer(n_episodes=20)
    )
    search.fit(X, y, groups=y)  # 6 classes: 2 per validation fold
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    with pytest.raises(ValueError, match=r"n_way='auto'\) needs a validation fold with 2 or more classes"):
        make_one_shot_scorer()(search.best_estimator_, X[y == 0], y[y == 0])
