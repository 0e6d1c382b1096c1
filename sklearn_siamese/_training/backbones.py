"""Pretrained backbones from torchvision or timm, made into embedding encoders.

:class:`~sklearn_siamese.encoders.BackboneEncoder` builds its module here:

1. :func:`model_library` imports torchvision or timm (optional extras, only
   when a backbone is built) and wraps what differs between them: model
   names, weight names, creating a model, its preprocessing and its
   classifier;
2. :func:`load_backbone` creates the model, loads the weights (a name the
   library downloads, or a local state dict) and removes its classifier;
3. :class:`InputAdapter` turns the estimators' flat rows into the images
   the backbone expects (channels, size, normalisation);
4. :class:`BackboneModule` is adapter, backbone and projection head, with
   frozen blocks kept in eval mode and out of the optimiser, and the
   backbone's learning rate as a parameter group.
"""

import difflib
import importlib
import os

import torch
import torch.nn.functional as F
from torch import nn

EXTRA = "backbones"
# What "auto" falls back to for a model whose library gives no preprocessing.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 224
# Suffixes that make a string of ``weights`` a file rather than a weight name.
STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")


def _import(source):
    try:
        return importlib.import_module(source)
    except (ImportError, RuntimeError) as exc:
        # RuntimeError: torchvision built for another torch ("operator torchvision::nms does not exist").
        raise ImportError(
            f"BackboneEncoder(source={source!r}) needs {source}, which could not be imported ({exc}). "
            f"Install the extra: pip install 'sklearn-siamese[{EXTRA}]' (torchvision and timm, "
            "with a torchvision built for the installed torch)."
        ) from exc


class _Torchvision:
    """torchvision's classification models and their weight enums."""

    name = "torchvision"

    def __init__(self):
        self.models = _import("torchvision").models

    def model_names(self):
        return sorted(self.models.list_models(module=self.models))

    def weight_names(self, model):
        return list(self.models.get_model_weights(model).__members__)

    def create(self, model, weights):
        return self.models.get_model(model, weights=weights)

    def preprocessing(self, model, weights):
        """``(mean, std, size the weights were trained at, whether only that size works)``."""
        transforms = self.models.get_model_weights(model)[weights or "DEFAULT"].transforms()
        return tuple(transforms.mean), tuple(transforms.std), int(transforms.crop_size[0]), None

    def remove_classifier(self, backbone):
        """Replace the last linear layer by the identity; return its state-dict prefix (None if none)."""
        last = None
        for name, module in backbone.named_modules():
            if isinstance(module, nn.Linear):
                last = name
        if last is None:
            return None
        parent, _, attribute = last.rpartition(".")
        setattr(backbone.get_submodule(parent), attribute, nn.Identity())
        return last


class _Timm:
    """timm's models; a weight name is a pretrained tag (``resnet18.a1_in1k``: ``"a1_in1k"``)."""

    name = "timm"

    def __init__(self):
        self.timm = _import("timm")

    def model_names(self):
        return self.timm.list_models()

    def weight_names(self, model):
        return ["DEFAULT"] + [name.split(".", 1)[1] for name in self.timm.list_pretrained(f"{model}.*")]

    def _full_name(self, model, weights):
        return model if weights in (None, "DEFAULT") else f"{model}.{weights}"

    def create(self, model, weights):
        return self.timm.create_model(self._full_name(model, weights), pretrained=weights is not None)

    def preprocessing(self, model, weights):
        cfg = self.timm.create_model(self._full_name(model, weights), pretrained=False).pretrained_cfg
        return (
            tuple(cfg.get("mean", IMAGENET_MEAN)),
            tuple(cfg.get("std", IMAGENET_STD)),
            int(cfg.get("input_size", (3, DEFAULT_IMAGE_SIZE))[-1]),
            bool(cfg.get("fixed_input_size", False)),
        )

    def remove_classifier(self, backbone):
        classifier = backbone.pretrained_cfg.get("classifier")
        backbone.reset_classifier(0)
        return classifier[0] if isinstance(classifier, (tuple, list)) else classifier


LIBRARIES = {"torchvision": _Torchvision, "timm": _Timm}


