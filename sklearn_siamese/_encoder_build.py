"""Building the encoder module from the ``encoder`` parameter, and probing it.

Also the training-batch augmentation, since ``"affine"`` takes its image
shape from the encoder.
"""

import copy
import inspect
import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from torch import nn

from .augmentation import RandomAffine
from .encoders import ENCODERS, EncoderSpec

DEFAULT_EMBEDDING_DIM = 32


class EmbeddingModule(nn.Module):
    """The user's encoder, optionally followed by L2 normalisation.

    In training mode with ``autocast_dtype`` set (the estimators'
    ``precision``), the encoder runs under ``torch.autocast``; its output is
    cast back to float32 before normalisation, so the loss and distances
    are computed in float32. In eval mode it always runs in float32.
    """

    autocast_dtype = None

    def __init__(self, encoder, normalize):
        super().__init__()
        self.encoder = encoder
        self.normalize = normalize

    def forward(self, x):
        if self.training and self.autocast_dtype is not None:
            with torch.autocast(x.device.type, dtype=self.autocast_dtype):
                z = self.encoder(x)
            z = z.float()
        else:
            z = self.encoder(x)
        return F.normalize(z, dim=1) if self.normalize else z


# Smallest side of a square image that encoder="auto" reads rows as: tabular
# data with 4, 9, 16, 25, 36 or 49 columns stays with the MLP.
MIN_AUTO_IMAGE_SIDE = 8


def looks_like_images(n_features, image_shape):
    """The ``"auto"`` rule: X given as images, or rows of a square of side >= 8."""
    side = math.isqrt(n_features)
    return image_shape is not None or (side >= MIN_AUTO_IMAGE_SIDE and side * side == n_features)


def encoder_spec(encoder, n_features=None, image_shape=None):
    """The ``encoder`` parameter with a built-in name replaced by its default spec.

    ``"auto"`` is a :class:`ConvEncoder` for images (:func:`looks_like_images`)
    and an :class:`MLPEncoder` otherwise.
    """
    if encoder == "auto":
        encoder = "conv" if n_features is not None and looks_like_images(n_features, image_shape) else "mlp"
    return ENCODERS[encoder]() if isinstance(encoder, str) else encoder


def _call_builder(builder, n_features, embedding_dim):
    """Call a class or function that builds an encoder, passing the sizes it accepts."""
    try:
        accepted = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepted = {}
    offered = {"n_features": n_features, "embedding_dim": embedding_dim}
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    kwargs = {k: v for k, v in offered.items() if takes_kwargs or k in accepted}
    if kwargs.get("embedding_dim", 0) is None:
        kwargs["embedding_dim"] = DEFAULT_EMBEDDING_DIM
    return builder(**kwargs)


def with_image_shape(encoder, n_features, image_shape):
    """The encoder spec with ``input_shape=None`` replaced by the shape of the images in X."""
    encoder = encoder_spec(encoder, n_features, image_shape)
    if image_shape is not None and isinstance(encoder, EncoderSpec) and "input_shape" in encoder.get_params():
        if encoder.input_shape is None:
            encoder = clone(encoder).set_params(input_shape=tuple(image_shape))
    return encoder


def build_module(params, X_probe, device, image_shape=None):
    """The embedding module for ``params`` (an estimator's parameters) and its output size.

    ``X_probe``, two rows of X, is run through the encoder once so a bad
    encoder fails here, clearly. ``image_shape`` is the shape of X's
    samples when X was given as images. Returns ``(module, embedding_dim)``.
    """
    n_features = X_probe.shape[1]
    encoder = with_image_shape(params["encoder"], n_features, image_shape)
    embedding_dim = params["embedding_dim"]
    if isinstance(encoder, EncoderSpec):
        module = encoder.build(n_features, embedding_dim or DEFAULT_EMBEDDING_DIM)
    elif isinstance(encoder, nn.Module):
        module = copy.deepcopy(encoder)
    else:
        module = _call_builder(encoder, n_features, embedding_dim)
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"encoder={params['encoder']!r} returned {type(module).__name__}, not a torch.nn.Module."
            )
    module = module.to(device)
    out_dim = probe_encoder(module, X_probe, device, embedding_dim)
    return EmbeddingModule(module, params["normalize"]), out_dim


def probe_encoder(module, X_probe, device, embedding_dim):
    """Run the encoder once on ``X_probe``; return its output size."""
    name = type(module).__name__
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(X_probe)).to(device))
    except Exception as exc:
        raise ValueError(
            f"The encoder {name} failed on a batch of shape {tuple(X_probe.shape)} "
            f"(n_samples, n_features): {exc}"
        ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or len(out) != len(X_probe):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The encoder {name} must return a 2-D tensor (n_samples, embedding_dim); "
            f"for input of shape {tuple(X_probe.shape)} it returned {shape}."
        )
    if not torch.isfinite(out).all():
        raise ValueError(
            f"The encoder {name} returned NaN or infinite values for the first rows of X "
            f"(absolute values up to {float(np.abs(X_probe).max()):.3g}); scale X, e.g. with StandardScaler."
        )
    if embedding_dim is not None and out.shape[1] != embedding_dim:
        raise ValueError(
            f"The encoder {name} outputs {out.shape[1]} features but "
            f"embedding_dim={embedding_dim}; set embedding_dim=None to use the encoder's size."
        )
    return int(out.shape[1])


def make_augment(augmentation, encoder, X_probe, device, image_shape=None):
    """The training-batch augmentation, checked once on a probe batch.

    ``"auto"`` is ``"affine"`` when ``encoder="auto"`` reads X as images,
    and no augmentation otherwise.
    """
    n_features = X_probe.shape[1]
    augment = augmentation
    if augment == "auto":
        augment = "affine" if encoder == "auto" and looks_like_images(n_features, image_shape) else None
    if augment is None:
        return None
    image_shape = getattr(with_image_shape(encoder, n_features, image_shape), "input_shape", None) or image_shape
    if isinstance(augment, str):
        # Koch et al.'s +-2 pixels were for 105-pixel images; +-1 pixel on
        # 8x8 digits is already a large shift.
        width = image_shape[-1] if image_shape is not None else math.isqrt(n_features)
        augment = RandomAffine(translate=max(1.0, width / 14))
    elif isinstance(augment, RandomAffine):
        augment = clone(augment)  # never mutate the parameter
    if isinstance(augment, RandomAffine) and augment.image_shape is None:
        if image_shape is not None:
            augment.set_params(image_shape=image_shape)
    probe = torch.from_numpy(np.ascontiguousarray(X_probe)).to(device)
    try:
        out = augment(probe)
    except Exception as exc:
        raise ValueError(f"augmentation={augmentation!r} failed on a batch of shape {tuple(probe.shape)}: {exc}") from exc
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise ValueError(
            f"augmentation={augmentation!r} must return a tensor of the batch's shape "
            f"{tuple(probe.shape)}, got {getattr(out, 'shape', type(out).__name__)}."
        )
    return augment
