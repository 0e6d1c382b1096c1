"""Checks shared by the estimators and the helper modules, with our own messages.

Each check is done here, before numpy or scikit-learn sees the data, so our
messages do not depend on the wording of theirs.
"""

import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array, validate_data

from .out_of_core import is_compact


def can_form_pairs(y_codes):
    """Whether integer labels give both a same-class and a different-class pair.

    That is: at least 2 classes, one of them with 2 or more samples.
    """
    counts = np.bincount(y_codes)
    return np.count_nonzero(counts) >= 2 and counts.max() >= 2


def check_can_form_pairs(y_codes, who):
    """Raise a ``ValueError`` naming ``who`` unless :func:`can_form_pairs` holds."""
    if can_form_pairs(y_codes):
        return
    n_classes = np.count_nonzero(np.bincount(y_codes))
    if n_classes < 2:
        raise ValueError(
            f"{who} needs samples of at least 2 classes to form different-class pairs; "
            f"y has {n_classes} class."
        )
    raise ValueError(
        f"{who} needs at least one class with 2 or more samples to form a "
        "same-class pair; every class in y has a single sample."
    )


def square_image_side(n_features, message, remedy="pass image_shape=(height, width)"):
    """Side of the square image a row of ``n_features`` values holds.

    ``message`` is the start of the error raised when there is none; it is
    followed by ``remedy``, what to do.
    """
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"{message}; {remedy}.")
    return side


# Channel counts a 4-D stack may carry on its last axis (grey, RGB, RGBA), read
# as torchvision's ToTensor reads an H x W x C array.
CHANNELS_LAST_COUNTS = (1, 3, 4)


def is_channels_last(shape):
    """Whether a stack of shape ``(n, a, b, c)`` holds channels-last images ``(n, H, W, C)``.

    True when the last axis has 1, 3 or 4 entries and the second does not:
    ``(n, 36, 28, 3)`` is 36x28 RGB. When both could be channels
    (``(n, 3, 4, 4)``) the stack is read channels-first, as PyTorch lays
    images out.
    """
    return len(shape) == 4 and shape[3] in CHANNELS_LAST_COUNTS and shape[1] not in CHANNELS_LAST_COUNTS


def image_shape_of(X):
    """``(channels, height, width)`` of X's samples when X is a stack of images, else None.

    Arrays of shape ``(n, H, W)``, ``(n, C, H, W)`` and channels-last
    ``(n, H, W, C)`` with C in 1, 3, 4 (:func:`is_channels_last`) are
    images; 2-D X (rows of features), sparse matrices and data frames are
    not.
    """
    if isinstance(X, (list, tuple)):
        try:
            shape = np.shape(X)
        except ValueError:  # ragged nested lists: validate_data words the error
            return None
    elif hasattr(X, "toarray") or hasattr(X, "dtypes") or not hasattr(X, "shape"):
        return None
    else:
        shape = X.shape
    if len(shape) == 3:
        return (1, *(int(s) for s in shape[1:]))
    if len(shape) == 4:
        if is_channels_last(shape):
            return (int(shape[3]), int(shape[1]), int(shape[2]))
        return tuple(int(s) for s in shape[1:])
    return None


# Smallest side of a square image that encoder="auto" may read a 2-D row as:
# tabular data with 4, 9, 16, 25, 36 or 49 columns stays tabular.
MIN_AUTO_IMAGE_SIDE = 8


def is_data_frame(X):
    """Whether X is a data frame (pandas, polars, ...): columns of named features."""
    return hasattr(X, "columns") and hasattr(X, "dtypes")