def model_library(source):
    """The wrapper of ``source`` ("torchvision" or "timm"); raises ``ImportError`` naming the extra."""
    return LIBRARIES[source]()


def is_state_dict_path(weights):
    """Whether ``weights`` names a file (a path-like, or a string with a separator or a weights suffix)."""
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (os.sep in weights or "/" in weights or weights.endswith(STATE_DICT_SUFFIXES))


def check_model_name(library, model):
    names = library.model_names()
    if model in names:
        return
    close = difflib.get_close_matches(model, names, n=5, cutoff=0.6)
    hint = f" Close matches: {', '.join(close)}." if close else ""
    raise ValueError(
        f"BackboneEncoder: {library.name} has no model {model!r}.{hint} "
        f"The {len(names)} names are listed by "
        + ("torchvision.models.list_models(module=torchvision.models)." if library.name == "torchvision" else "timm.list_models().")
    )


def check_weight_name(library, model, weights):
    names = library.weight_names(model)
    if weights not in names:
        raise ValueError(
            f"BackboneEncoder: {library.name} has no weights {weights!r} for {model}; its weights are "
            f"{names}. A path to a state dict must exist, or end in one of {STATE_DICT_SUFFIXES}."
        )


def _read_state_dict(path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: torch's errors vary
        raise ValueError(f"BackboneEncoder: weights={str(path)!r} is not a state dict torch can load: {exc}") from exc
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(
            f"BackboneEncoder: weights={str(path)!r} does not hold a state dict (a dict of tensors, as "
            "torch.save(model.state_dict(), path) writes)."
        )
    return state


def _load_state_dict(backbone, state, classifier, model, path):
    """Load ``state`` into the backbone whose classifier was removed; a wrong architecture is a ValueError."""
    if classifier:
        # The classifier was replaced (its weights are for the original classes, whatever their number).
        state = {k: v for k, v in state.items() if not k.startswith(classifier + ".")}
    where = f"weights={str(path)!r} do not fit {model}"
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes that differ
        raise ValueError(f"BackboneEncoder: {where} (wrong architecture?): {str(exc).strip()}") from exc
    if missing or unexpected:
        detail = "; ".join(
            f"{len(keys)} {what} keys, e.g. {keys[:3]}" for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys
        )
        raise ValueError(f"BackboneEncoder: {where} (wrong architecture?): {detail}.")


def load_backbone(source, model, weights, load_weights=True):
    """The backbone without its classifier, its preprocessing, and whether weights were loaded.

    ``weights``: None, a weight name of the library (downloaded on first
    use, into torch's or Hugging Face's cache), or the path of a state
    dict. ``load_weights=False`` builds the architecture only (weights that
    will be overwritten, as by ``load_weights``), with the same
    preprocessing. Returns ``(backbone, (mean, std, size, fixed_size))``.
    """
    library = model_library(source)
    check_model_name(library, model)
    path = weights if is_state_dict_path(weights) else None
    named = None if path is not None else weights
    if path is not None and load_weights and not os.path.isfile(path):
        raise ValueError(f"BackboneEncoder: weights={str(path)!r} is no file: give the path of a state dict.")
    if named is not None:
        check_weight_name(library, model, named)
    try:
        backbone = library.create(model, named if load_weights else None)
    except (OSError, RuntimeError) as exc:
        if named is None or not load_weights:
            raise
        raise OSError(
            f"BackboneEncoder: could not download {library.name}'s weights {named!r} for {model} ({exc}). "
            "On a machine without internet, save them where they can be downloaded "
            "(torch.save(model.state_dict(), path)) and pass weights=path."
        ) from exc
    preprocessing = library.preprocessing(model, named)
    classifier = library.remove_classifier(backbone)
    if path is not None and load_weights:
        _load_state_dict(backbone, _read_state_dict(path), classifier, model, path)
    return backbone, preprocessing


def expected_channels(backbone):
    """Input channels of the backbone's first convolution (3 when it has none)."""
    first = next((m for m in backbone.modules() if isinstance(m, nn.Conv2d)), None)
    return 3 if first is None else first.in_channels


def _n_weights(module):
    return sum(p.numel() for p in module.parameters())


def _weighted_children(module, prefix=""):
    return [(prefix + name, child) for name, child in module.named_children() if _n_weights(child)]


def blocks(backbone):
    """Names of the backbone's blocks, in the order they run, for ``trainable=N``.

    Found from the top: the layers with weights, where a layer holding
    most of its level's weights is replaced by its own layers when it has
    at least as many (ResNet: conv1, bn1, layer1, ..., layer4;
    EfficientNet: the stages of ``features``; a ViT: its patch embedding,
    encoder layers and final norm).
    """
    found = []

    def descend(children):
        total = sum(_n_weights(child) for _, child in children)
        for name, child in children:
            inner = _weighted_children(child, name + ".")
            if 2 * _n_weights(child) > total and len(inner) >= len(children):
                descend(inner)
            else:
                found.append(name)

    descend(_weighted_children(backbone))
    return found


class InputAdapter(nn.Module):
    """Flat rows to the images a backbone expects: shape, channels, value range and size.

    Rows of ``input_shape`` ``(C, H, W)`` become images; grey images
    (``C == 1``) are repeated to ``channels``; values are mapped from
    ``value_range`` to [0, 1] and normalised with ``mean`` and ``std``
    (one affine map per channel); images are resized (bilinear) to
    ``size`` unless they have it.
    """

    def __init__(self, input_shape, channels, size, mean, std, value_range):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.channels = int(channels)
        self.size = tuple(int(s) for s in size)
        low, high = (float(v) for v in value_range)
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        # (x - low) / (high - low) is [0, 1]; then (. - mean) / std.
        self.register_buffer("shift", low + mean * (high - low), persistent=False)
        self.register_buffer("scale", std * (high - low), persistent=False)

    def forward(self, x):
        # x.shape[0], not len(x): stays symbolic, so ONNX export keeps a dynamic batch axis.
        x = x.reshape(x.shape[0], *self.input_shape)
        if self.input_shape[0] != self.channels:
            x = x.expand(-1, self.channels, -1, -1)
        x = (x - self.shift) / self.scale
        if tuple(self.input_shape[1:]) != self.size:
            shrink = self.size[0] < self.input_shape[1] or self.size[1] < self.input_shape[2]
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=shrink)
        return x

    def extra_repr(self):
        return f"input_shape={self.input_shape}, channels={self.channels}, size={self.size}"


