"""Pictures of what a siamese model learned (needs matplotlib: the ``plot`` extra).

* :func:`plot_embedding`: samples in the embedding space, coloured by class,
  optionally with image thumbnails.
* :func:`plot_history`: training and validation loss per epoch, the
  validation precision@1 early stopping monitors and the epoch it restored.
* :func:`plot_pairs`: a grid of image pairs with their score or distance.
* :func:`plot_open_set_curve`: open-set identification rate against the
  false-accept rate on strangers, with the operating point marked.

Each function draws on an Axes or Figure it returns, so the picture can be
adjusted, saved or embedded like any matplotlib plot.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import HasMethods, Interval, validate_params
from sklearn.utils.validation import check_array

from ._training.checks import check_image_shape, check_samples, flatten_pairs, image_shape_of, square_image_side
from .metrics import embed_with, open_set_curve, pair_scores
from .pairs import check_pair_labels

__all__ = ["plot_embedding", "plot_history", "plot_open_set_curve", "plot_pairs"]

# A colour map: a matplotlib name, or a Colormap (called on values).
_CMAP = [str, callable]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sklearn_siamese.plotting needs matplotlib: pip install sklearn-siamese[plot]"
        ) from exc
    return plt


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=figsize)
    return ax


def _image_shape(n_features, image_shape, found=None):
    """``(C, H, W)`` of the pictures: ``image_shape`` if given, else ``found`` (the images' own), else square grey."""
    if image_shape is not None:
        return check_image_shape(image_shape, n_features)
    if found is not None:
        return found
    side = square_image_side(n_features, f"Samples have {n_features} features, not a square image")
    return 1, side, side


def _picture(row, shape):
    """A sample's values as ``imshow`` takes them: ``(H, W)`` grey or ``(H, W, C)`` colour, from ``(C, H, W)``."""
    image = row.reshape(shape)
    return image[0] if shape[0] == 1 else np.moveaxis(image, 0, -1)


def _class_colors(n_classes):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "turbo")
    if n_classes <= 20:
        return [cmap(i) for i in range(n_classes)]
    return [cmap(v) for v in np.linspace(0, 1, n_classes)]


