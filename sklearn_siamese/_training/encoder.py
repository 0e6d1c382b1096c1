"""The embedding module the estimators train, and the checks of a freshly built encoder.

:class:`EmbeddingModule` wraps the encoder (with L2 normalisation and the
training precision); :class:`ImageInput` hands a user's module its rows as
images; :func:`probe_encoder` runs a built encoder once to check its output.
Building the encoder from the estimators' parameters is
:mod:`sklearn_siamese._building`'s job, above this floor.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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

    def optimizer_param_groups(self, lr):
        """skorch ``optimizer__param_groups`` of the encoder, if it has any (a :class:`BackboneEncoder`'s).

        An encoder module may define ``optimizer_param_groups(lr)``
        returning ``(pattern, options)`` pairs over its own parameter
        names; they are given this module's prefix.
        """
        groups = getattr(self.encoder, "optimizer_param_groups", None)
        return [(f"encoder.{pattern}", options) for pattern, options in (groups(lr) if groups else [])]


class ImageInput:
    """Forward pre-hook that gives a user's module its input as images ``(batch, C, H, W)``.

    The estimators hold X as flat rows (so scalers and pipelines work); a
    module of the user's, built for images, receives them in the shape of
    the images X held (``image_shape_``). A hook, rather than a wrapping
    module, keeps the module and its ``state_dict`` exactly the user's.
    """

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __call__(self, module, args):
        x = args[0]
        # x.shape[0], not len(x): stays symbolic, so ONNX export keeps a dynamic batch axis.
        return (x.reshape(x.shape[0], *self.shape), *args[1:])


def probe_encoder(module, X_probe, device, embedding_dim, image_shape=None):
    """Run the encoder once on ``X_probe``; return its output size.

    ``image_shape`` is the shape the module receives the rows in, for the
    error message.
    """
    name = type(module).__name__
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.from_numpy(np.ascontiguousarray(X_probe)).to(device))
    except Exception as exc:
        received = (
            f"a batch of images of shape {(len(X_probe), *image_shape)} (batch, channels, height, width)"
            if image_shape is not None
            else f"a batch of shape {tuple(X_probe.shape)} (n_samples, n_features)"
        )
        raise ValueError(f"The encoder {name} failed on {received}: {exc}") from exc
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