def image_shape_holding(shape, n_features, name, owner="", remedy=""):
    """``shape`` (``(H, W)`` or ``(C, H, W)``) as ``(C, H, W)``, checked to hold ``n_features`` values.

    The one check of a given image shape: the estimators' ``image_shape``
    and the encoder specs' ``input_shape`` (``name``) use it, ``owner``
    (e.g. ``"ConvEncoder: "``) starting and ``remedy`` ending the messages.
    """
    try:
        chw = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        chw = ()
    if len(chw) == 2:
        chw = (1,) + chw
    if len(chw) != 3 or min(chw) < 1:
        raise ValueError(
            f"{owner}{name} must be (height, width) or (channels, height, width) of positive sizes, got {shape!r}."
        )
    if math.prod(chw) != n_features:
        raise ValueError(
            f"{owner}{name}={shape!r} holds {math.prod(chw)} values but X has {n_features} features per sample.{remedy}"
        )
    return chw


def check_image_shape(image_shape, n_features):
    """``image_shape`` (``(H, W)`` or ``(C, H, W)``) as ``(C, H, W)``, checked against ``n_features``.

    ``(H, W, 1)`` holds the values of ``(1, H, W)`` and is read so;
    ``(H, W, 3)`` (channels last) is refused with the shape to pass.
    """
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) == 3 and shape[2] == 1 and shape[0] != 1:
        image_shape = shape = (1, shape[0], shape[1])  # (H, W, 1): the same values as (1, H, W)
    if len(shape) == 3 and min(shape) >= 1 and is_channels_last((0, *shape)):
        raise ValueError(
            f"image_shape={image_shape!r} looks like (height, width, channels); image_shape is "
            f"(channels, height, width), as PyTorch lays images out: pass image_shape={(shape[2], shape[0], shape[1])} "
            "with rows flattened from (n, channels, height, width) arrays, or pass the images themselves, "
            "(n, height, width, channels) arrays included, and leave image_shape='auto'."
        )
    return image_shape_holding(image_shape, n_features, "image_shape")


def resolve_image_shape(param, encoder, X_shape, frame, n_features, who):
    """``(C, H, W)`` of the images X holds, or None when X is tabular: the rule of ``image_shape``.

    ``param`` and ``encoder`` are the estimator's ``image_shape`` and
    ``encoder``, ``X_shape`` is :func:`image_shape_of` the X passed to fit,
    ``frame`` whether it was a data frame, ``n_features`` the values of one
    sample, ``who`` the estimator's name for the warning.

    * ``image_shape`` given: that shape (it must agree with X's images);
      None: X is tabular, whatever its shape.
    * ``"auto"``: X given as ``(n, H, W)`` or ``(n, C, H, W)`` holds images,
      a data frame never does, and a 2-D array with a square number of
      columns (side >= 8) is read as square images only when
      ``encoder="auto"`` has to choose, with a warning that names the
      choice and how to make it explicitly.
    """
    if param is None:
        return None
    if not (isinstance(param, str) and param == "auto"):
        shape = check_image_shape(param, n_features)
        if X_shape is not None and tuple(X_shape) != shape:
            raise ValueError(f"X holds images of shape {tuple(X_shape)}, but image_shape={param!r}.")
        return shape
    if X_shape is not None:
        return tuple(X_shape)
    side = math.isqrt(n_features)
    if frame or not (isinstance(encoder, str) and encoder == "auto"):
        return None
    if side < MIN_AUTO_IMAGE_SIDE or side * side != n_features:
        return None
    warnings.warn(
        f"{who} reads the {n_features} columns of X as {side}x{side} images (a ConvEncoder and random "
        f"shifts of the pixels), because their number is a square. Pass image_shape=({side}, {side}) or "
        f"X of shape (n, {side}, {side}) to confirm, or image_shape=None (or a data frame) for tabular "
        "features (an MLP, no augmentation).",
        UserWarning,
        stacklevel=5,
    )
    return (1, side, side)


def flatten_images(X, image_shape="infer"):
    """X with each image of an ``(n, H, W)`` or ``(n, C, H, W)`` stack flattened to one row.

    A channels-last stack ``(n, H, W, C)`` (:func:`is_channels_last`) is
    made channels-first before flattening (a copy), so every row holds its
    channels one after the other, as the encoders read them.
    ``image_shape`` is :func:`image_shape_of` X when the caller has it already.
    """
    if (image_shape_of(X) if image_shape == "infer" else image_shape) is None:
        return X
    X = np.asarray(X)
    if is_channels_last(X.shape):
        X = np.ascontiguousarray(np.moveaxis(X, 3, 1))
    return X.reshape(len(X), -1)


