"""Pictures: rendered with Agg to PNG, checked for content and artists."""

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from sklearn_siamese import MLPEncoder, SiameseEmbedder  # noqa: E402
from sklearn_siamese.pairs import make_pairs  # noqa: E402
from sklearn_siamese.metrics import dir_at_far, open_set_curve  # noqa: E402
from sklearn_siamese.plotting import plot_embedding, plot_history, plot_open_set_curve, plot_pairs  # noqa: E402

from _toy_verifier import ToyVerifier  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


@pytest.fixture(scope="module")
def embedder(digits):
    X, y = digits
    return SiameseEmbedder(MLPEncoder(hidden_sizes=(32,)), max_epochs=3, validation_fraction=0.2, random_state=0).fit(X, y)


def render(fig, path):
    """Save as PNG and check it is a real, non-blank image."""
    fig.savefig(path, dpi=60)
    image = mpimg.imread(path)
    assert path.stat().st_size > 1000
    assert image.ndim == 3 and min(image.shape[:2]) > 50
    assert image[..., :3].std() > 0.02  # not a blank canvas
    return image


def test_plot_embedding_of_an_embedder(tmp_path, digits, embedder):
    X, y = digits
    ax = plot_embedding(embedder, X, y, thumbnails=True, image_shape=(8, 8), max_thumbnails=15)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 10
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [str(c) for c in range(10)]
    # The points are the PCA projection of the embeddings, class by class.
    expected = PCA(2, random_state=0).fit_transform(embedder.transform(X).astype(np.float64))
    np.testing.assert_allclose(scatters[3].get_offsets(), expected[y == 3], rtol=1e-4, atol=1e-5)
    thumbs = [a for a in ax.artists if isinstance(a, AnnotationBbox)]
    assert 5 <= len(thumbs) <= 15
    assert ax.get_xlabel().startswith("PC 1")
    render(ax.figure, tmp_path / "embedding.png")


def test_plot_embedding_of_given_embeddings(digits):
    X, y = digits
    E = np.random.RandomState(0).normal(size=(len(X), 2))
    ax = plot_embedding(E, y=y)
    np.testing.assert_allclose(ax.collections[0].get_offsets(), E[y == 0])
    assert ax.get_xlabel() == "dimension 1"
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_embedding(None, X, ax=right) is right
    assert len(right.collections) == 1 and right.get_legend() is None and not left.collections
    many = np.arange(len(X)) % 30
    assert plot_embedding(E, y=many).get_legend() is None  # no legend for 30 classes


def test_plot_embedding_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="X is required"):
        plot_embedding(None)
    with pytest.raises(ValueError, match="thumbnails=True needs the images X"):
        plot_embedding(np.zeros((3, 2)), thumbnails=True)
    with pytest.raises(ValueError, match="not a square image; pass image_shape"):
        plot_embedding(None, X[:, :10], thumbnails=True)
    with pytest.raises(ValueError, match="y has 3 labels"):
        plot_embedding(None, X, y[:3])


def test_plot_history(tmp_path, embedder, digits):
    # Classes held out, refit (the default): the validation run is drawn, and the final run's training loss beside it.
    validation = embedder.validation_history_
    ax = plot_history(embedder)
    train, valid, restored, refit = ax.lines
    np.testing.assert_allclose(train.get_ydata(), validation[:, "train_loss"])
    np.testing.assert_allclose(valid.get_ydata(), validation[:, "valid_loss"])
    # The marker is at the epoch early stopping restored: as many epochs as the refit ran.
    best_epoch = [row["epoch"] for row in validation if row.get("restored")]
    assert best_epoch == [len(embedder.history_)] and restored.get_xdata()[0] == best_epoch[0]
    np.testing.assert_allclose(refit.get_ydata(), embedder.history_[:, "train_loss"])
    (precision,) = ax.figure.axes[1].lines
    np.testing.assert_allclose(precision.get_ydata(), validation[:, "valid_precision_at_1"])
    assert len(ax.get_legend().get_texts()) == 5
    render(ax.figure, tmp_path / "history.png")
    # The first run's model alone (refit=False): its own history, the restored epoch from its callback.
    first = SiameseEmbedder(MLPEncoder(hidden_sizes=(32,)), max_epochs=3, validation_fraction=0.2, refit=False, random_state=0).fit(*digits)
    train, valid, restored = plot_history(first).lines
    assert restored.get_xdata()[0] == dict(first.net_.callbacks_)["early_stopping"].best_epoch_


