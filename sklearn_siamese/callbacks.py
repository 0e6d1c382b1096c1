"""Public skorch callbacks of the package.

:class:`TimeBudget` is what the estimators' ``max_time`` parameter adds; it
also works in any skorch ``NeuralNet`` (``callbacks=[TimeBudget(600)]``).
"""

import time
from numbers import Real

from skorch.callbacks import Callback
from sklearn.utils._param_validation import Interval, validate_parameter_constraints


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
