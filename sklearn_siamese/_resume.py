"""Training on from where a fit stopped, and rebuilding a fitted net from saved weights.

``warm_start=True`` continues the skorch net from its last finished epoch
(:class:`~sklearn_siamese.callbacks.EpochSnapshot` holds the random states);
:func:`~sklearn_siamese.persistence.load_weights` and skops loading rebuild
``net_`` from the parameters and the saved weights (:meth:`ResumeMixin.restore_net`).
pickle keeps the whole net, skops the portable state (:mod:`sklearn_siamese._portable`).

The protocol between the estimators and their persistence: the persistence
code (:func:`sklearn_siamese._portable.restore_net`, which
:func:`~sklearn_siamese.persistence.load_weights` and ``__setstate__`` use)
sets the saved fitted attributes and calls one method of the estimator,
``_restore_net(device, module_state, criterion_state, history)``, which
rebuilds ``net_`` and ``augment_`` from the parameters. Callbacks call no
method of the estimator: the net keeps its fitted attributes current
(:class:`sklearn_siamese._assembly.RecordTraining`).
"""

import copyreg

import numpy as np
import torch
from skorch import NeuralNet
from skorch.helper import predefined_split

from ._assembly import give_estimator_to
from ._portable import from_portable_state, restore_net, to_portable_state
from ._training.allocator import while_training_on
from ._training.checks import validate_input
from ._training.data import training_dataset
from ._building import build_module, make_augment
from ._training.net import EPOCH_SNAPSHOT, LR_SCHEDULE, REMAINING_TIME, finished_epochs, forked_torch_rng, set_torch_rng_state


class ResumeMixin:
    """``warm_start``, restoring from saved weights, and the two pickled states."""

    def _continue_fit(self, X, y):
        """``warm_start=True``: train on from the last finished epoch up to ``max_epochs`` epochs."""
        snapshot = dict(getattr(self.net_, "callbacks_", [])).get(EPOCH_SNAPSHOT)
        if snapshot is None or snapshot.state_ is None or not hasattr(self, "_fit_y_codes"):
            raise ValueError(
                "warm_start=True cannot continue this estimator: it holds no training state "
                "(it was loaded with load_weights, or fitted by an older version). "
                "Set warm_start=False to train afresh."
            )
        X, y = validate_input(self, X, y, y_numeric=False, reset=False)
        classes = np.unique(y)
        if not np.array_equal(classes, self.classes_):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit, "
                f"but y has classes {classes[:10].tolist()} and the estimator was fitted on "
                f"{self.classes_[:10].tolist()}. Set warm_start=False to train afresh."
            )
        y_codes = np.searchsorted(self.classes_, y)
        if not np.array_equal(y_codes, self._fit_y_codes):
            raise ValueError(
                "With warm_start=True, fit continues training on the data of the first fit: "
                f"X and y must be the same {len(self._fit_y_codes)} samples in the same order "
                f"(got {len(y_codes)}). Set warm_start=False to train afresh."
            )
        net = self.net_
        while len(net.history) and net.history[-1].get("interrupted", False):
            net.history.pop()
        done = finished_epochs(net.history)
        if self.max_epochs < done:
            raise ValueError(
                f"max_epochs={self.max_epochs} must be >= the {done} epochs already run "
                "when warm_start=True (max_epochs counts all epochs, as n_estimators "
                "does in GradientBoostingClassifier)."
            )
        dataset, _ = training_dataset(X, y_codes, self._fit_split[0], getattr(self, "_fit_rotation_shape", None))
        schedule = dict(net.callbacks_).get(LR_SCHEDULE)
        if schedule is not None:  # max_epochs may have grown since the first fit
            schedule.max_steps = self.max_epochs * len(net.iterator_train__sampler)
        remaining = dict(net.callbacks_).get(REMAINING_TIME)
        if remaining is not None:
            remaining.max_epochs = self.max_epochs
        if net.iterator_valid__sampler is not None:
            net.train_split = predefined_split(dataset)
        give_estimator_to(net.callbacks_, self)
        device = torch.device(net.device) if net.device is not None else self._training_device()
        with forked_torch_rng(device):
            set_torch_rng_state(snapshot.state_["torch_rng"])
            try:
                with while_training_on(device):
                    net.partial_fit(dataset, y=None, epochs=self.max_epochs - done)
            except BaseException:
                # Keep the model of the last finished epoch, as an interruption does.
                snapshot.restore(net)
                self._record_training(net, done=True)
                raise
        self._record_training(net, done=True)
        self._score_against_input(X, y_codes)
        return (X, y_codes, *self._fit_split)

    def _restore_net(self, device, module_state, criterion_state, history):
        """Rebuild ``net_`` (and ``augment_``) when the other fitted attributes are set (``load_weights``).

        The module and the augmentation are built from the parameters, and
        the module is given the saved weights; the net can predict but holds
        no training state. Raises ``RuntimeError`` when the weights do not
        fit the module.
        """
        X_probe = np.zeros((2, self.n_features_in_), dtype=np.float32)
        image_shape = getattr(self, "image_shape_", None)
        module, self.embedding_dim_ = build_module(
            self.encoder, self.embedding_dim, self._embedding_normalize(), X_probe, device, image_shape, for_loading=True
        )
        # The training augmentation, as fit built it (a weights file does not store code).
        self.augment_ = make_augment(self.augmentation, self.encoder, X_probe, device, image_shape)
        module.load_state_dict(module_state)
        # The layout fit gave it (channels_last for a built-in conv net): the
        # same kernels, so the same embeddings as the saved model's.
        self._prepare_module(module, self.precision_)
        net = NeuralNet(module, criterion=self._make_criterion(self.embedding_dim_), device=device)
        net.initialize()
        net.criterion_.load_state_dict(criterion_state)
        net.history = history
        self._record_training(net, done=True)
        return net


    # ---------------------------------------------------------- persistence
    # Two states. pickle, joblib and copy keep everything (__reduce_ex__), the
    # skorch net with the optimiser and random states that warm_start and
    # EstimatorCheckpoint continue from; unpickling runs code anyway.
    # __getstate__, which skops stores, is the portable state (_portable):
    # weights as arrays, no code, the net rebuilt by __setstate__.
    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (type(self),), super().__getstate__()

    def __getstate__(self):
        return to_portable_state(super().__getstate__())

    def __setstate__(self, state):
        state, weights = from_portable_state(state, type(self).__name__)
        super().__setstate__(state)
        if weights is not None:
            restore_net(self, weights, f"this saved {type(self).__name__}")

