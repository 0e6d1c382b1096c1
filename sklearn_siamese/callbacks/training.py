"""Callbacks that control training: its length, its failures and its fallback state.

:class:`TimeBudget` is what the estimators' ``max_time`` parameter adds; it
also works in any skorch ``NeuralNet`` (``callbacks=[TimeBudget(600)]``).
:class:`EpochSnapshot` and :class:`NonFiniteLossGuard` are in every
estimator's net.
"""

import copy
import math
import time
from numbers import Integral, Real

import torch
from skorch.callbacks import Callback
from sklearn.utils._param_validation import Interval, validate_parameter_constraints

__all__ = ["TimeBudget", "RemainingTime", "CosineLR", "EpochSnapshot", "NonFiniteLossGuard"]


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


class RemainingTime(Callback):
    """Record the expected seconds of training left after each epoch (``remaining_s``).

    After each epoch the history row gets ``remaining_s``: the mean
    duration of this run's epochs so far (skorch's ``dur``) times the epochs left before
    ``max_epochs``, or the seconds left of the time budget when that is
    sooner. With ``verbose=1`` the estimators print it in each epoch's row,
    so a long fit says how long it will still take. It is an upper bound
    where early stopping or a convergence rule may end training sooner.

    Parameters
    ----------
    max_epochs : int, default=None
        The epoch ceiling of the whole run, finished epochs of earlier runs
        included (``warm_start``); None reads the net's ``max_epochs``.
    seconds : float, default=None
        The wall-clock budget of this run (``max_time``), None for none.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese import SiameseEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> emb = SiameseEmbedder(encoder="mlp", max_epochs=3, samples_per_epoch=256, random_state=0).fit(X / 16, y)
    >>> emb.history_[-1, "remaining_s"]
    0.0
    """

    _parameter_constraints = {
        "max_epochs": [Interval(Integral, 1, None, closed="left"), None],
        "seconds": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, max_epochs=None, seconds=None):
        self.max_epochs = max_epochs
        self.seconds = seconds

    def initialize(self):
        params = {"max_epochs": self.max_epochs, "seconds": self.seconds}
        validate_parameter_constraints(self._parameter_constraints, params, type(self).__name__)
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        self.epochs_at_start_ = len(net.history)

    def on_epoch_end(self, net, **kwargs):
        ceiling = self.max_epochs if self.max_epochs is not None else net.max_epochs
        # Each row's "dur" is skorch's EpochTimer's, recorded before this runs.
        durations = [row.get("dur", 0.0) for row in net.history[self.epochs_at_start_:]]
        if ceiling is None or not durations:
            return
        elapsed = float(sum(durations))
        remaining = elapsed / len(durations) * max(ceiling - len(net.history), 0)
        if self.seconds is not None:
            remaining = min(remaining, max(self.seconds - elapsed, 0.0))
        net.history.record("remaining_s", round(remaining, 1))


class CosineLR(Callback):
    """Anneal the learning rate to zero along a half cosine over the training budget.

    Before every training step each optimiser parameter group gets
    ``lr = initial_lr * (1 + cos(pi * progress)) / 2``, where ``progress``
    is the fraction of the budget spent: the larger of ``steps done /
    max_steps`` and ``seconds elapsed / seconds`` (the first budget to run
    out ends the decay; a budget left as None does not count). So a
    training run of fixed length ends with a learning rate near zero
    whether the length is set in steps or in seconds, which a step-based
    schedule cannot do for a time budget. Each group's starting rate is
    kept in the group as ``"initial_lr"`` (torch's convention, saved with
    the optimiser's state) and put back in ``"lr"`` when training ends.

    Training that continues a net (skorch's ``partial_fit``, the
    estimators' ``warm_start``) counts the steps of the finished epochs in
    its history as done, so a resumed run goes on along the same curve;
    the seconds count afresh, as :class:`TimeBudget`'s do.

    Parameters
    ----------
    max_steps : int, default=None
        Optimiser steps of the whole run (epochs times batches per epoch).
    seconds : float, default=None
        Wall-clock budget of the run, as given to :class:`TimeBudget`.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_siamese import SiameseEmbedder
    >>> X, y = load_digits(return_X_y=True)
    >>> emb = SiameseEmbedder(image_shape=None, max_epochs=2, samples_per_epoch=256, lr_schedule="cosine", random_state=0)
    >>> emb = emb.fit(X / 16, y)
    >>> [round(lr, 6) for lr in emb.history_[:, "lr"]]
    [0.001, 0.0005]
    """

    _parameter_constraints = {
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "seconds": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, max_steps=None, seconds=None):
        self.max_steps = max_steps
        self.seconds = seconds

    def initialize(self):
        validate_parameter_constraints(
            self._parameter_constraints, {"max_steps": self.max_steps, "seconds": self.seconds}, type(self).__name__
        )
        return super().initialize()

    def progress(self):
        """The fraction of the budget spent, in [0, 1]."""
        spent = 0.0
        if self.max_steps is not None:
            spent = self.steps_ / self.max_steps
        if self.seconds is not None:
            spent = max(spent, (_now() - self.start_) / self.seconds)
        return min(1.0, spent)

    def _factor(self):
        return 0.5 * (1.0 + math.cos(math.pi * self.progress()))

    def on_train_begin(self, net, **kwargs):
        self.start_ = _now()
        # The training steps of the finished epochs a continued net has run.
        self.steps_ = sum(
            sum("train_loss" in batch for batch in row.get("batches", ()))
            for row in net.history
            if not row.get("interrupted", False)
        )
        for group in net.optimizer_.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def on_epoch_begin(self, net, **kwargs):
        # The net's rate (``lr``; groups with rates of their own are scaled
        # alike) as the epoch starts, in the column skorch's LRScheduler writes.
        net.history.record("lr", self._factor() * net.lr)

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        factor = self._factor()
        for group in net.optimizer_.param_groups:
            group["lr"] = factor * group["initial_lr"]
        self.steps_ += 1

    def on_train_end(self, net, **kwargs):
        # The optimiser as configured, for a later partial_fit or warm start.
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"]


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

    def restore(self, net):
        """Put ``net`` back at the end of the last finished epoch, as an interruption inside an epoch does.

        For code that stops training in its own way (the estimators'
        ``warm_start`` when ``partial_fit`` raises) and wants the same
        outcome as an interruption: the snapshot's weights, optimiser and
        random states, and the unfinished epoch's history row marked.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net this callback belongs to.
        """
        self.in_epoch_ = True
        self.on_train_end(net)

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
