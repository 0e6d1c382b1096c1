"""Batch data augmentation for image rows, done in torch on the whole batch.

:class:`RandomAffine` applies the affine distortions of Koch et al. (2015)
to every image of a batch at once (one ``affine_grid``/``grid_sample`` call,
no per-sample Python loop). Randomness comes from torch's generator, which
the estimators seed from ``random_state`` at fit, so augmented training is
reproducible.
"""

import math
from numbers import Real

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

from ._training.checks import square_image_side

__all__ = ["RandomAffine"]


class RandomAffine(BaseEstimator):
    """Random rotation, shear, scale and translation of image rows.

    Each of the four distortions is applied to each image independently
    with probability ``p`` (Koch et al. 2015: rotation +-10 degrees, shear
    +-0.3, scale 0.8-1.2, translation +-2 pixels, each with probability 0.5).

    Parameters
    ----------
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` of a row. None
        lets the estimator fill it in from the encoder's ``input_shape`` or
        from a square number of features.
    rotation : float, default=10.0
        Maximum rotation in degrees.
    shear : float, default=0.3
        Maximum shear factor.
    scale : tuple of float, default=(0.8, 1.2)
        Range of the scale factor.
    translate : float, default=2.0
        Maximum translation in pixels (relative to a 105-pixel-wide image
        in the paper; scale it for smaller images).
    p : float, default=0.5
        Probability of applying each distortion.

    Examples
    --------
    >>> import torch
    >>> aug = RandomAffine(image_shape=(8, 8))
    >>> aug(torch.rand(5, 64)).shape
    torch.Size([5, 64])
    """

    _parameter_constraints = {
        "image_shape": ["array-like", None],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "shear": [Interval(Real, 0, None, closed="left")],
        "scale": ["array-like"],
        "translate": [Interval(Real, 0, None, closed="left")],
        "p": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, image_shape=None, rotation=10.0, shear=0.3, scale=(0.8, 1.2), translate=2.0, p=0.5):
        self.image_shape = image_shape
        self.rotation = rotation
        self.shear = shear
        self.scale = scale
        self.translate = translate
        self.p = p

    def _shape(self, n_features):
        shape = self.image_shape
        if shape is None:
            side = square_image_side(n_features, f"RandomAffine: rows of {n_features} features are not square images")
            shape = (side, side)
        shape = tuple(int(s) for s in shape)
        if len(shape) == 2:
            shape = (1,) + shape
        if math.prod(shape) != n_features:
            raise ValueError(
                f"RandomAffine: image_shape={self.image_shape!r} holds {math.prod(shape)} values "
                f"but rows have {n_features} features."
            )
        return shape

    def __call__(self, X):
        """Return an augmented copy of the batch ``X`` of shape ``(batch, n_features)``."""
        validate_parameter_constraints(self._parameter_constraints, self.get_params(), type(self).__name__)
        n, n_features = X.shape
        c, h, w = self._shape(n_features)
        dev, dt = X.device, X.dtype

        def draw(low, high):
            value = torch.empty(n, device=dev, dtype=dt).uniform_(low, high)
            keep = torch.rand(n, device=dev) < self.p
            return value, keep

        angle, use = draw(-self.rotation, self.rotation)
        angle = torch.where(use, angle, 0.0) * math.pi / 180
        shear_x, use = draw(-self.shear, self.shear)
        shear_x = torch.where(use, shear_x, 0.0)
        shear_y, use = draw(-self.shear, self.shear)
        shear_y = torch.where(use, shear_y, 0.0)
        lo, hi = self.scale
        scale, use = draw(lo, hi)
        scale = torch.where(use, scale, 1.0)
        tx, use = draw(-self.translate, self.translate)
        tx = torch.where(use, tx, 0.0) * 2 / w  # pixels -> normalised coordinates
        ty, use = draw(-self.translate, self.translate)
        ty = torch.where(use, ty, 0.0) * 2 / h

        cos, sin = torch.cos(angle), torch.sin(angle)
        rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        ones = torch.ones_like(cos)
        shear = torch.stack([torch.stack([ones, shear_x], 1), torch.stack([shear_y, ones], 1)], 1)
        linear = rot @ shear * scale[:, None, None]
        # affine_grid maps output to input coordinates: invert the forward map.
        inverse = torch.linalg.inv(linear)
        shift = torch.stack([tx, ty], 1)[:, :, None]
        theta = torch.cat([inverse, -inverse @ shift], dim=2)
        images = X.reshape(n, c, h, w)
        grid = F.affine_grid(theta, images.shape, align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.reshape(n, n_features)
