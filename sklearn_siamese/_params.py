"""The parameters both estimators share: their constraints, and which of them only say how to train.

``PARAMETER_CONSTRAINTS`` is scikit-learn's ``_parameter_constraints`` of
:class:`~sklearn_siamese._base._BaseSiamese` (the subclasses add theirs);
``TRAINING_ONLY_PARAMS`` is read by
:func:`~sklearn_siamese.persistence.load_weights`.
"""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._training.net import OPTIMIZERS
from ._training.precision import PRECISIONS
from .distances import DISTANCES, Distance
from .encoders import ENCODERS, EncoderSpec
from .mining import MINERS, Miner

PARAMETER_CONSTRAINTS = {
    "encoder": [StrOptions(set(ENCODERS) | {"auto"}), EncoderSpec, nn.Module, callable],
    "image_shape": [StrOptions({"auto"}), tuple, list, None],
    "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
    "margin": [Interval(Real, 0, None, closed="neither")],
    "mining": [StrOptions(set(MINERS)), Miner],
    "distance": [StrOptions(set(DISTANCES)), Distance],
    "normalize": ["boolean"],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "samples_per_epoch": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "max_time": [Interval(Real, 0, None, closed="neither"), None],
    "rotation_classes": ["boolean"],
    "batch_size": [Interval(Integral, 4, None, closed="left")],
    "samples_per_class": [Interval(Integral, 2, None, closed="left")],
    "sampler": [StrOptions({"auto", "pk", "random_pairs"})],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "lr_schedule": [StrOptions({"constant", "cosine"})],
    "optimizer": [StrOptions(set(OPTIMIZERS)), callable],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left"), StrOptions({"auto"}), None],
    "early_stopping": ["boolean"],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "refit": ["boolean"],
    "augmentation": [StrOptions({"affine", "auto"}), callable, None],
    "instance_weight": [Interval(Real, 0, None, closed="left")],
    "precision": [StrOptions(set(PRECISIONS))],
    "device": [str, torch.device],
    "accelerator": [None, object],
    "callbacks": [list, None],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "warm_start": ["boolean"],
}

# Parameters that do not change what a fitted model computes: where and how
# it runs, and how long and on what it was trained (optimizer__* arguments
# too). load_weights accepts them different from the saved model's; a new
# parameter belongs here or not, which tests/test_persistence.py asks.
TRAINING_ONLY_PARAMS = frozenset({
    "device", "precision", "verbose", "callbacks", "accelerator", "warm_start",
    "max_epochs", "max_time", "samples_per_epoch", "batch_size", "samples_per_class", "sampler",
    "lr", "lr_schedule", "optimizer", "weight_decay", "validation_fraction", "early_stopping",
    "n_iter_no_change", "refit", "augmentation", "rotation_classes", "instance_weight", "random_state",
})  # fmt: skip