def flatten_pairs(pairs):
    """Pairs of images as ``(n_pairs, 2, n_features)`` rows; other arrays as they are.

    ``(n_pairs, 2, H, W)``, ``(n_pairs, 2, C, H, W)`` and
    ``(n_pairs, 2, H, W, C)`` pairs have each image flattened as
    :func:`flatten_images` does.
    """
    pairs = np.asarray(pairs)
    if pairs.ndim in (4, 5) and pairs.shape[1] == 2:
        sides = flatten_images(pairs.reshape(2 * len(pairs), *pairs.shape[2:]))
        return sides.reshape(len(pairs), 2, -1)
    return pairs


def check_samples(X, *, dtype=np.float32, accept_sparse=False, name="X"):
    """``check_array`` for public functions that take what the estimators take.

    Stacks of images (``(n, H, W)``, ``(n, C, H, W)``, ``(n, H, W, C)``)
    become rows (:func:`flatten_images`): the estimators fitted on images
    take their flattened rows too, and raw pixels and plain transformers
    compare rows.
    """
    return check_array(flatten_images(X), dtype=dtype, accept_sparse=accept_sparse, input_name=name)


def resolve_device(device):
    """``device`` as a ``torch.device``, refusing CUDA where there is none."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device, e.g. 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine; use device='cpu'.")
    return resolved


def _dtype_kinds(X):
    """The numpy dtype kinds of X's values (of each column for a DataFrame)."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or isinstance(X, np.ndarray):
        return {np.asarray(X).dtype.kind}
    dtypes = list(dtypes) if hasattr(dtypes, "__len__") else [dtypes]
    # pandas extension dtypes (nullable ints, strings, categories) are no numpy dtype: convert to see.
    return {d.kind if isinstance(d, np.dtype) else "O" for d in dtypes}


