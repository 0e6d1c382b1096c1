"""The skorch net an estimator trains, and the callbacks it starts with.

As skorch's ``NeuralNet.get_default_callbacks`` says which callbacks a net
starts with, :func:`default_callbacks` does for the estimators' nets;
:func:`assemble_net` builds the net from the estimator's parameters and
what the fit steps computed (the encoder, the loss, the training data),
passed in rather than read from the estimator.
"""

import copy

from skorch.callbacks import EarlyStopping, ProgressBar
from skorch.helper import predefined_split

from ._training.net import (
    EARLY_STOPPING,
    EPOCH_SNAPSHOT,
    LR_SCHEDULE,
    NONFINITE_LOSS,
    OPTIMIZER_PREFIX,
    OPTIMIZERS,
    PROGRESS_BAR,
    RECORD_TRAINING,
    REMAINING_TIME,
    TIME_BUDGET,
    VALID_PRECISION_AT_1,
    BatchIterator,
    SiameseNet,
    optimizer_arguments,
)
from .callbacks import (
    CosineLR,
    EpochSnapshot,
    EstimatorCallback,
    NonFiniteLossGuard,
    RemainingTime,
    TimeBudget,
    ValidationPrecisionAt1,
)


class OptimizerArgumentsMixin:
    """``optimizer__<name>`` arguments as parameters of the estimator.

    skorch's convention: ``optimizer__momentum=0.9`` is passed to the
    optimizer as ``momentum=0.9``. The estimators' ``__init__`` take them as
    ``**optimizer__kwargs`` and store them as attributes of those names;
    ``get_params``/``set_params`` list and set them beside the named
    parameters, so ``clone`` and ``GridSearchCV`` handle them like any other.
    """

    def _set_optimizer_arguments(self, arguments):
        for key, value in arguments.items():
            if not key.startswith(OPTIMIZER_PREFIX) or key == OPTIMIZER_PREFIX:
                raise TypeError(
                    f"{type(self).__name__}.__init__() got an unexpected keyword argument {key!r} "
                    f"(extra keyword arguments must be optimizer arguments, named {OPTIMIZER_PREFIX}<name>)."
                )
            setattr(self, key, value)

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._optimizer_arguments())
        return params

    def set_params(self, **params):
        for key in [k for k in params if k.startswith(OPTIMIZER_PREFIX) and k != OPTIMIZER_PREFIX]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    def _optimizer_arguments(self):
        return {k: v for k, v in vars(self).items() if k.startswith(OPTIMIZER_PREFIX)}


# The instance term's second view is made of this fraction of each batch's
# rows (the first ones; the sampler shuffles). All of them: half of them was
# measured as a lever for issue 40 and not kept. On the demo's task (digits,
# (64, 128) channels, instance_weight=1.0, 3 seeds) half gave 0.787 unseen
# 1-shot against 0.780 in 0.78 of the time, but on Yale faces 0.760 against
# 0.824 and on MNIST-5k 0.813 against 0.861 (the 0.5 default with all rows).
INSTANCE_FRACTION = 1.0


