"""Encoder specifications: small estimator-like objects that build a module.

An estimator's ``encoder`` parameter takes one of these (or a name, a
``torch.nn.Module``, or a callable that returns one). Specs have
``get_params``/``set_params``, so their hyperparameters are searchable with
nested names such as ``encoder__hidden_sizes`` in ``GridSearchCV``; the
module itself is only built at ``fit``, from the number of input features
and ``embedding_dim``.

Rows of ``X`` stay flat ``(n_samples, n_features)`` so scalers and
pipelines work; image encoders reshape them with ``input_shape``.
"""

import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints
from torch import nn

from ._training.checks import image_shape_holding, square_image_side

__all__ = ["BackboneEncoder", "ConvEncoder", "EncoderSpec", "KochEncoder", "MLPEncoder"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class EncoderSpec(BaseEstimator):
    """Base class of encoder specifications.

    Subclasses implement :meth:`_build` and declare
    ``_parameter_constraints``.
    """

    _parameter_constraints: dict = {}

    def build(self, n_features, embedding_dim):
        """Validate the parameters and return a freshly initialised module.

        Parameters
        ----------
        n_features : int
            Length of each input row.
        embedding_dim : int
            Size of the embedding the module must output.

        Returns
        -------
        module : torch.nn.Module
            Maps a float tensor ``(batch, n_features)`` to
            ``(batch, embedding_dim)``.
        """
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), caller_name=type(self).__name__
        )
        return self._build(n_features, embedding_dim)

    def _build(self, n_features, embedding_dim):
        raise NotImplementedError

    def _build_architecture(self, n_features, embedding_dim):
        """The module :meth:`build` returns, for weights about to be replaced (``load_weights``).

        By default :meth:`build` itself; a spec whose ``build`` loads
        pretrained weights skips loading them here.
        """
        return self.build(n_features, embedding_dim)