def check_numeric(X, name, owner):
    """Refuse complex, ragged and non-numeric X with messages naming ``name``.

    Sparse matrices are left to ``validate_data``.
    """
    if hasattr(X, "toarray"):
        return
    try:
        kinds = _dtype_kinds(X)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(
            f"{name} must hold numbers only, in rows of equal length; {owner} could not read it: {exc}"
        ) from exc
    if "c" in kinds:
        raise ValueError(
            f"Complex data not supported: {name} has complex values; {owner} needs real numbers. Pass "
            f"{name}.real, np.abs({name}), or the real and imaginary parts as separate features."
        )
    if kinds & set("OUSV"):
        try:
            np.asarray(X, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{name} must hold numbers only; {owner} could not convert it to float32: {exc}") from exc


def _check_float32_range(X, name):
    """Refuse a sparse float64 X with values that become infinite in float32, as validate_data does for arrays."""
    # max and min, not abs: no temporary copy of the values.
    if X.dtype == np.float64 and X.nnz and max(X.data.max(), -X.data.min()) > np.finfo(np.float32).max:
        raise ValueError(f"Input {name} contains infinity or a value too large for dtype('float32').")


def validate_input(estimator, X, y="no_validation", *, name="X", image_shape="infer", **kwargs):
    """``validate_data`` to float32, after our own checks of what X holds.

    A stack of images is flattened first: ``n_features_in_`` counts the
    values of one image (``C * H * W``), so images and their flattened rows
    are interchangeable. uint8/float16/float32 arrays and memmaps are
    checked but not copied: they are converted batch by batch
    (``out_of_core``). Sparse matrices become CSR (float32 or float64
    values kept as they are, other dtypes as float32), densified batch by
    batch too.
    ``image_shape`` is :func:`image_shape_of` X when the caller has it
    already.
    """
    X = flatten_images(X, image_shape)
    owner = type(estimator).__name__
    check_numeric(X, name, owner)
    try:
        if is_compact(X):
            return validate_data(estimator, X, y, dtype=None, copy=False, **kwargs)
        if sp.issparse(X):
            # float64 values (a TfidfVectorizer's) are kept: converted a batch at a time, with the rows.
            checked = validate_data(estimator, X, y, dtype=(np.float32, np.float64), accept_sparse="csr", **kwargs)
            _check_float32_range(checked[0] if isinstance(checked, tuple) else checked, name)
            return checked
        # Values beyond float32 become inf and are reported by validate_data: no overflow warning first.
        with np.errstate(over="ignore"):
            return validate_data(estimator, X, y, dtype=np.float32, **kwargs)
    except ValueError as exc:
        first_line = str(exc).split("\n", 1)[0]
        if not first_line.endswith("contains NaN."):
            raise
        # scikit-learn's own message goes on to recommend HistGradientBoosting, which does not apply here.
        raise ValueError(
            f"{first_line} {owner} needs finite numbers: fill the missing values first (e.g. "
            "sklearn.impute.SimpleImputer in a Pipeline before it) or drop the rows that have them."
        ) from None


def validate_pairs(estimator, pairs):
    """Pairs of shape ``(n_pairs, 2, n_features)`` as two float32 arrays of rows.

    The checks that ``validate_data`` would word for "X" are made here, so
    the messages name ``pairs``.
    """
    owner = type(estimator).__name__
    try:
        pairs = flatten_pairs(pairs)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"pairs must be an array-like of shape (n_pairs, 2, n_features): {exc}") from exc
    if pairs.ndim != 3 or pairs.shape[1] != 2:
        raise ValueError(
            "pairs must have shape (n_pairs, 2, n_features), got shape "
            f"{pairs.shape}. Stack the two sides with np.stack([X1, X2], axis=1)."
        )
    if pairs.shape[0] == 0:
        raise ValueError("pairs is empty: at least one pair is required.")
    check_numeric(pairs, "pairs", owner)
    n_pairs, _, n_features = pairs.shape
    if n_features != estimator.n_features_in_:
        raise ValueError(
            f"pairs has {n_features} features, but {owner} is expecting {estimator.n_features_in_} features as input."
        )
    with np.errstate(over="ignore"):
        flat = pairs.reshape(2 * n_pairs, n_features).astype(np.float32)
    if np.isnan(flat).any():
        raise ValueError("Input pairs contains NaN.")
    if np.isinf(flat).any():
        raise ValueError("Input pairs contains infinity or a value too large for dtype('float32').")
    with warnings.catch_warnings():
        # A 3-D pairs array cannot carry column names.
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        flat = validate_data(estimator, flat, dtype=np.float32, reset=False)
    flat = flat.reshape(n_pairs, 2, n_features)
    return flat[:, 0], flat[:, 1]


def warn_if_classes_unseen(classes, y, who):
    """Warn when no label of ``y`` is among ``classes``: an accuracy that is 0 by construction.

    This is what scoring a classifier of the training classes on a fold of
    unseen classes (``GroupKFold`` with the classes as groups) silently gives.
    """
    y = np.asarray(y)
    if len(y) == 0 or np.isin(y, classes).any():
        return
    shown = np.unique(y)
    warnings.warn(
        f"None of the {len(shown)} classes of y ({shown[:5].tolist()}{', ...' if len(shown) > 5 else ''}) is "
        f"among the {len(classes)} classes {who} was fitted on, so its accuracy is 0 by construction. "
        "On folds of classes unseen in training (GroupKFold with groups=y), score the embedding "
        "instead: scoring=sklearn_siamese.metrics.make_one_shot_scorer() (it also accepts a pipeline "
        "ending in KNeighborsClassifier), or give the new classes references first.",
        UserWarning,
        stacklevel=3,
    )
