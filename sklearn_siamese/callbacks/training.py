"""Callbacks that control training: its length, its failures and its fallback state.

:class:`TimeBudget` is what the estimators' ``max_time`` parameter adds; it
also works in any skorch ``NeuralNet`` (``callbacks=[TimeBudget(600)]``).
:class:`EpochSnapshot` and :class:`NonFiniteLossGuard` are in every
estimator's net.
"""

import copy
import math
import time
from numbers import Real

import torch
from skorch.callbacks import Callback
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

__all__ = ["TimeBudget", "EpochSnapshot", "NonFiniteLossGuard"]


def _now():
    # A module function, so tests can replace the clock.
    return time.perf_counter()


class TimeBudget(Callback):
    """End training when a wall-clock budget would be exceeded.

    Training stops at an epoch boundary: after an epoch, when the next
    epoch (expected to last as long as the one just finished) would end
    past the budget. So a fit usually ends a little before ``seconds`` and
    the model is that of the last finished epoch. Should an epoch run
    longer than expected and cross the budget, training stops at the next
    optimiser step and the net goes back to the last finished epoch (the
    estimators' ``EpochSnapshot`` does that; their ``interrupted_`` is then
    True). The first epoch always runs to its end, so a budget shorter than
    one epoch still gives a trained model.

    The history row of the epoch where the budget ended training gets
    ``time_budget_reached=True``; every row gets ``elapsed_s``, the
    seconds since training began.

    Parameters
    ----------
    seconds : float
        The budget, in seconds of wall-clock time from the start of
        training (each call of ``fit`` or ``partial_fit`` starts afresh).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese import SiameseEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> emb = SiameseEmbedder(image_shape=(8, 8), max_epochs=1000, max_time=2, validation_fraction=None, random_state=0)
    >>> emb = emb.fit(X / 16, y)
    >>> emb.n_epochs_ < 1000 and emb.history_[-1, "time_budget_reached"]
    True
    """

    _parameter_constraints = {"seconds": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, seconds):
        self.seconds = seconds

    def initialize(self):
        validate_parameter_constraints(self._parameter_constraints, {"seconds": self.seconds}, type(self).__name__)
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        self.start_ = self.last_epoch_end_ = _now()
        self.epochs_done_ = 0

    def _elapsed(self):
        return _now() - self.start_

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.epochs_done_ and self._elapsed() > self.seconds:
            net.history.record("time_budget_reached", True)
            # skorch ends fit quietly on KeyboardInterrupt, as EarlyStopping
            # stops it; mid-epoch, EpochSnapshot restores the last finished epoch.
            raise KeyboardInterrupt

    def on_epoch_end(self, net, **kwargs):
        now = _now()
        epoch_s, self.last_epoch_end_ = now - self.last_epoch_end_, now
        self.epochs_done_ += 1
        net.history.record("elapsed_s", now - self.start_)
        if now - self.start_ + epoch_s > self.seconds:
            net.history.record("time_budget_reached", True)
            raise KeyboardInterrupt


class NonFiniteLossGuard(Callback):
    """Stop training with a clear error when the loss is NaN, infinite or diverging.

    Divergence: a training batch loss more than ``divergence_factor`` times
    the first one. Bounded losses (BCE on logits) do not become NaN when
    the weights explode; they grow by orders of magnitude instead.

    Parameters
    ----------
    divergence_factor : float, default=1e6
        How many times its first value the training loss may grow.
    """

    def __init__(self, divergence_factor=1e6):
        self.divergence_factor = divergence_factor

    def on_train_begin(self, net, **kwargs):
        self.first_loss_ = None

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if loss is None or not training:
            return
        value = loss.item()
        epoch = len(net.history)
        if not math.isfinite(value):
            raise FloatingPointError(
                f"The training loss became {value} in epoch {epoch}. "
                f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )
        if self.first_loss_ is None:
            self.first_loss_ = max(value, 1e-3)
        elif value > self.divergence_factor * self.first_loss_:
            raise FloatingPointError(
                f"The training loss became {value:.3g} in epoch {epoch}, over "
                f"{self.divergence_factor:.0e} times its first value ({self.first_loss_:.3g}): "
                f"training diverged. The learning rate (lr={net.lr}) is probably too high; try a lower lr."
            )

    def on_epoch_end(self, net, **kwargs):
        # A finite last loss does not prove the last optimiser step kept the weights finite.
        for name, param in net.get_all_learnable_params():
            if not torch.isfinite(param).all():
                raise FloatingPointError(
                    f"The encoder weight {name} became NaN or infinite in epoch {len(net.history)}. "
                    f"The learning rate (lr={net.lr}) is probably too high; try a lower lr."
                )


def _train_rng(net):
    """The numpy Generator of the training sampler, if any (``SubsetSampler.sampler.rng``)."""
    sampler = getattr(net, "iterator_train__sampler", None)
    return getattr(getattr(sampler, "sampler", sampler), "rng", None)


def _torch_rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    # device is None when an accelerator places the module: then use CUDA's state if any.
    on_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if on_cuda:
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


class EpochSnapshot(Callback):
    """Keep the training state of the last finished epoch; fall back to it on interruption.

    At the start of training and at the end of every epoch it copies the
    module and optimiser state dicts and the random states (torch and the
    training sampler's numpy Generator). skorch ends ``fit`` quietly on
    ``KeyboardInterrupt``; when that happens in the middle of an epoch, this
    callback restores the copied state in ``on_train_end``, so the net holds
    the weights of the last finished epoch, and marks the unfinished epoch's
    history row with ``interrupted=True``. The saved random states also let
    training continue exactly where the last finished epoch left it (the
    estimators' ``warm_start``). It must come before other callbacks so that
    an epoch counts as finished before any later ``on_epoch_end`` raises.
    """

    def initialize(self):
        self.in_epoch_ = False
        self.interrupted_ = False
        self.state_ = None
        return self

    def _snapshot(self, net):
        rng = _train_rng(net)
        self.state_ = {
            "module": copy.deepcopy(net.module_.state_dict()),
            "criterion": copy.deepcopy(net.criterion_.state_dict()),
            "optimizer": copy.deepcopy(net.optimizer_.state_dict()),
            "torch_rng": _torch_rng_state(net.device),
            "sampler_rng": copy.deepcopy(rng.bit_generator.state) if rng is not None else None,
        }

    def on_train_begin(self, net, **kwargs):
        # The state now is where this run starts (a warm start has restored
        # the random states already), so it is the fallback for its first epoch.
        self.in_epoch_ = False
        self.interrupted_ = False
        self._snapshot(net)

    def compact(self):
        """After training: the net holds the snapshot's weights; keep only the random states."""
        if self.state_ is not None:
            self.state_ = {k: self.state_[k] for k in ("torch_rng", "sampler_rng")}

    def on_epoch_begin(self, net, **kwargs):
        self.in_epoch_ = True

    def on_epoch_end(self, net, **kwargs):
        self.in_epoch_ = False
        self._snapshot(net)

    def on_train_end(self, net, **kwargs):
        if not self.in_epoch_:
            return
        # Interrupted inside an epoch: back to the end of the last finished one.
        self.in_epoch_ = False
        self.interrupted_ = True
        state = self.state_
        net.module_.load_state_dict(state["module"])
        net.criterion_.load_state_dict(state["criterion"])
        net.optimizer_.load_state_dict(copy.deepcopy(state["optimizer"]))
        rng = _train_rng(net)
        if rng is not None and state["sampler_rng"] is not None:
            rng.bit_generator.state = copy.deepcopy(state["sampler_rng"])
        if len(net.history):
            net.history.record("interrupted", True)