@validate_params(
    {
        # A model, None or the embeddings themselves: told apart in the body.
        "estimator": "no_validation",
        "X": ["array-like", None],
        "y": ["array-like", None],
        "thumbnails": ["boolean"],
        "image_shape": ["array-like", None],
        "max_thumbnails": [Interval(Integral, 0, None, closed="left")],
        "thumbnail_zoom": [Interval(Real, 0, None, closed="neither")],
        "cmap": _CMAP,
        "ax": [HasMethods(["scatter"]), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def plot_embedding(
    estimator,
    X=None,
    y=None,
    *,
    thumbnails=False,
    image_shape=None,
    max_thumbnails=60,
    thumbnail_zoom=1.0,
    cmap="gray_r",
    ax=None,
    random_state=0,
):
    """Scatter the samples in the embedding space, one colour per class.

    Embeddings with more than two dimensions are projected on their first
    two principal components (PCA); the axis labels say which.

    Parameters
    ----------
    estimator : fitted model, None, or array-like of shape (n_samples, n_dims)
        A fitted SiameseEmbedder, SiameseVerifier, Pipeline ending in one,
        or transformer (its embedding of ``X`` is drawn); None draws the raw
        features of ``X``; an array is taken as the embeddings themselves,
        and ``X`` is then only needed for thumbnails.
    X : array-like of shape (n_samples, n_features), default=None
        Samples to embed; their pixels make the thumbnails.
    y : array-like of shape (n_samples,), default=None
        Class labels for the colours and the legend (shown up to 20
        classes).
    thumbnails : bool, default=False
        Draw small images of some samples at their positions, chosen so
        they do not overlap much.
    image_shape : tuple, default=None
        Shape of an image, ``(height, width)`` or ``(channels, height,
        width)``, e.g. ``(8, 8)``; None takes the shape of the images ``X``
        holds (``(n, H, W)``, ``(n, C, H, W)`` or ``(n, H, W, C)``), or
        assumes square grey images for rows.
    max_thumbnails : int, default=60
        Most thumbnails drawn.
    thumbnail_zoom : float, default=1.0
        Size of a thumbnail, in screen pixels per image pixel.
    cmap : str, default="gray_r"
        Colour map of the thumbnails.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    random_state : int, default=0
        Seeds the PCA solver.

    Returns
    -------
    ax : matplotlib Axes
        One scatter collection per class (``ax.collections``) and one
        ``AnnotationBbox`` per thumbnail (``ax.artists``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> ax = plot_embedding(None, X[:200], y[:200], thumbnails=True)
    >>> len(ax.collections)
    10
    """
    if isinstance(estimator, (np.ndarray, list)):
        E = check_array(estimator, dtype=np.float64)  # embeddings: rows, never images
        X_shape = image_shape_of(X)
        if X is not None:
            X = check_samples(X, dtype=np.float64)
            if len(X) != len(E):
                raise ValueError(f"X has {len(X)} samples but the embeddings have {len(E)}.")
    else:
        if X is None:
            raise ValueError("X is required unless the embeddings are passed in place of the estimator.")
        X_shape = image_shape_of(X)
        X = check_samples(X)
        E = np.asarray(embed_with(estimator, X)[0], dtype=np.float64)
    if thumbnails and X is None:
        raise ValueError("thumbnails=True needs the images X.")
    labels = np.zeros(len(E), dtype=int) if y is None else np.asarray(y)
    if len(labels) != len(E):
        raise ValueError(f"y has {len(labels)} labels but there are {len(E)} samples.")

    if E.shape[1] > 2:
        pca = PCA(n_components=2, random_state=random_state).fit(E)
        points = pca.transform(E)
        explained = pca.explained_variance_ratio_
        axis_names = [f"PC {i + 1} ({100 * r:.0f}% of variance)" for i, r in enumerate(explained)]
    elif E.shape[1] == 2:
        points, axis_names = E, ["dimension 1", "dimension 2"]
    else:
        points, axis_names = np.column_stack([E[:, 0], np.zeros(len(E))]), ["dimension 1", ""]

    ax = _new_axes(ax, (7, 6))
    classes = np.unique(labels)
    for label, color in zip(classes, _class_colors(len(classes))):
        mask = labels == label
        ax.scatter(points[mask, 0], points[mask, 1], s=12, color=color, alpha=0.7, label=str(label))
    if y is not None and len(classes) <= 20:
        ax.legend(title="class", fontsize="small", markerscale=1.5, loc="best")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])

    if thumbnails:
        from matplotlib.offsetbox import AnnotationBbox, OffsetImage

        shape = _image_shape(X.shape[1], image_shape, X_shape)
        span = np.ptp(points, axis=0)
        scaled = (points - points.min(axis=0)) / np.where(span > 0, span, 1)
        shown = np.empty((0, 2))
        for i in range(len(points)):
            if len(shown) >= max_thumbnails:
                break
            if len(shown) and np.min(np.sum((shown - scaled[i]) ** 2, axis=1)) < 0.08**2:
                continue
            shown = np.vstack([shown, scaled[i]])
            image = OffsetImage(_picture(X[i], shape), cmap=cmap, zoom=thumbnail_zoom)
            ax.add_artist(AnnotationBbox(image, points[i], frameon=False, pad=0.0))
    return ax


@validate_params(
    {
        # A fitted model or a history, checked in the body.
        "estimator": "no_validation",
        "ax": [HasMethods(["plot"]), None],
        "log_scale": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def plot_history(estimator, *, ax=None, log_scale=False):
    """Training and validation loss per epoch, with the metric early stopping monitors.

    The validation precision@1 (leave-one-out 1-NN accuracy on the held-out
    validation classes, ``valid_precision_at_1``) drives early stopping; it
    is drawn on a second y-axis, and a dotted vertical line marks the epoch
    whose weights the fitted model holds (restored by early stopping).

    The training loss usually sits well above the validation loss, and
    that is no sign of a problem: it is computed on augmented training
    batches, in training mode (dropout), and includes the
    ``instance_weight`` term that ties two views of each sample together,
    while the validation loss is the pair (or triplet) loss alone on
    unaugmented held-out samples in evaluation mode. Compare each curve
    with itself over the epochs, not with the other.

    An estimator that refitted (``refit=True`` with classes held out) is
    drawn from its ``validation_history_``, the run whose validation chose
    the number of epochs, and the training loss of the final run on every
    class (its ``history_``) is one more, dashed, line.

    Parameters
    ----------
    estimator : fitted SiameseEmbedder or SiameseVerifier, or skorch History
        The model (its ``history_``) or a history itself.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    log_scale : bool, default=False
        Logarithmic loss axis.

    Returns
    -------
    ax : matplotlib Axes
        The loss axes: a line for ``train_loss``, one for ``valid_loss``
        when validation classes were held out, a dotted vertical line at
        the epoch early stopping restored (the history row with
        ``restored=True``), and after a refit the dashed ``train_loss`` of
        the final run. ``valid_precision_at_1`` is one line on a twin
        axes sharing the x-axis (``ax.figure.axes[1]`` when ``ax`` was
        created here). Epoch ticks are integers.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> history = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}]
    >>> len(plot_history(history).lines)
    1
    """
    from matplotlib.ticker import MaxNLocator

    history = getattr(estimator, "history_", estimator)
    refit_rows = None
    if getattr(estimator, "validation_history_", None) is not None and history is not None:
        refit_rows, history = list(history), estimator.validation_history_
    if history is None or not hasattr(history, "__len__") or len(history) == 0:
        raise ValueError("plot_history needs a fitted estimator (with history_) or a non-empty skorch History.")
    rows = list(history)
    if any("train_loss" not in row for row in rows):
        raise ValueError("Every epoch of the history must record 'train_loss'.")
    epochs = np.array([row.get("epoch", i + 1) for i, row in enumerate(rows)])
    ax = _new_axes(ax, (6, 4))
    handles = ax.plot(
        epochs, [row["train_loss"] for row in rows], marker="o", ms=3, label="training loss (augmented, + instance term)"
    )
    if all("valid_loss" in row for row in rows):
        valid = [row["valid_loss"] for row in rows]
        handles += ax.plot(epochs, valid, marker="o", ms=3, label="validation loss (held-out classes)")
    restored = [epoch for epoch, row in zip(epochs, rows) if row.get("restored", False)]
    if restored:
        handles.append(
            ax.axvline(restored[0], color="gray", linestyle=":", label=f"restored epoch ({restored[0]}): best precision@1")
        )
    if refit_rows:
        handles += ax.plot(
            [row.get("epoch", i + 1) for i, row in enumerate(refit_rows)],
            [row["train_loss"] for row in refit_rows],
            linestyle="--",
            label="training loss, refit on every class",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_scale:
        ax.set_yscale("log")
    if all("valid_precision_at_1" in row for row in rows):
        metric_ax = ax.twinx()
        handles += metric_ax.plot(
            epochs,
            [row["valid_precision_at_1"] for row in rows],
            color="tab:green",
            marker="s",
            ms=3,
            label="validation precision@1 (early stopping)",
        )
        metric_ax.set_ylabel("validation precision@1")
    ax.legend(handles=handles, fontsize="small", loc="best")
    return ax


@validate_params(
    {
        "estimator": "no_validation",
        "pairs": ["array-like"],
        "y_pairs": ["array-like", None],
        "threshold": [Real, None],
        "image_shape": ["array-like", None],
        "n_cols": [Integral],  # its range is checked in the body
        "cmap": _CMAP,
        "figsize": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def plot_pairs(
    estimator,
    pairs,
    y_pairs=None,
    *,
    threshold=None,
    image_shape=None,
    n_cols=4,
    cmap="gray_r",
    figsize=None,
):
    """A grid of image pairs, each titled with its distance or score.

    A verifier's pairs show ``p(same)``, its probability that the two are
    the same class; an embedder's, a transformer's or raw images
    (``estimator=None``) show the distance ``d`` between the two. With
    ``y_pairs`` each title says the truth ("same"/"diff"); with a threshold
    (given, or a verifier's ``threshold_``) it is green when the model
    decides right and red when wrong.

    Parameters
    ----------
    estimator : fitted model or None
        SiameseEmbedder, SiameseVerifier, Pipeline, transformer, or None.
    pairs : array-like of shape (n_pairs, 2, n_features)
        The pairs, flattened images.
    y_pairs : array-like of shape (n_pairs,), default=None
        1 same, 0 different.
    threshold : float, default=None
        Threshold on the pair score (higher = more alike; an embedder's
        score is the negated distance) used to colour the titles.
    image_shape : tuple, default=None
        Shape of an image, ``(height, width)`` or ``(channels, height,
        width)``; None takes the shape of pairs of images
        (``(n_pairs, 2, H, W)``, ``(n_pairs, 2, C, H, W)``, ``(n_pairs, 2, H, W, C)``),
        or assumes square grey images for rows.
    n_cols : int, default=4
        Pairs per row.
    cmap : str, default="gray_r"
        Colour map of the images.
    figsize : tuple, default=None
        Figure size; by default 2.4 x 1.5 inches per pair.

    Returns
    -------
    fig : matplotlib Figure
        One Axes per pair, each with one image (the two samples side by
        side); unused cells of the grid are hidden.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese.pairs import make_pairs
    >>> X, y = load_digits(return_X_y=True)
    >>> pairs, same = make_pairs(X, y, n_pairs=6, random_state=0)
    >>> fig = plot_pairs(None, pairs, same, threshold=-40.0, n_cols=3)
    >>> sum(len(ax.images) for ax in fig.axes)
    6
    """
    plt = _pyplot()
    pairs = np.asarray(pairs)
    found = image_shape_of(pairs[:, 0]) if pairs.ndim in (4, 5) else None
    pairs = flatten_pairs(pairs).astype(np.float64)
    scores = pair_scores(estimator, pairs)
    n_pairs = len(pairs)
    if y_pairs is not None:
        y_pairs = check_pair_labels(y_pairs, n_pairs)
    if n_cols < 1:
        raise ValueError(f"n_cols must be a positive int, got {n_cols!r}.")
    final = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    # A verifier (a classifier) scores pairs with a probability; everything else by distance.
    is_probability = hasattr(final, "pair_score") and isinstance(final, BaseEstimator) and is_classifier(final)
    if threshold is None and is_probability and hasattr(final, "threshold_"):
        threshold = float(final.threshold_)
    shape = _image_shape(pairs.shape[2], image_shape, found)

    n_cols = min(n_cols, n_pairs)
    n_rows = -(-n_pairs // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=figsize or (2.4 * n_cols, 1.5 * n_rows + 0.3), squeeze=False
    )
    gap_shape = (shape[1], max(1, shape[2] // 8)) + ((shape[0],) if shape[0] > 1 else ())
    for k, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if k >= n_pairs:
            continue
        left, right = _picture(pairs[k, 0], shape), _picture(pairs[k, 1], shape)
        gap = np.full(gap_shape, np.nan)
        ax.imshow(np.concatenate([left, gap, right], axis=1), cmap=cmap, interpolation="nearest")
        value = f"p(same)={scores[k]:.2f}" if is_probability else f"d={-scores[k]:.2f}"
        color = "black"
        if y_pairs is not None:
            value = f"{'same' if y_pairs[k] else 'diff'}  {value}"
            if threshold is not None:
                color = "tab:green" if (scores[k] >= threshold) == y_pairs[k] else "tab:red"
        ax.set_title(value, fontsize=9, color=color)
    fig.tight_layout()
    return fig


@validate_params(
    {
        "estimator": "no_validation",
        "X_gallery": ["array-like"],
        "y_gallery": ["array-like"],
        "X_probe": ["array-like"],
        "y_probe": ["array-like"],
        "far": [Real, None],  # its range is checked in the body
        "threshold": [Real, None],
        "label": [str, None],
        "ax": [HasMethods(["step"]), None],
    },
    prefer_skip_nested_validation=True,
)
def plot_open_set_curve(
    estimator,
    X_gallery,
    y_gallery,
    X_probe,
    y_probe,
    *,
    far=0.01,
    threshold=None,
    label=None,
    ax=None,
):
    """Open-set ROC: identification rate (DIR) against the false-accept rate on strangers.

    Drawn from :func:`~sklearn_siamese.metrics.open_set_curve`, with the
    false-accept rate on a log axis. Two points can be marked: the target
    ``far`` (the best DIR at that rate, :func:`~sklearn_siamese.metrics.dir_at_far`),
    and where a given ``threshold`` lands on these probes, e.g. a
    verifier's ``threshold_`` calibrated on other strangers with
    ``calibrate_rejection`` (for an embedder or raw features the
    similarity is the negated distance: pass ``-radius``).

    Parameters
    ----------
    estimator : fitted SiameseEmbedder, SiameseVerifier, Pipeline, transformer or None
        Model comparing probes with the gallery.
    X_gallery : array-like of shape (n_gallery, n_features)
        References of the enrolled classes.
    y_gallery : array-like of shape (n_gallery,)
        Their classes.
    X_probe : array-like of shape (n_probes, n_features)
        Known and unknown probes (classes absent from ``y_gallery``).
    y_probe : array-like of shape (n_probes,)
        Their classes.
    far : float in (0, 1) or None, default=0.01
        Target false-accept rate to mark; None marks none.
    threshold : float, default=None
        A threshold on the similarity whose operating point to mark.
    label : str, default=None
        Legend label of the curve.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes
        One line for the curve, and one more per marked point.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> gallery = np.flatnonzero(y < 5)[:25]
    >>> probes = np.setdiff1d(np.arange(len(y)), gallery)
    >>> ax = plot_open_set_curve(None, X[gallery], y[gallery], X[probes], y[probes], far=0.1)
    >>> len(ax.lines)
    2
    """
    if far is not None and not 0 < far < 1:
        raise ValueError(f"far must be strictly between 0 and 1, got {far!r}.")
    rates, dirs, thresholds = open_set_curve(estimator, X_gallery, y_gallery, X_probe, y_probe)
    n_unknown = int(np.sum(~np.isin(np.asarray(y_probe), np.asarray(y_gallery))))
    floor = 0.5 / n_unknown  # where a rate of 0 is drawn on the log axis
    ax = _new_axes(ax, (6, 4.5))
    ax.step(np.maximum(rates, floor), dirs, where="post", label=label or "DIR at each threshold")
    if far is not None:
        k = int(np.flatnonzero(rates <= far)[-1])
        ax.plot(
            max(rates[k], floor), dirs[k], "o", ms=8,
            label=f"target FAR {100 * far:g}%: DIR {dirs[k]:.3f}",
        )
    if threshold is not None:
        k = int(np.flatnonzero(thresholds >= threshold)[-1])
        ax.plot(
            max(rates[k], floor), dirs[k], "s", ms=8, mfc="none",
            label=f"threshold {threshold:.3g}: FAR {100 * rates[k]:.1f}%, DIR {dirs[k]:.3f}",
        )
    ax.set_xscale("log")
    ax.set_xlim(floor / 1.5, 1.05)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"false-accept rate on unknown probes ({n_unknown}; 0 drawn at {floor:.2g})")
    ax.set_ylabel("detection and identification rate (DIR)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return ax
