"""New training classes made inside ``fit``: rotations by 90, 180 and 270 degrees.

A character rotated by 90 degrees is, for a one-shot learner, a new
character: Koch et al. (2015), Vinyals et al. (2016) and Snell et al. (2017)
quadruple the Omniglot training classes this way. It changes ``y``, so a
transformer in a Pipeline cannot do it; ``rotation_classes=True`` does it
here, on the training rows only (validation classes stay as they are, so
early stopping still measures recognition of real unseen classes), and the
estimators' ``classes_`` stay the user's classes.
"""

import math

import numpy as np

from ._encoder_build import encoder_spec

ROTATIONS = (1, 2, 3)  # quarter turns


def rotation_image_shape(estimator, n_features):
    """``(channels, side, side)`` of a row, or a ``ValueError`` saying why there is none.

    The shape comes from the encoder's ``input_shape``, else from the
    images X held (``image_shape_``), else from an augmentation's ``image_shape``, else from a square number of features
    (one channel).
    """
    shape = getattr(encoder_spec(estimator.encoder), "input_shape", None)
    if shape is None:
        shape = getattr(estimator, "image_shape_", None)
    if shape is None:
        shape = getattr(estimator.augmentation, "image_shape", None)
    if shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"rotation_classes=True needs each row of X to be a square image, but rows of "
                f"{n_features} features are not square and the encoder has no input_shape; "
                "use an image encoder such as ConvEncoder(input_shape=(height, width))."
            )
        shape = (side, side)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3 or math.prod(shape) != n_features or shape[1] != shape[2]:
        raise ValueError(
            f"rotation_classes=True needs square images (height == width) that fill the "
            f"{n_features} features of a row; the image shape is {shape}."
        )
    return shape


def add_rotated_classes(X, y_codes, train_idx, image_shape):
    """Append the training rows rotated by 90/180/270 degrees, each rotation a new class.

    Returns ``(X_all, y_all, train_all)``: X with the rotated rows after its
    own (so every original row keeps its index), their labels (rotation
    ``r`` of class ``c`` is ``c + r * n_classes``, with ``n_classes``
    covering all of ``y_codes``, so no code collides), and the training
    rows including the new ones.
    """
    n_classes = int(y_codes.max()) + 1
    images = X[train_idx].reshape(len(train_idx), *image_shape)
    rotated = [np.rot90(images, k, axes=(2, 3)).reshape(len(train_idx), -1) for k in ROTATIONS]
    X_all = np.concatenate([X, *rotated]).astype(X.dtype, copy=False)
    y_all = np.concatenate([y_codes, *(y_codes[train_idx] + k * n_classes for k in ROTATIONS)])
    train_all = np.concatenate([train_idx, len(X) + np.arange(len(ROTATIONS) * len(train_idx))])
    return X_all, y_all, train_all