class _Reshape(nn.Module):
    """Turn flat rows into ``(batch, *shape)`` images."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        # x.shape[0], not len(x): stays symbolic, so ONNX export keeps a dynamic batch axis.
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


def _check_input_shape(spec, n_features):
    if spec.input_shape is None:
        name = type(spec).__name__
        side = square_image_side(
            n_features,
            f"{name}: input_shape=None takes the image shape from X, but its rows of "
            f"{n_features} features are not square images",
            "pass X of shape (n, height, width) or (n, channels, height, width), "
            "or set input_shape=(height, width)",
        )
        return (1, side, side)
    return image_shape_holding(
        spec.input_shape, n_features, "input_shape", f"{type(spec).__name__}: ",
        " Set encoder__input_shape to the image shape of each row.",
    )


def _flat_size(features, shape):
    with torch.no_grad():
        return int(np.prod(features(torch.zeros(1, *shape)).shape[1:]))


class MLPEncoder(EncoderSpec):
    """Fully connected encoder, the classic siamese MLP.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(128, 128)
        Width of each hidden layer; the output layer has ``embedding_dim``
        units.
    activation : {"relu", "tanh", "sigmoid", "gelu"}, default="relu"
        Non-linearity after each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden layer.
    batch_norm : bool, default=False
        Whether to add batch normalisation after each hidden linear layer.

    Examples
    --------
    >>> from sklearn_siamese.encoders import MLPEncoder
    >>> module = MLPEncoder(hidden_sizes=(16,)).build(n_features=8, embedding_dim=2)
    >>> module[0]
    Linear(in_features=8, out_features=16, bias=True)
    """

    _parameter_constraints = {
        "hidden_sizes": ["array-like"],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
    }

    def __init__(self, hidden_sizes=(128, 128), activation="relu", dropout=0.0, batch_norm=False):
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm

    def _build(self, n_features, embedding_dim):
        layers, width = [], n_features
        for size in self.hidden_sizes:
            if not isinstance(size, Integral) or size < 1:
                raise ValueError(f"MLPEncoder: hidden_sizes must be positive integers, got {self.hidden_sizes!r}.")
            layers.append(nn.Linear(width, int(size)))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(int(size)))
            layers.append(_ACTIVATIONS[self.activation]())
            if self.dropout:
                layers.append(nn.Dropout(self.dropout))
            width = int(size)
        layers.append(nn.Linear(width, embedding_dim))
        return nn.Sequential(*layers)


# channels="auto": AUTO_CHANNELS on images whose smaller side is at least
# AUTO_REFERENCE_SIDE; smaller images get them widened by reference / side,
# at most AUTO_MAX_WIDENING times, which keeps the second block's
# multiply-adds per image (proportional to width**2 * side**2) about constant.
AUTO_CHANNELS = (32, 64)
AUTO_REFERENCE_SIDE = 28
AUTO_MAX_WIDENING = 2.0


def _auto_channels(height, width):
    """The block widths ``channels="auto"`` gives a ``height`` x ``width`` image."""
    scale = min(AUTO_MAX_WIDENING, max(1.0, AUTO_REFERENCE_SIDE / min(height, width)))
    return tuple(8 * round(c * scale / 8) for c in AUTO_CHANNELS)


def _check_channels(channels, height, width):
    if isinstance(channels, str):
        return _auto_channels(height, width)
    channels = tuple(channels)
    if not channels or not all(isinstance(c, Integral) and not isinstance(c, bool) and c >= 1 for c in channels):
        raise ValueError(
            f"ConvEncoder: channels must be 'auto' or a non-empty tuple of positive integers, got {channels!r}."
        )
    return tuple(int(c) for c in channels)


class ConvEncoder(EncoderSpec):
    """Small convolutional encoder for small grayscale images (e.g. 28x28).

    Each block is a 3x3 convolution (padding 1), batch normalisation, ReLU
    and 2x2 max pooling; a linear layer maps the flattened features to the
    embedding.

    Parameters
    ----------
    input_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` of each sample.
        None takes it from X at fit: the image shape of X given as
        ``(n, H, W)`` or ``(n, C, H, W)``, or a square ``(s, s)`` when rows
        of 2-D X hold ``s * s`` features (``ValueError`` otherwise).
    channels : tuple of int or "auto", default="auto"
        Output channels of each convolutional block. ``"auto"`` is two
        blocks, ``(32, 64)`` on images whose smaller side is 28 pixels or
        more; smaller images get blocks widened by ``28 / side``, at most
        2x, rounded to multiples of 8: ``(64, 128)`` on 14x14 and on 8x8.
        On 8x8 digits ``(64, 128)`` fits in less than half the time of the
        previous ``(112, 224)`` (4x) for about a point less unseen-class
        accuracy, and ``(32, 64)`` loses 4 points (see "Time to accuracy"
        on the defaults page of the user guide).
    dropout : float, default=0.0
        Dropout before the final linear layer.
    """

    _parameter_constraints = {
        "input_shape": ["array-like", None],
        "channels": ["array-like", StrOptions({"auto"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, input_shape=None, channels="auto", dropout=0.0):
        self.input_shape = input_shape
        self.channels = channels
        self.dropout = dropout

    def _build(self, n_features, embedding_dim):
        shape = _check_input_shape(self, n_features)
        blocks, in_ch, (h, w) = [], shape[0], shape[1:]
        for out_ch in _check_channels(self.channels, h, w):
            blocks += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch)]
            # ReLU after the pooling: max pooling and ReLU commute (ReLU is
            # monotone), so the block computes exactly conv -> BN -> ReLU ->
            # pool, forward and backward, with the ReLU on a quarter of the
            # activations (benchmarks/block_order.py).
            if min(h, w) >= 2:
                blocks.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            blocks.append(nn.ReLU())
            in_ch = out_ch
        features = nn.Sequential(*blocks)
        head = [nn.Flatten()]
        if self.dropout:
            head.append(nn.Dropout(self.dropout))
        head.append(nn.Linear(_flat_size(features, shape), embedding_dim))
        return nn.Sequential(_Reshape(shape), features, *head)


class KochEncoder(EncoderSpec):
    """Convolutional encoder of Koch, Zemel and Salakhutdinov (2015).

    Four convolutions (64@10x10, 128@7x7, 128@4x4, 256@4x4) with ReLU, the
    first three followed by 2x2 max pooling, then a sigmoid-activated
    fully connected layer of ``embedding_dim`` units (4096 in the paper).
    Designed for 105x105 Omniglot characters.

    Parameters
    ----------
    input_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` of each sample;
        None takes it from X, as :class:`ConvEncoder` does.
    """

    _parameter_constraints = {"input_shape": ["array-like", None]}

    def __init__(self, input_shape=None):
        self.input_shape = input_shape

    def _build(self, n_features, embedding_dim):
        shape = _check_input_shape(self, n_features)
        features = nn.Sequential(
            # Pooling before each ReLU: the same function as ReLU -> pool
            # (they commute), with the ReLU on a quarter of the activations.
            nn.Conv2d(shape[0], 64, 10), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(64, 128, 7), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(128, 128, 4), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(128, 256, 4), nn.ReLU(),
        )  # fmt: skip
        try:
            flat = _flat_size(features, shape)
        except RuntimeError as exc:
            raise ValueError(
                f"KochEncoder: input_shape={self.input_shape!r} is too small for its "
                "four convolutions; it needs images of about 105x105."
            ) from exc
        return nn.Sequential(_Reshape(shape), features, nn.Flatten(), nn.Linear(flat, embedding_dim), nn.Sigmoid())


class BackboneEncoder(EncoderSpec):
    """A torchvision or timm model, pretrained or not, with a projection head to ``embedding_dim``.

    The way to fine-tune an ImageNet backbone with a contrastive or
    triplet loss: the model's classifier is replaced by a projection head
    (``head_hidden_sizes``, then a linear layer to ``embedding_dim``), and
    the rows of X are turned into what the backbone expects: grey images
    repeated to its channels, resized when it does not take their size,
    normalised as its weights were trained. Frozen blocks
    (``trainable``) stay in eval mode, so their batch-norm statistics do
    not change, and are left out of the optimiser; the trainable ones
    learn at ``backbone_lr_factor`` times the estimator's ``lr``.
    torchvision and timm are imported only when the module is built
    (extra ``backbones``: ``pip install 'sklearn-siamese[backbones]'``).

    Parameters
    ----------
    model : str, default="resnet18"
        Model name in ``source``: ``torchvision.models.list_models()``
        or ``timm.list_models()``. An unknown name is a ``ValueError``
        listing the close matches.
    source : {"torchvision", "timm"}, default="torchvision"
        The library of ``model``.
    weights : str, path-like or None, default="DEFAULT"
        A weight name of the library (torchvision: ``"DEFAULT"``,
        ``"IMAGENET1K_V1"``, ...; timm: ``"DEFAULT"`` or a pretrained tag
        such as ``"a1_in1k"``), downloaded on first use into torch's or
        Hugging Face's cache; the path of a state dict of the model
        (``torch.save(model.state_dict(), path)``; a string is a path when
        it holds a ``/`` or ends in ``.pt``, ``.pth``, ``.bin`` or
        ``.ckpt``), whose classifier weights are ignored; or None for
        random initial weights. A name or file that does not fit the model
        is a ``ValueError``. Only ``fit`` reads them: ``load_weights``
        restores the trained weights without.
    trainable : "all", "head" or int, default="all"
        What trains: the whole network, the projection head alone (the
        backbone is a frozen feature extractor), or the head and the last
        N blocks of the backbone, the layers with weights found from the
        top, a layer that holds most of its level's weights replaced by its
        own layers when it has as many (ResNet: conv1, bn1, layer1, ...,
        layer4, so ``trainable=1`` trains layer4; EfficientNet: the stages
        of ``features``; ViT: the encoder layers). The built module's
        ``trainable_blocks`` lists them; a larger N than there are blocks
        is a ``ValueError`` that lists them all.
    backbone_lr_factor : float or "auto", default="auto"
        Learning rate of the trainable backbone blocks, as a multiple of
        the estimator's ``lr`` (the head learns at ``lr``). ``"auto"`` is
        0.1 with pretrained weights, which keeps fine-tuning from
        erasing what they learned, and 1.0 with ``weights=None``.
    head_hidden_sizes : tuple of int, default=()
        Hidden layers (ReLU) of the projection head; ``()`` is one linear
        layer.
    input_shape : tuple of int, default=None
        ``(height, width)`` or ``(channels, height, width)`` of each sample;
        None takes it from X, as :class:`ConvEncoder` does. One channel
        (grey) or the backbone's own number (3).
    image_size : "auto", int, tuple of int or None, default="auto"
        Size the images are resized to (bilinear, antialiased when
        shrinking). ``"auto"``: their own size when the backbone accepts
        it (convolutional nets with global pooling do), else the size its
        weights were trained at (224 for most; a ViT needs it). None never
        resizes.
    normalization : "auto", tuple or None, default="auto"
        ``(mean, std)`` per channel of the images in [0, 1]; ``"auto"`` is
        the normalisation the model's weights were trained with (the
        ImageNet mean and std for most); None leaves them in [0, 1].
    value_range : tuple of float, default=(0.0, 1.0)
        The range of X's values, mapped to [0, 1] first: ``(0, 255)`` for
        uint8 pixels.

    See Also
    --------
    ConvEncoder : A small convolutional net trained from scratch.

    Examples
    --------
    >>> from sklearn_siamese.encoders import BackboneEncoder
    >>> spec = BackboneEncoder("resnet18", weights=None, trainable=1, input_shape=(3, 64, 64))
    >>> module = spec.build(n_features=3 * 64 * 64, embedding_dim=16)
    >>> module.trainable_blocks
    ('layer4',)
    >>> module.head
    Sequential(
      (0): Linear(in_features=512, out_features=16, bias=True)
    )
    """

    _parameter_constraints = {
        "model": [str],
        "source": [StrOptions({"torchvision", "timm"})],
        "weights": [str, os.PathLike, None],
        "trainable": [StrOptions({"all", "head"}), Interval(Integral, 0, None, closed="left")],
        "backbone_lr_factor": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "head_hidden_sizes": ["array-like"],
        "input_shape": ["array-like", None],
        "image_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "normalization": [StrOptions({"auto"}), tuple, list, None],
        "value_range": [tuple, list],
    }

    def __init__(
        self,
        model="resnet18",
        *,
        source="torchvision",
        weights="DEFAULT",
        trainable="all",
        backbone_lr_factor="auto",
        head_hidden_sizes=(),
        input_shape=None,
        image_size="auto",
        normalization="auto",
        value_range=(0.0, 1.0),
    ):
        self.model = model
        self.source = source
        self.weights = weights
        self.trainable = trainable
        self.backbone_lr_factor = backbone_lr_factor
        self.head_hidden_sizes = head_hidden_sizes
        self.input_shape = input_shape
        self.image_size = image_size
        self.normalization = normalization
        self.value_range = value_range

    def _build_architecture(self, n_features, embedding_dim):
        validate_parameter_constraints(
            self._parameter_constraints, self.get_params(deep=False), caller_name=type(self).__name__
        )
        return self._build(n_features, embedding_dim, load_weights=False)

    def _build(self, n_features, embedding_dim, load_weights=True):
        from ._training.backbones import BackboneModule, InputAdapter, expected_channels, load_backbone

        shape = _check_input_shape(self, n_features)
        low, high = self._value_range()
        backbone, (mean, std, trained_size, fixed_size) = load_backbone(
            self.source, self.model, self.weights, load_weights
        )
        channels = expected_channels(backbone)
        if shape[0] not in (1, channels):
            raise ValueError(
                f"BackboneEncoder: {self.model} takes images of {channels} channels, or grey ones (1 channel) "
                f"that are repeated to {channels}; X holds images of {shape[0]} channels."
            )
        mean, std = self._mean_std(mean, std, channels)
        backbone.eval()  # probed in eval mode: batch-norm statistics stay as loaded
        size = self._size(backbone, shape, channels, trained_size, fixed_size)
        adapter = InputAdapter(shape, channels, size, mean, std, (low, high))
        try:
            with torch.no_grad():
                features = backbone(adapter(torch.zeros(1, n_features))).flatten(1).shape[1]
        except (RuntimeError, AssertionError, ValueError) as exc:
            raise ValueError(f"BackboneEncoder: {self.model} fails on images of size {size}: {exc}") from exc
        head = MLPEncoder(hidden_sizes=self.head_hidden_sizes).build(features, embedding_dim)
        factor = self.backbone_lr_factor
        if factor == "auto":
            factor = 1.0 if self.weights is None else 0.1
        module = BackboneModule(adapter, backbone, head, self._trainable_blocks(backbone), factor)
        return module.train()

    def _value_range(self):
        try:
            low, high = (float(v) for v in self.value_range)
        except (TypeError, ValueError):
            low = high = None
        if low is None or not low < high:
            raise ValueError(f"BackboneEncoder: value_range must be (low, high) with low < high, got {self.value_range!r}.")
        return low, high

    def _mean_std(self, mean, std, channels):
        if self.normalization is None:
            return (0.0,) * channels, (1.0,) * channels
        if not isinstance(self.normalization, str):
            try:
                mean, std = self.normalization
                mean = np.broadcast_to(np.asarray(mean, dtype=float), (channels,))
                std = np.broadcast_to(np.asarray(std, dtype=float), (channels,))
            except ValueError as exc:
                raise ValueError(
                    f"BackboneEncoder: normalization must be 'auto', None or (mean, std), each a number or "
                    f"one per channel ({channels}), got {self.normalization!r}."
                ) from exc
            if not (std > 0).all():
                raise ValueError(f"BackboneEncoder: the std of normalization must be positive, got {self.normalization!r}.")
        return tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def _size(self, backbone, shape, channels, trained_size, fixed_size):
        """``(height, width)`` the adapter resizes the images to."""
        own = tuple(shape[1:])
        if self.image_size is None:
            return own
        if not isinstance(self.image_size, str):
            size = (self.image_size,) * 2 if isinstance(self.image_size, Integral) else tuple(self.image_size)
            if len(size) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in size):
                raise ValueError(f"BackboneEncoder: image_size must be 'auto', None, an int or (height, width), got {self.image_size!r}.")
            return tuple(int(s) for s in size)
        if not fixed_size:
            try:
                with torch.no_grad():
                    backbone(torch.zeros(1, channels, *own))
                return own
            except (RuntimeError, AssertionError, ValueError):  # a ViT asserts its number of patches
                pass
        return (trained_size, trained_size)

    def _trainable_blocks(self, backbone):
        """Names of the backbone blocks that train; None: all of the backbone."""
        from ._training.backbones import blocks

        if self.trainable == "all":
            return None
        if self.trainable == "head":
            return ()
        names = blocks(backbone)
        if self.trainable > len(names):
            raise ValueError(
                f"BackboneEncoder: trainable={self.trainable}, but {self.model} has {len(names)} blocks "
                f"({', '.join(names)}); use trainable='all' to train all of it."
            )
        return tuple(names[len(names) - self.trainable :])

ENCODERS = {"mlp": MLPEncoder, "conv": ConvEncoder, "koch": KochEncoder}
# The encoders of this module, whose convolutions may run channels_last (``_training.precision``).
BUILT_IN_ENCODERS = (*ENCODERS.values(), BackboneEncoder)
