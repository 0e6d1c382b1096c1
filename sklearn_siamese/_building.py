"""Building the encoder module from the ``encoder`` parameter, and the training augmentation.

The glue between the public pieces (:mod:`sklearn_siamese.encoders`,
:mod:`sklearn_siamese.augmentation`) and the training floor
(:mod:`sklearn_siamese._training.encoder`). The augmentation is built here
too, since ``"affine"`` takes its image shape from the encoder.
"""

import copy
import inspect
import math

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from ._training.encoder import EmbeddingModule, ImageInput, probe_encoder
from .augmentation import RandomAffine
from .encoders import ENCODERS, EncoderSpec

DEFAULT_EMBEDDING_DIM = 32


def encoder_spec(encoder, n_features=None, image_shape=None):
    """The ``encoder`` parameter with a built-in name replaced by its default spec.

    ``"auto"`` is a :class:`ConvEncoder` for images (``image_shape`` not
    None: the estimator's ``image_shape_``, see
    :func:`~sklearn_siamese._training.checks.resolve_image_shape`) and an
    :class:`MLPEncoder` otherwise.
    """
    if encoder == "auto":
        encoder = "conv" if image_shape is not None else "mlp"
    return ENCODERS[encoder]() if isinstance(encoder, str) else encoder


def check_sparse_encoder(encoder, image_shape, rotation_classes, who):
    """Refuse, for a sparse X, what reads rows as images.

    Sparse rows (a ``TfidfVectorizer``'s) train an :class:`MLPEncoder`
    (``encoder="auto"`` chooses it) or a module of the user's, densified
    one batch at a time.
    """
    spec = None if isinstance(encoder, str) and encoder == "auto" else encoder_spec(encoder)
    remedy = "Sparse rows (e.g. from TfidfVectorizer) train encoder='mlp' or 'auto', densified one batch at a time"
    if isinstance(spec, EncoderSpec) and "input_shape" in spec.get_params():
        raise ValueError(
            f"{who}: X is a sparse matrix, but encoder={encoder!r} reads rows as images. {remedy}; "
            "pass X.toarray() to an image encoder."
        )
    if image_shape is not None and not (isinstance(image_shape, str) and image_shape == "auto"):
        raise ValueError(f"{who}: X is a sparse matrix, which holds no images, but image_shape={image_shape!r}. {remedy}.")
    if rotation_classes:
        raise ValueError(f"{who}: rotation_classes=True rotates images, and X is a sparse matrix. {remedy}.")


def _call_builder(builder, n_features, embedding_dim, input_shape=None):
    """Call a class or function that builds an encoder, passing the sizes it accepts."""
    try:
        accepted = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepted = {}
    offered = {"n_features": n_features, "embedding_dim": embedding_dim, "input_shape": input_shape}
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


def build_module(encoder, embedding_dim, normalize, X_probe, device, image_shape=None, for_loading=False):
    """The embedding module of the estimators' ``encoder``, ``embedding_dim`` and ``normalize``, and its output size.

    ``X_probe``, two rows of X, is run through the encoder once so a bad
    encoder fails here, clearly. ``image_shape`` is the estimator's
    ``image_shape_``, ``(C, H, W)`` when X holds images: a user's module
    (or the module a user's callable builds) then receives its batches as
    ``(batch, C, H, W)`` images (:class:`ImageInput`), and rows
    ``(batch, n_features)`` otherwise. ``for_loading``: the module's
    weights are about to be replaced by saved ones, so a spec need not
    load pretrained weights (``EncoderSpec._build_architecture``).
    Returns ``(module, embedding_dim)``.
    """
    n_features = X_probe.shape[1]
    given = encoder
    encoder = with_image_shape(encoder, n_features, image_shape)
    if isinstance(encoder, EncoderSpec):
        build = encoder._build_architecture if for_loading else encoder.build
        module = build(n_features, embedding_dim or DEFAULT_EMBEDDING_DIM)
    else:
        if isinstance(encoder, nn.Module):
            module = copy.deepcopy(encoder)
        else:
            module = _call_builder(encoder, n_features, embedding_dim, image_shape)
            if not isinstance(module, nn.Module):
                raise TypeError(
                    f"encoder={given!r} returned {type(module).__name__}, not a torch.nn.Module."
                )
        if image_shape is not None:
            module.register_forward_pre_hook(ImageInput(image_shape))
    module = module.to(device)
    received_shape = None if isinstance(encoder, EncoderSpec) else image_shape
    out_dim = probe_encoder(module, X_probe, device, embedding_dim, received_shape)
    return EmbeddingModule(module, normalize), out_dim


def make_augment(augmentation, encoder, X_probe, device, image_shape=None):
    """The training-batch augmentation, checked once on a probe batch.

    ``"auto"`` is ``"affine"`` when ``encoder="auto"`` reads X as images,
    and no augmentation otherwise.
    """
    n_features = X_probe.shape[1]
    augment = augmentation
    if augment == "auto":
        augment = "affine" if encoder == "auto" and image_shape is not None else None
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