def assemble_net(estimator, module, criterion, augment, data, device, max_epochs=None, max_time=None):
    """The skorch net over the whole dataset; the samplers pick the train or valid rows.

    ``max_epochs`` and ``max_time`` replace the estimator's (the second run
    of ``refit``).
    """
    optimizer = OPTIMIZERS.get(estimator.optimizer, estimator.optimizer)
    net_kwargs = optimizer_arguments(estimator._optimizer_arguments(), optimizer)
    if optimizer in OPTIMIZERS.values() and OPTIMIZER_PREFIX + "foreach" not in net_kwargs:
        # torch steps each parameter in a Python loop on the CPU unless asked
        # for its multi-tensor kernels, which compute the same update: on
        # small encoders that loop was a quarter of a training step.
        net_kwargs[OPTIMIZER_PREFIX + "foreach"] = True
    # Learning rates of their own: a backbone's (the module's), a verifier head's (the criterion's).
    groups = [
        group
        for part in (module, criterion)
        if hasattr(part, "optimizer_param_groups")
        for group in part.optimizer_param_groups(estimator.lr)
    ]
    if groups:
        net_kwargs["optimizer__param_groups"] = groups
    net_class, net_device = SiameseNet, device
    instance_weight = estimator._training_instance_weight()
    max_epochs = estimator.max_epochs if max_epochs is None else max_epochs
    max_time = estimator.max_time if max_time is None else max_time
    accelerator = estimator.accelerator
    if accelerator is not None:
        from ._training.accelerate import AcceleratedNet as net_class

        net_kwargs["accelerator"] = accelerator
        if getattr(accelerator, "device_placement", False):
            net_device = None  # the accelerator places the module
    callbacks = default_callbacks(estimator, data.monitor_rows, max_time, max_epochs * len(data.train_sampler))
    user = user_callbacks(estimator)
    if any(isinstance(cb, EstimatorCallback) for _, cb in user):
        # They may save or read the estimator at an epoch's end: its fitted attributes must be current.
        callbacks.append((RECORD_TRAINING, RecordTraining().set_estimator(estimator)))
    return net_class(
        module,
        criterion=criterion,
        optimizer=optimizer,
        optimizer__weight_decay=estimator.weight_decay,
        lr=estimator.lr,
        max_epochs=max_epochs,
        batch_size=estimator.batch_size,
        iterator_train=BatchIterator,
        iterator_train__sampler=data.train_sampler,
        iterator_train__device=device,
        iterator_train__augment=augment,
        iterator_train__views=1 + INSTANCE_FRACTION if instance_weight else 1,
        instance_weight=instance_weight,
        instance_fraction=INSTANCE_FRACTION,
        iterator_valid=BatchIterator,
        iterator_valid__sampler=data.valid_sampler,
        iterator_valid__device=device,
        train_split=predefined_split(data.dataset) if data.valid_sampler is not None else None,
        callbacks=callbacks + user,
        device=net_device,
        verbose=int(bool(estimator.verbose)),
        **net_kwargs,
    )


def default_callbacks(estimator, monitor_rows, max_time, max_steps):
    """The callbacks every net starts with, as skorch's ``get_default_callbacks``.

    ``monitor_rows`` are the validation rows scored each epoch (None: no
    classes held out); ``max_steps`` is the run's optimiser steps, over
    which ``lr_schedule="cosine"`` anneals.
    """
    # The snapshot comes first: an epoch counts as finished before any later
    # on_epoch_end (early stopping, a user callback) may stop training.
    callbacks = [(EPOCH_SNAPSHOT, EpochSnapshot()), (NONFINITE_LOSS, NonFiniteLossGuard())]
    if monitor_rows is not None:
        callbacks.append((VALID_PRECISION_AT_1, ValidationPrecisionAt1(monitor_rows, estimator.distance)))
        if estimator.early_stopping:
            # Stop on how well held-out classes are recognised, not on their
            # pair loss: the loss of unseen classes rises from the first epochs
            # while their nearest-neighbour accuracy still improves.
            stop = EarlyStopping(
                monitor=VALID_PRECISION_AT_1, lower_is_better=False, patience=estimator.n_iter_no_change, load_best=True
            )
            callbacks.append((EARLY_STOPPING, stop))
    if max_time is not None:
        callbacks.append((TIME_BUDGET, TimeBudget(max_time)))
    # The expected time left, in history_ and in verbose's table.
    callbacks.append((REMAINING_TIME, RemainingTime(seconds=max_time)))
    if estimator.lr_schedule == "cosine":
        callbacks.append((LR_SCHEDULE, CosineLR(max_steps, max_time)))
    if estimator.verbose and estimator.verbose > 1:
        callbacks.append((PROGRESS_BAR, ProgressBar()))
    return callbacks


def user_callbacks(estimator):
    """Copies of the ``callbacks`` parameter, named, each :class:`EstimatorCallback` given ``estimator``."""
    user = []
    for i, cb in enumerate(copy.deepcopy(estimator.callbacks or [])):
        user.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
    give_estimator_to(user, estimator)
    return user


def give_estimator_to(callbacks, estimator):
    """Tell each :class:`EstimatorCallback` of ``(name, callback)`` pairs which estimator it serves."""
    for _, cb in callbacks:
        if isinstance(cb, EstimatorCallback):
            cb.set_estimator(estimator)


class RecordTraining(EstimatorCallback):
    """Bring the estimator's fitted attributes (``net_``, ``history_``, ``n_epochs_``, ...) up to date at each epoch's end.

    The net starts with it, after its other default callbacks, when the
    ``callbacks`` parameter holds an :class:`EstimatorCallback`, so that one
    (e.g. :class:`~sklearn_siamese.callbacks.EstimatorCheckpoint`) finds the
    estimator as the finished epoch left it.
    """

    def on_epoch_end(self, net, **kwargs):
        if self.estimator_ is not None:
            self.estimator_._record_training(net)