def test_plot_history_marks_the_restored_epoch_not_the_lowest_loss():
    # Early stopping monitors precision@1: the lowest validation loss (epoch 2) is not the model kept (epoch 4).
    loss = [0.5, 0.3, 0.4, 0.45, 0.5, 0.6]
    precision = [0.5, 0.6, 0.7, 0.8, 0.75, 0.7]
    rows = [
        {"epoch": i + 1, "train_loss": 1.3, "valid_loss": v, "valid_precision_at_1": p}
        for i, (v, p) in enumerate(zip(loss, precision))
    ]
    rows[3]["restored"] = True
    ax = plot_history(rows)
    assert ax.lines[-1].get_xdata()[0] == 4
    assert "restored epoch (4)" in [t.get_text() for t in ax.get_legend().get_texts()][2]
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 6]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_plot_history_has_integer_epoch_ticks_on_few_epochs():
    ax = plot_history([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}])
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())


def test_plot_history_without_validation_and_errors():
    rows = [{"epoch": i, "train_loss": 1.0 / i} for i in range(1, 5)]
    ax = plot_history(rows, log_scale=True)
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="fitted estimator"):
        plot_history(SiameseEmbedder())
    with pytest.raises(ValueError, match="train_loss"):
        plot_history([{"epoch": 1}])


def test_plot_pairs_shows_distances(tmp_path, digits, embedder):
    X, y = digits
    pairs, same = make_pairs(X, y, n_pairs=7, random_state=0)
    threshold = -0.8
    fig = plot_pairs(embedder, pairs, same, threshold=threshold, n_cols=3)
    assert len(fig.axes) == 9  # 3 x 3 grid, two cells hidden
    used = [ax for ax in fig.axes if ax.images]
    assert len(used) == 7 and all(len(ax.images) == 1 for ax in used)
    assert used[0].images[0].get_array().shape == (8, 8 + 1 + 8)  # the two digits and a gap
    distances = embedder.pair_distance(pairs)
    for ax, d, s in zip(used, distances, same):
        title = ax.title
        assert title.get_text() == f"{'same' if s else 'diff'}  d={d:.2f}"
        right = (-d >= threshold) == s
        assert title.get_color() == ("tab:green" if right else "tab:red")
    render(fig, tmp_path / "pairs.png")


def test_plot_pairs_of_a_verifier_and_of_raw_pixels(digits):
    X, y = digits
    pairs, same = make_pairs(X, y, n_pairs=4, random_state=1)
    verifier = ToyVerifier().fit(None)
    fig = plot_pairs(verifier, pairs, same)
    titles = [ax.title for ax in fig.axes]
    probabilities = verifier.pair_score(pairs)
    assert [t.get_text() for t in titles] == [
        f"{'same' if s else 'diff'}  p(same)={p:.2f}" for p, s in zip(probabilities, same)
    ]
    # The verifier's own threshold_ (0.5) colours the titles.
    right = (probabilities >= verifier.threshold_) == same
    assert [t.get_color() for t in titles] == ["tab:green" if r else "tab:red" for r in right]
    fig = plot_pairs(None, pairs)
    assert [ax.title.get_color() for ax in fig.axes] == ["black"] * 4
    with pytest.raises(ValueError, match="n_cols must be"):
        plot_pairs(None, pairs, n_cols=0)
    with pytest.raises(ValueError, match=r"image_shape=\(4, 4\) holds 16 values but X has 64 features"):
        plot_pairs(None, pairs, image_shape=(4, 4))


def test_clear_error_without_matplotlib(monkeypatch, embedder):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install sklearn-siamese\[plot\]"):
        plot_history(embedder)
    with pytest.raises(ImportError, match=r"pip install sklearn-siamese\[plot\]"):
        plot_embedding(np.zeros((3, 2)))


def test_plot_open_set_curve_marks_the_operating_points(tmp_path, digits):
    X, y = digits
    gallery = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(5)])
    probes = np.setdiff1d(np.arange(len(y)), gallery)
    args = (X[gallery], y[gallery], X[probes], y[probes])
    rate, threshold = dir_at_far(None, *args, far=0.05, return_threshold=True)
    ax = plot_open_set_curve(None, *args, far=0.05, threshold=threshold, label="raw pixels")
    assert len(ax.lines) == 3 and ax.get_xscale() == "log"
    curve, target, given = ax.lines
    far, dirs, _ = open_set_curve(None, *args)
    np.testing.assert_allclose(curve.get_ydata(), dirs)
    # The target's point is dir_at_far; the given threshold lands on the same point here.
    assert target.get_ydata()[0] == pytest.approx(rate) == given.get_ydata()[0]
    assert "target FAR 5%" in target.get_label() and "DIR" in given.get_label()
    path = tmp_path / "open_set.png"
    ax.figure.savefig(path)
    assert mpimg.imread(path).std() > 0.05
    assert len(plot_open_set_curve(None, *args, far=None).lines) == 1
    with pytest.raises(ValueError, match="far must be strictly between 0 and 1"):
        plot_open_set_curve(None, *args, far=1.5)