class BackboneModule(nn.Module):
    """Input adapter, backbone and projection head; the backbone trained in part, or not at all.

    ``trainable_blocks`` are the names (in ``backbone``) of the blocks that
    train; None trains the whole backbone. The rest of the backbone is
    frozen: ``requires_grad=False``, and in eval mode whatever mode the
    module is put in, so its batch-norm statistics and dropout do not
    change in training. :meth:`optimizer_param_groups` gives the
    trainable backbone parameters ``backbone_lr_factor`` times the
    learning rate.
    """

    def __init__(self, adapter, backbone, head, trainable_blocks=None, backbone_lr_factor=1.0):
        super().__init__()
        self.adapter = adapter
        self.backbone = backbone
        self.head = head
        self.trainable_blocks = None if trainable_blocks is None else tuple(trainable_blocks)
        self.backbone_lr_factor = float(backbone_lr_factor)
        if self.trainable_blocks is not None:
            backbone.requires_grad_(False)
            for module in self._trainable_modules():
                module.requires_grad_(True)
        self.train(self.training)

    def _trainable_modules(self):
        return [self.backbone.get_submodule(name) for name in self.trainable_blocks]

    def train(self, mode=True):
        super().train(mode)
        if mode and self.trainable_blocks is not None:
            self.backbone.eval()
            for module in self._trainable_modules():
                module.train()
        return self

    def forward(self, x):
        return self.head(self.backbone(self.adapter(x)).flatten(1))

    def optimizer_param_groups(self, lr):
        """skorch ``optimizer__param_groups``: the backbone's trainable parameters at ``backbone_lr_factor * lr``."""
        if self.backbone_lr_factor == 1.0:
            return []
        return [("backbone.*", {"lr": self.backbone_lr_factor * lr})]

    def extra_repr(self):
        return f"trainable_blocks={self.trainable_blocks}, backbone_lr_factor={self.backbone_lr_factor}"
